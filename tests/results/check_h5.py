"""check_h5.py - nnfi result files read back with h5py (pytest; fixtures in
tests/conftest.py). CTest runs one class of it per test, through nnfi_pytest()
in tests/results/CMakeLists.txt (label `unit`, /usr/bin/python3, which has
Debian's h5py and numpy):

  h5_results_h5py     TestFile: NNFI_H5_DIR/results.h5 (written by
                      test_h5_results) against NNFI_H5_DIR/schema.json and the
                      values of tests/results/h5_test_common.h;
                      NNFI_H5_DIR/big.h5 (its chunk paths) against test_chunks'
                      rule; xarray's view of /trials (skipped without xarray)
  h5_results_inspect  TestInspect: `nnfi inspect` on NNFI_H5_DIR/results.h5:
                      exit codes, table lines, JSON figures recomputed here
  h5_results_kill     TestKill: NNFI_H5_KILL_HELPER dies by SIGKILL with rows
                      buffered; the file it leaves (NNFI_WORK/killed.h5) must
                      hold exactly the checkpointed trials 0-9

The expected values mirror h5_test_common.h: campaign h5test (seed 42), 28
trials, points [0,7) N=1, [7,14) N=10, [14,21) N=100, [21,28) fixed count 2;
faults_max_n 10. In results.h5 trial t is done iff t % 5 != 3.

By hand (after test_h5_results DIR):
  NNFI_BIN=build/src/nnfi NNFI_H5_DIR=DIR NNFI_H5_KILL_HELPER=build/tests/results/h5_kill_helper \
      /usr/bin/python3 -m pytest tests/results/check_h5.py
"""
import json
import math
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

h5py = pytest.importorskip("h5py")
np = pytest.importorskip("numpy")

TRIALS = 28
POINTS = [  # experiment, point, x, first, trials
    (0, 0, 1.0, 0, 7),
    (0, 1, 10.0, 7, 7),
    (0, 2, 100.0, 14, 7),
    (1, 0, 0.0, 21, 7),
]
FAULTS_MAX_N = 10
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def locate(t):
    for e, p, x, first, n in POINTS:
        if first <= t < first + n:
            return e, p, x, t - first
    raise ValueError(t)


def expected_row(t):
    """The row h5_test_row() writes for trial t."""
    e, p, x, k = locate(t)
    return {
        "done": 1,
        "experiment": e,
        "point": p,
        "trial_in_point": k,
        "n_faults": int(x) if e == 0 else 2,
        "accuracy": t / 1000.0,
        "accuracy_drop": 0.75 - t / 1000.0,
        "sdc": t % 3,
        "critical_sdc": t % 2,
        "due_samples": int(t % 4 == 0),
        "due": int(t % 4 == 0),
        "max_abs_err": t * 0.5,
        "mean_abs_err": t * 0.25,
        "status": 1 if t % 7 == 6 else 0,
        "pattern": t % 14,
        "rank": t % 2,
        "device": -1,
        "wall_s": 0.001 * t,
    }


def fnv1a(data):
    h = 1469598103934665603
    for b in data:
        h ^= b
        h = (h * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


def as_str(v):
    return v.decode() if isinstance(v, bytes) else str(v)




def done_results(t):
    """Which trials results.h5 holds."""
    return t % 5 != 3


def done_killed(t):
    """Which trials the killed helper's file holds: its one checkpoint."""
    return t < 10


def check_rows(check, f, done_rule, where):
    """Every /trials column: values of done rows, zeros elsewhere."""
    tr = f["trials"]
    cols = [k for k in tr.keys() if k != "trial"]
    data = {k: tr[k][()] for k in cols}
    for t in range(TRIALS):
        want = expected_row(t) if done_rule(t) else None
        for k in cols:
            got = data[k][t]
            if want is None:
                check(got == 0, f"{where}: trial {t} not done but {k} = {got}")
            elif isinstance(want[k], float):
                check(abs(float(got) - want[k]) < 1e-12, f"{where}: trial {t} {k} = {got}, want {want[k]}")
            else:
                check(int(got) == want[k], f"{where}: trial {t} {k} = {got}, want {want[k]}")


def expected_faults(done_rule):
    out = []
    for t in range(TRIALS):
        if not done_rule(t):
            continue
        n = expected_row(t)["n_faults"]
        if n > FAULTS_MAX_N:
            continue
        out += [(t, i) for i in range(n)]
    return out


def check_faults(check, f, done_rule, where, with_attrs=True):
    want = expected_faults(done_rule)
    if not check("faults" in f, f"{where}: /faults exists"):
        return
    g = f["faults"]
    names = ["trial", "group", "site", "element", "mask", "value", "op", "transient", "scope", "when", "t_first",
             "t_last"]
    check(sorted(g.keys()) == sorted(names), f"{where}: /faults columns {sorted(g.keys())}")
    lens = {k: g[k].shape for k in g.keys()}
    if not check(all(s == (len(want),) for s in lens.values()), f"{where}: /faults lengths {lens}, want {len(want)}"):
        return
    got = sorted((int(t), int(el) - int(t) * 100) for t, el in zip(g["trial"][()], g["element"][()]))
    check(got == sorted(want), f"{where}: /faults (trial, fault) pairs")
    i = (g["element"][()] - g["trial"][()] * 100).astype(np.int64)
    check(np.array_equal(g["mask"][()], (np.uint64(1) << (i % 32).astype(np.uint64))), f"{where}: /faults/mask")
    check(np.array_equal(g["site"][()], (i % 3).astype(np.uint32)), f"{where}: /faults/site")
    check(np.all(g["when"][()] == -1) and g["when"].dtype == np.int64, f"{where}: /faults/when")
    check(np.all(g["t_last"][()] == 0xFFFFFFFF) and g["t_last"].dtype == np.uint32, f"{where}: /faults/t_last")
    check(np.all(g["op"][()] == 0), f"{where}: /faults/op")
    if with_attrs:
        check(as_str(g["op"].attrs["flag_meanings"]) == "flip stuck0 stuck1 random set", f"{where}: /faults/op meanings")


sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "analysis"))
from nnfi_analysis import journal as njournal  # noqa: E402  (the checkpoint journal, read in Python)


class _Col:
    """An array standing in for an h5py dataset (shape, dtype, [()], attrs)."""

    def __init__(self, a, attrs):
        self.a, self.shape, self.dtype, self.attrs = a, a.shape, a.dtype, attrs

    def __getitem__(self, k):
        return self.a[k]


class JournalView:
    """A result file as its readers see it: /trials and /faults with the
    checkpoint journal (PATH.journal) laid over the file's rows."""

    def __init__(self, f):
        self.f, self.j = f, njournal.read_journal(f)
        tr = f["trials"]
        self.groups = {
            "trials": {k: _Col(njournal.overlay(self.j, k, tr[k][()]) if k != "trial" else tr[k][()], tr[k].attrs)
                       for k in tr.keys()},
            "faults": {k: _Col(v, f["faults"][k].attrs if "faults" in f else {})
                       for k, v in njournal.fault_columns(f, self.j).items()},
        }
        self.progress = njournal.progress(f, self.j)

    def __contains__(self, k):
        return k in self.groups and bool(self.groups[k])

    def __getitem__(self, k):
        g, _, col = k.partition("/")
        return self.groups[g][col] if col else self.groups[g]


def run(cmd):
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def close(check, a, b, what, tol=1e-6):
    check(a is not None and abs(a - b) <= tol, f"{what}: {a} vs {b}")


@pytest.fixture(scope="module")
def h5_dir():
    """NNFI_H5_DIR: where test_h5_results wrote results.h5, big.h5, schema.json
    and empty.h5 (CTest runs it first: FIXTURES_REQUIRED h5_results)."""
    d = os.environ.get("NNFI_H5_DIR")
    if not d:
        pytest.skip("NNFI_H5_DIR (the directory test_h5_results wrote) is not set")
    d = Path(d)
    assert (d / "results.h5").exists(), f"{d}/results.h5 is missing: run test_h5_results {d} first"
    return d


@pytest.fixture(scope="module")
def results(h5_dir):
    with h5py.File(h5_dir / "results.h5", "r") as f:
        yield f


@pytest.fixture(scope="module")
def schema(h5_dir):
    with open(h5_dir / "schema.json") as fh:
        return json.load(fh)


# ------------------------------------------------------------------ file --

class TestFile:
    """results.h5 and big.h5 as h5py reads them (CTest h5_results_h5py)."""

    def test_trials_schema(self, check, results, schema):
        tr = results["trials"]
        names = [c["name"] for c in schema["columns"]]
        check(sorted(tr.keys()) == sorted(names + ["trial"]), f"/trials holds {sorted(tr.keys())}")
        check(schema["group"] == "/trials" and schema["index"] == "trial", "schema group/index")
        scale = tr["trial"]
        check(h5py.h5ds.is_scale(scale.id), "/trials/trial is a dimension scale")
        check(np.array_equal(scale[()], np.arange(TRIALS, dtype=np.uint64)), "/trials/trial = 0..T-1")
        for c in schema["columns"]:
            name = c["name"]
            if name not in tr:
                continue
            ds = tr[name]
            check(ds.dtype == np.dtype(c["dtype"]), f"/trials/{name} dtype {ds.dtype}, schema {c['dtype']}")
            check(ds.shape == (TRIALS,), f"/trials/{name} shape {ds.shape}")
            check(ds.maxshape == (None,), f"/trials/{name} maxshape {ds.maxshape}")
            check(ds.chunks == (TRIALS,), f"/trials/{name} chunks {ds.chunks}")
            check(ds.compression == "gzip" and ds.shuffle, f"/trials/{name} filters")
            check(as_str(ds.attrs["unit"]) == c["unit"], f"/trials/{name} unit {ds.attrs.get('unit')!r}")
            check(as_str(ds.attrs["description"]) == c["description"], f"/trials/{name} description")
            check(isinstance(ds.attrs["unit"], str), f"/trials/{name} unit reads as str")
            check(len(ds.dims[0]) == 1 and ds.dims[0][0].name == "/trials/trial", f"/trials/{name} scale attached")
        for name, meanings in (("status", "ok failed timeout"), ("done", "no yes"), ("due", "no yes")):
            ds = tr[name]
            check(as_str(ds.attrs["flag_meanings"]) == meanings, f"/trials/{name} flag_meanings")
            n = len(meanings.split())
            check(list(ds.attrs["flag_values"]) == list(range(n)) and ds.attrs["flag_values"].dtype == ds.dtype,
                  f"/trials/{name} flag_values {ds.attrs['flag_values']!r}")

    def test_trials_rows(self, check, results):
        check_rows(check, results, done_results, "results.h5")

    def test_provenance(self, check, results, schema):
        a = results.attrs
        check(int(a["schema_version"]) == schema["schema_version"], "schema_version")
        check(isinstance(a["nnfi_version"], str) and a["nnfi_version"], "nnfi_version")
        check(isinstance(a["git_sha"], str) and a["git_sha"], "git_sha")
        check(int(a["seed"]) == 42 and a["seed"].dtype == np.uint64, "seed")
        config = a["config"]
        check(isinstance(config, str) and "name: h5test" in config and "faults_max_n: 10" in config, "config text")
        check(int(a["config_hash"]) == fnv1a(config.encode()) and a["config_hash"].dtype == np.uint64,
              "config_hash = FNV-1a of config")
        check(a["config_path"] == "h5test.yaml", f"config_path {a['config_path']!r}")
        check(a["campaign"] == "h5test", "campaign")
        check("hdf5 1." in a["library_versions"] and "libcyaml" in a["library_versions"],
              f"library_versions {a['library_versions']!r}")
        check(int(a["world_size"]) == 3, "world_size")
        check(a["slurm_job_id"] == "12345", "slurm_job_id")
        check("slurm_array_job_id" not in a and "slurm_array_task_id" not in a, "absent slurm ids are not written")
        check(ISO.match(a["created"]) is not None, f"created {a['created']!r}")

    def test_experiments_points(self, check, results):
        ex = results["experiments"]
        check(list(ex["name"].asstr()[()]) == ["sweep", "single"], "/experiments/name")
        check(list(ex["model"].asstr()[()]) == ["mlp", "mlp"], "/experiments/model")
        check(list(ex["first_trial"][()]) == [0, 21], "/experiments/first_trial")
        check(list(ex["trials"][()]) == [21, 7], "/experiments/trials")
        check(list(ex["n_points"][()]) == [3, 1], "/experiments/n_points")
        pt = results["points"]
        check(list(pt["experiment"][()]) == [p[0] for p in POINTS], "/points/experiment")
        check(list(pt["point"][()]) == [p[1] for p in POINTS], "/points/point")
        check(list(pt["x"][()]) == [p[2] for p in POINTS], f"/points/x {pt['x'][()]}")
        check(list(pt["is_rate"][()]) == [0] * 4, "/points/is_rate")
        check(list(pt["first_trial"][()]) == [p[3] for p in POINTS], "/points/first_trial")
        check(list(pt["trials"][()]) == [p[4] for p in POINTS], "/points/trials")

    def test_sites_golden(self, check, results):
        s = results["sites/mlp"]
        check(list(s["name"].asstr()[()]) == ["fc1.weight", "fc1.bias", "fc1.out"], "/sites/mlp/name")
        check(list(s["kind"].asstr()[()]) == ["param", "param", "activation"], "/sites/mlp/kind")
        check(list(s["dtype"].asstr()[()]) == ["fp32", "fp32", "fp16"], "/sites/mlp/dtype")
        check(list(s["numel"][()]) == [8192, 128, 128], "/sites/mlp/numel")
        check(list(s["shape"].asstr()[()]) == ["[128, 64]", "[128]", "[128]"], "/sites/mlp/shape")
        g = results["golden/mlp"]
        want_logits = np.array([0.5, 1.5, -1.0, 2.0, 0.0, 1.0, -0.5, 0.25, 3.0, 1.0, 1.0, 0.0],
                               dtype=np.float32).reshape(4, 3)
        check(g["logits"].dtype == np.float32 and np.array_equal(g["logits"][()], want_logits), "/golden/mlp/logits")
        check(g["labels"].dtype == np.int32 and list(g["labels"][()]) == [1, 0, 2, 1], "/golden/mlp/labels")
        check(float(g.attrs["accuracy"]) == 0.75, "/golden/mlp accuracy")
        check(g.attrs["threads"] == "1" and g.attrs["qengine"] == "none" and g.attrs["host"] == "null",
              "/golden/mlp facts")

    def test_faults(self, check, results):
        check_faults(check, results, done_results, "results.h5")

    def test_progress(self, check, results):
        pr = results["progress"].attrs
        ndone = sum(1 for t in range(TRIALS) if done_results(t))
        check(int(pr["trials_done"]) == ndone, f"/progress trials_done {pr['trials_done']}, want {ndone}")
        check(int(pr["checkpoints"]) == 3, f"/progress checkpoints {pr['checkpoints']}, want 3")
        check(ISO.match(pr["last_checkpoint"]) is not None, "/progress last_checkpoint")

    def test_big_chunks(self, check, h5_dir):
        """big.h5: the chunk paths (test_chunks in test_h5_results.c)."""
        with h5py.File(h5_dir / "big.h5", "r") as f:
            tr = f["trials"]
            t = np.arange(70000, dtype=np.uint64)
            k = np.where(t >= 65536, 2, np.where(((t >= 100) & (t < 200)) | ((t >= 65000) & (t < 65600)), 1, 0))
            check(tr["accuracy"].chunks == (65536,) and tr["wall_s"].chunks == (1000,), "big.h5 chunking")
            check(np.array_equal(tr["accuracy"][()], t * 1e-5 + k), "big.h5 accuracy")
            check(np.array_equal(tr["sdc"][()], 3 * t + k.astype(np.uint64)), "big.h5 sdc")
            check(np.array_equal(tr["wall_s"][()], t / 2 + k), "big.h5 wall_s (hyperslab fallback)")
            check(np.array_equal(tr["trial_in_point"][()], t), "big.h5 trial_in_point")
            check(np.all(tr["done"][()] == 1) and np.all(tr["due"][()] == 0), "big.h5 done / due")
            check(int(f["progress"].attrs["trials_done"]) == 70000, "big.h5 /progress trials_done")

    def test_xarray(self, h5_dir):
        """xarray sees the columns as variables on the `trial` dimension (skipped when not installed)."""
        xr = pytest.importorskip("xarray")
        pytest.importorskip("h5netcdf")
        with xr.open_dataset(h5_dir / "results.h5", group="trials", engine="h5netcdf", phony_dims="sort") as ds:
            assert "accuracy" in ds.data_vars and ds["accuracy"].dims == ("trial",), f"xarray: {ds}"


# --------------------------------------------------------------- inspect --

T95 = [12.7062047, 4.3026527, 3.1824463, 2.7764451, 2.5705818, 2.4469118, 2.3646243, 2.3060041, 2.2621572]


def wilson(k, n, z=1.959963984540054):
    ph = k / n
    den = 1 + z * z / n
    ctr = (ph + z * z / (2 * n)) / den
    half = z * math.sqrt(ph * (1 - ph) / n + z * z / (4 * n * n)) / den
    return max(0.0, ctr - half), min(1.0, ctr + half)


def point_stats(rows):
    n = len(rows)
    acc = np.array([r["accuracy"] for r in rows])
    drop = np.array([r["accuracy_drop"] for r in rows])
    hw = lambda v: T95[n - 2] * v.std(ddof=1) / math.sqrt(n)  # noqa: E731
    k_sdc = sum(1 for r in rows if r["sdc"] > 0)
    k_due = sum(1 for r in rows if r["due"] != 0)
    return {
        "n": n, "acc": acc.mean(), "acc_hw": hw(acc), "drop": drop.mean(), "drop_hw": hw(drop),
        "k_sdc": k_sdc, "sdc": wilson(k_sdc, n), "k_due": k_due, "due": wilson(k_due, n),
        "crit": sum(r["critical_sdc"] for r in rows) / n,
    }


class TestInspect:
    """`nnfi inspect` on results.h5 (CTest h5_results_inspect)."""

    @pytest.fixture(scope="class")
    def path(self, h5_dir):
        return h5_dir / "results.h5"

    @pytest.fixture(scope="class")
    def hash_hex(self, results):
        return "%016x" % int(results.attrs["config_hash"])

    def test_table(self, check, nnfi_bin, path, hash_hex):
        rc, out, err = run([nnfi_bin, "inspect", path])
        check(rc == 0, f"inspect: exit {rc}\n{err}")
        print(out)
        for want in ["campaign    h5test  (h5test.yaml)  config hash " + hash_hex, "seed        42  world size 3",
                     "slurm job 12345", "progress    23 / 28 trials done, 3 checkpoint(s)",
                     "experiment 0 'sweep' (model mlp): 17 / 21 trials done",
                     "experiment 1 'single' (model mlp): 6 / 7 trials done"]:
            check(want in out, f"inspect table has {want!r}")
        for pattern in [r"(?m)^  0 +N 1 +6/7 ", r"(?m)^  1 +N 10 +5/7 ", r"(?m)^  2 +N 100 +6/7 ",
                        r"(?m)^  0 +- +6/7 "]:
            check(re.search(pattern, out) is not None, f"inspect table has a line matching {pattern!r}")

    def test_json(self, check, nnfi_bin, path, hash_hex):
        rc, out, err = run([nnfi_bin, "inspect", "--format", "json", path])
        assert rc == 0, f"inspect --format json: exit {rc}\n{err}"
        j = json.loads(out)
        check(j["seed"] == 42 and j["config_hash"] == hash_hex and j["world_size"] == 3, "inspect json provenance")
        check(j["trials_done"] == 23 and j["trials"] == 28 and j["checkpoints"] == 3, "inspect json progress")
        check(j["schema_version"] == 1 and j["nnfi_version"], "inspect json versions")
        check([x["name"] for x in j["experiments"]] == ["sweep", "single"], "inspect json experiment names")
        got_points = [p for x in j["experiments"] for p in x["points"]]
        check(len(got_points) == len(POINTS), "inspect json points")
        for (e, p, x, first, n), gp in zip(POINTS, got_points):
            rows = [expected_row(t) for t in range(first, first + n) if done_results(t)]
            s = point_stats(rows)
            where = f"inspect json e{e} p{p}"
            check(gp["point"] == p and gp["x"] == x and gp["trials"] == n and gp["trials_done"] == s["n"], where)
            close(check, gp["accuracy"]["mean"], s["acc"], where + " accuracy", 1e-9)
            close(check, gp["accuracy"]["half_width"], s["acc_hw"], where + " accuracy half-width")
            close(check, gp["accuracy_drop"]["mean"], s["drop"], where + " drop", 1e-9)
            close(check, gp["accuracy_drop"]["half_width"], s["drop_hw"], where + " drop half-width")
            check(gp["sdc_rate"]["k"] == s["k_sdc"] and gp["due_rate"]["k"] == s["k_due"], where + " k")
            close(check, gp["sdc_rate"]["lo"], s["sdc"][0], where + " sdc lo")
            close(check, gp["sdc_rate"]["hi"], s["sdc"][1], where + " sdc hi")
            close(check, gp["due_rate"]["lo"], s["due"][0], where + " due lo")
            close(check, gp["due_rate"]["hi"], s["due"][1], where + " due hi")
            close(check, gp["critical_sdc_per_trial"], s["crit"], where + " critical sdc")

    def test_usage_errors(self, check, nnfi_bin, path):
        """exit 2 with the usage line; --help exits 0."""
        for args in ([], ["--format", "csv", path], ["--format"], ["--bogus", path], [path, path]):
            rc, out, err = run([nnfi_bin, "inspect"] + args)
            check(rc == 2 and "usage: nnfi inspect" in err, f"inspect {args}: exit {rc}, stderr {err!r}")
        rc, out, err = run([nnfi_bin, "inspect", "--help"])
        check(rc == 0 and "--format" in out, f"inspect --help: exit {rc}")

    def test_not_results(self, check, nnfi_bin, h5_dir):
        """files that are not results: exit 1 with a hint."""
        for name, text in (("absent.h5", "no such file"), ("schema.json", "not an HDF5 file"),
                           ("empty.h5", "not an nnfi result file")):
            rc, out, err = run([nnfi_bin, "inspect", h5_dir / name])
            check(rc == 1 and text in err and "\n  hint: " in err, f"inspect {name}: exit {rc}, stderr {err!r}")


# ------------------------------------------------------------------ kill --

class TestKill:
    """h5_kill_helper dies by SIGKILL with rows buffered (CTest h5_results_kill)."""

    @pytest.fixture(scope="class")
    def killed(self, work_dir):
        """Runs the helper once: (its process, the file it leaves)."""
        helper = os.environ.get("NNFI_H5_KILL_HELPER")
        if not helper or not Path(helper).exists():
            pytest.skip("NNFI_H5_KILL_HELPER (tests/results/h5_kill_helper) is not set")
        path = work_dir / "killed.h5"
        if path.exists():
            path.unlink()
        p = subprocess.run([helper, str(path)], capture_output=True, text=True, timeout=60)
        print(p.stderr)
        return p, path

    @pytest.fixture(scope="class")
    def kf(self, killed):
        assert killed[1].exists(), f"the helper left no {killed[1]}"
        with h5py.File(killed[1], "r") as f:
            yield JournalView(f)

    def test_journal_holds_the_checkpoint(self, check, killed):
        """The checkpoint before the kill went to the journal, not the file
        (a checkpoint costs the new rows, not a copy of the file)."""
        with h5py.File(killed[1], "r") as f:
            check(not f["trials/done"][()].any(), "killed.h5 itself holds no done rows (they are in its journal)")
            j = njournal.read_journal(f)
            check(j is not None and len(j.records) == 1 and j.rows == 10, "killed.h5.journal: one record of 10 rows")

    def test_dies_by_sigkill(self, killed):
        p = killed[0]
        assert p.returncode == -signal.SIGKILL, f"helper exit {p.returncode}, want death by SIGKILL\n{p.stderr}"

    def test_rows(self, check, kf):
        check(list(kf["trials/done"][()]) == [1] * 10 + [0] * 18, f"done column {list(kf['trials/done'][()])}")
        check_rows(check, kf, done_killed, "killed.h5")

    def test_faults(self, check, kf):
        check_faults(check, kf, done_killed, "killed.h5", with_attrs=False)

    def test_progress(self, check, kf):
        check(int(kf.progress["trials_done"]) == 10, "killed.h5 /progress trials_done")
        check(int(kf.progress["checkpoints"]) == 1, "killed.h5 /progress checkpoints")

    def test_merge_reads_the_journal(self, check, nnfi_bin, killed, work_dir):
        """A shard killed after checkpointing every trial but before its
        journal was folded: nnfi merge takes the rows from the journal."""
        helper = os.environ["NNFI_H5_KILL_HELPER"]
        path, out = work_dir / "killed_all.h5", work_dir / "merged_all.h5"
        for x in (path, Path(str(path) + ".journal"), out):
            if x.exists():
                x.unlink()
        p = subprocess.run([helper, str(path), "all"], capture_output=True, text=True, timeout=60)
        assert p.returncode == -signal.SIGKILL, p.stderr
        with h5py.File(path, "r") as f:
            check(not f["trials/done"][()].any(), "killed_all.h5 itself holds no done row")
            view = JournalView(f)
        check(list(view["trials/done"][()]) == [1] * TRIALS, "file + journal: every trial done")
        rc, _, err = run([nnfi_bin, "merge", path, "-o", out, "--force"])
        assert rc == 0, err
        with h5py.File(out, "r") as f:
            check_rows(check, f, lambda t: True, "merged_all.h5")
            check_faults(check, f, lambda t: True, "merged_all.h5")
        check(not Path(str(out) + ".journal").exists(), "the merged file has no journal left")

    def test_inspect(self, nnfi_bin, killed):
        rc, out, err = run([nnfi_bin, "inspect", killed[1]])
        assert rc == 0 and "10 / 28 trials done" in out, f"inspect of the killed file: exit {rc}\n{out}{err}"
