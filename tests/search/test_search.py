"""test_search.py - the critical-bit search (`nnfi search`, issue 18) against
exhaustive classification:

  * planted: a model whose criticality is not monotone in the change
    (make_search_fixtures.py): a search that assumes monotonicity (pilot 0,
    as BinFI) misses bits; ours finds the site non-monotone in its pilot and
    misses none;
  * spot check: labels of the search (evaluated and predicted, critical and
    harmless) equal plain single-fault `nnfi run` campaigns (element: +
    bits: {list: [b]}) on the same bits;
  * null model: the strata's Wilson intervals cover the exhaustive truth of
    the whole site at their nominal rate over 40 seeds; the file's columns,
    flags and summary; repeat runs give the same file; errors;
  * zoo CNN (fp32), int8 CNN and a torchvision ResNet-18 (random weights,
    generated eval set): recall >= 99.5% with >= 20x fewer evaluations than
    exhaustive over every drawn element (the pilot included).
Fixtures: NNFI_SEARCH_FIXTURES (make_search_fixtures.py), NNFI_BYOM_FIXTURES
(ResNet-18), NNFI_MODELS_DIR (the zoo); tests whose fixture is missing skip."""
import os
import subprocess
from pathlib import Path

import sys

import h5py
import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "analysis"))
from nnfi_analysis import critical_bits  # noqa: E402
NNFI = os.environ.get("NNFI_BIN", str(HERE.parents[1] / "build" / "src" / "nnfi"))
WORK = Path(os.environ.get("NNFI_WORK", "/tmp/nnfi-search-tests"))
SEARCH_FIX = Path(os.environ.get("NNFI_SEARCH_FIXTURES", ""))
BYOM_FIX = Path(os.environ.get("NNFI_BYOM_FIXTURES", ""))
MODELS = Path(os.environ.get("NNFI_MODELS_DIR", HERE.parents[1] / "build" / "models"))


def run(*args, ok=True):
    p = subprocess.run([NNFI, *map(str, args)], capture_output=True, text=True)
    if ok:
        assert p.returncode == 0, f"nnfi {' '.join(map(str, args))}: {p.returncode}\n{p.stdout}\n{p.stderr}"
    return p


def write(name, text):
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / name
    path.write_text(text)
    return path


def search(name, text, *extra):
    cfg = write(name + ".yaml", text)
    out = WORK / (name + ".h5")
    p = run("search", cfg, "-o", out, "--force", *extra)
    return out, p.stdout


def labels(path, experiment):
    """{method: {(site, element, bit): (critical, evaluations)}} of one experiment."""
    with h5py.File(path, "r") as f:
        g = f["critical_bits"]
        cols = {k: g[k][:] for k in g}
        idx = int(f["search"][experiment].attrs["index"])
    out = {0: {}, 1: {}}
    sel = cols["experiment"] == idx
    for s, e, b, c, m, v in zip(*(cols[k][sel] for k in ("site", "element", "bit", "critical", "method", "evaluations"))):
        out[int(m)][(int(s), int(e), int(b))] = (int(c), int(v))
    return out


def summary(path, experiment):
    with h5py.File(path, "r") as f:
        return dict(f["search"][experiment].attrs)


def assert_recall_and_ratio(path, experiment, min_recall=0.995, min_ratio=20.0):
    s = summary(path, experiment)
    lab = labels(path, experiment)
    search_l, truth = lab[0], lab[1]
    assert truth, "no exhaustive check rows"
    tp = sum(1 for k, (c, _) in truth.items() if c and search_l[k][0])
    fn = sum(1 for k, (c, _) in truth.items() if c and not search_l[k][0])
    assert tp + fn > 0, "the check holds no critical bit: it proves nothing"
    recall = tp / (tp + fn)
    assert recall == pytest.approx(s["recall"])
    evals = sum(v for _, v in search_l.values())
    assert evals == s["evaluations_search"]
    assert sum(v for _, v in truth.values()) == s["evaluations_exhaustive"] == len(truth)
    ratio = s["bits"] / evals  # exhaustive cost of every drawn element / the search's, pilot included
    print(f"{experiment}: recall {recall:.4f} ({tp} of {tp + fn}), precision {s['precision']:.4f}, "
          f"{evals} evaluations for {s['elements']} elements ({s['bits']} bits): {ratio:.1f}x fewer than exhaustive")
    assert recall >= min_recall, f"recall {recall:.4f} below {min_recall}"
    assert ratio >= min_ratio, f"only {ratio:.1f}x fewer evaluations than exhaustive"
    return s


# ------------------------------------------------------------- planted --

PLANTED = """name: planted
seed: 5
models:
  - {{name: planted, host: torch, path: {d}/planted.pt, threads: 1}}
eval: {{path: {d}/planted.h5, samples: 32, batch: 32}}
experiments:
  - name: ours
    model: planted
    groups: [{{target: weight, op: flip}}]
    search: {{find: critical_bits, elements: 128, exhaustive_check: 128}}
  - name: naive
    model: planted
    groups: [{{target: weight, op: flip}}]
    search: {{find: critical_bits, elements: 128, exhaustive_check: 128, pilot: 0}}
"""


@pytest.fixture(scope="module")
def planted():
    if not (SEARCH_FIX / "planted.pt").exists():
        pytest.skip("NNFI_SEARCH_FIXTURES has no planted.pt (run make_search_fixtures.py)")
    return search("planted", PLANTED.format(d=SEARCH_FIX))


def test_planted_nonmonotone(planted):
    path, out = planted
    naive, ours = summary(path, "naive"), summary(path, "ours")
    assert naive["false_negatives"] > 0, "the planted case is monotone after all: a naive search misses nothing"
    assert naive["nonmonotone_sites"] == 0  # it never looked
    assert ours["nonmonotone_sites"] == 1
    assert ours["false_negatives"] == 0 and ours["recall"] == 1.0
    assert "1 site(s) searched flip by flip" in out


def test_spot_check_against_run(planted):
    """Search labels of evaluated and predicted bits, critical and harmless,
    equal single-fault nnfi run campaigns on the same bits."""
    path, _ = planted
    lab = labels(path, "naive")[0]  # the naive search predicts the most
    with h5py.File(path, "r") as f:
        names = [n.decode() if isinstance(n, bytes) else n for n in f["search"]["naive"]["site_names"][:]]
    picks = []
    for want_c in (0, 1):
        for want_v in (0, 1):
            picks += [k for k, (c, v) in sorted(lab.items()) if c == want_c and (v > 0) == bool(want_v)][:3]
    assert len(picks) >= 9, f"too few kinds of labels to spot-check: {len(picks)}"
    exps = "\n".join(
        f"  - {{name: x{i}, model: planted, groups: [{{target: weight, sites: [\"{names[s]}\"], element: {e}, "
        f"bits: {{list: [{b}]}}, op: flip, count: 1}}], trials: 1}}" for i, (s, e, b) in enumerate(picks))
    cfg = write("spot.yaml", f"""name: spot
seed: 5
models:
  - {{name: planted, host: torch, path: {SEARCH_FIX}/planted.pt, threads: 1}}
eval: {{path: {SEARCH_FIX}/planted.h5, samples: 32, batch: 32}}
experiments:
{exps}
""")
    out = WORK / "spot.h5"
    run("run", cfg, "-o", out, "--force", "--quiet", "--progress", "off")
    with h5py.File(out, "r") as f:
        sdc, due = f["trials/sdc"][:], f["trials/due"][:]
        fsite, felem, fmask = f["faults/site"][:], f["faults/element"][:], f["faults/mask"][:]
    for i, (s, e, b) in enumerate(picks):
        assert (fsite[i], felem[i], fmask[i]) == (s, e, 1 << b), "the run did not flip the bit asked for"
        run_label = int(sdc[i] > 0 or due[i] > 0)
        assert run_label == lab[(s, e, b)][0], f"site {names[s]} element {e} bit {b}: search {lab[(s, e, b)]}, run {run_label}"


# ---------------------------------------------------------------- null --

NULL = """name: null-search
seed: {seed}
models:
  - name: mlp
    host: null
    shape: {{inputs: 8, hidden: 16, layers: 1, classes: 4}}
eval: {{samples: 64, batch: 64}}
experiments:
  - name: fc1
    model: mlp
    groups: [{{target: weight, sites: ["fc1.weight"], op: flip}}]
    search: {{find: critical_bits, elements: {elements}, exhaustive_check: {check}}}
"""


def test_file_layout_and_determinism():
    a, out = search("null-a", NULL.format(seed=3, elements=48, check=16))
    b, _ = search("null-b", NULL.format(seed=3, elements=48, check=16))
    with h5py.File(a, "r") as f, h5py.File(b, "r") as g:
        assert f.attrs["kind"] == "critical_bits"
        m = f["critical_bits/method"]
        assert list(m.attrs["flag_values"]) == [0, 1]
        assert m.attrs["flag_meanings"].split() == ["search", "exhaustive"]
        for col in ("experiment", "site", "element", "bit", "critical", "method", "evaluations"):
            assert np.array_equal(f["critical_bits"][col][:], g["critical_bits"][col][:]), col
        n_search = int((f["critical_bits/method"][:] == 0).sum())
        assert n_search == 48 * 32 and len(m) - n_search == 16 * 32
        st = f["critical_strata"]
        assert len(st["bit"]) == 32 and st["elements"][:].sum() == 48 * 32
        s = dict(f["search/fc1"].attrs)
        assert s["elements"] == 48 and s["checked"] == 16 and s["criterion"] == "sdc"
    assert "exhaustive check on 16 elements" in out
    p = run("inspect", a)
    assert "critical bits" in p.stdout and "recall" in p.stdout
    # the analysis package reads the same file
    lab = critical_bits.labels(a)
    assert len(lab) == (48 + 16) * 32 and set(lab["method"].cat.categories) == {"search", "exhaustive"}
    assert lab.loc[lab.method == "search", "evaluations"].sum() == s["evaluations_search"]
    summ = critical_bits.summary(a)
    assert summ.loc[0, "recall"] == pytest.approx(s["recall"]) and summ.loc[0, "fewer_evaluations"] > 0
    per = critical_bits.per_layer_bit(a)
    assert set(per["site"]) == {"fc1.weight"} and len(per) == 32
    fig = critical_bits.figure(a)
    critical_bits.plots.save(fig, WORK / "critical_bits.png")
    assert (WORK / "critical_bits.png").stat().st_size > 1000


def test_strata_cover_the_truth():
    """Per (site, bit) the fraction of the site's elements whose bit is
    critical: the stratified estimator's Wilson intervals (width 0.3) of 40
    searches (one experiment each: independent draws, the same model)
    against the whole site classified exhaustively."""
    exps = "".join(f"""  - name: d{i}
    model: mlp
    groups: [{{target: weight, sites: ["fc1.weight"], op: flip}}]
    search: {{find: critical_bits, elements: 8, strata_width: 0.3}}
""" for i in range(40))
    text = NULL.format(seed=1, elements=128, check=128) + exps
    path, _ = search("null-cov", text)
    truth = labels(path, "fc1")[1]
    assert len(truth) == 128 * 32
    frac = np.zeros(32)
    for (_, _, b), (c, _) in truth.items():
        frac[b] += c / 128
    with h5py.File(path, "r") as f:
        st = {k: f["critical_strata"][k][:] for k in ("experiment", "bit", "lo", "hi", "sampled")}
    assert st["sampled"][st["experiment"] > 0].all() and not st["sampled"][st["experiment"] == 0].any()
    covered = total = 0
    for x, b, lo, hi in zip(st["experiment"], st["bit"], st["lo"], st["hi"]):
        if x > 0 and 0 < frac[b] < 1:  # strata whose truth is 0 or 1 are covered trivially
            total += 1
            covered += lo - 1e-12 <= frac[b] <= hi + 1e-12
    print(f"coverage {covered}/{total} = {covered / total:.3f} (nominal 0.95)")
    assert total >= 100
    assert covered / total >= 0.93


def test_errors():
    bad = write("bad.yaml", NULL.format(seed=1, elements=8, check=9))
    p = run("search", bad, "-o", WORK / "bad.h5", ok=False)
    assert p.returncode != 0 and "exhaustive_check" in p.stderr and "bad.yaml:" in p.stderr
    act = write("act.yaml", NULL.format(seed=1, elements=8, check=0).replace("target: weight", "target: activation"))
    p = run("search", act, "-o", WORK / "act.h5", ok=False)
    assert p.returncode != 0 and "cannot be searched" in p.stderr and "hint:" in p.stderr
    good = write("good.yaml", NULL.format(seed=1, elements=8, check=0))
    p = run("run", good, "-o", WORK / "good-run.h5", "--force", ok=False)
    assert p.returncode != 0 and "nnfi search" in p.stderr
    out = WORK / "exists.h5"
    out.write_text("keep me")
    p = run("search", good, "-o", out, ok=False)
    assert p.returncode != 0 and "--force" in p.stderr and out.read_text() == "keep me"
    p = run("search", good, "-o", WORK / "nothing.h5", "--resume", ok=False)
    assert p.returncode != 0 and "nothing to resume" in p.stderr and "hint:" in p.stderr
    p = run("search", good, "-o", WORK / "x.h5", "--resume", "--force", ok=False)
    assert p.returncode == 2 and "choose one" in p.stderr
    p = run("search", good, "-o", WORK / "x.h5", "--shard", "2/2", ok=False)
    assert p.returncode == 2 and "--shard" in p.stderr


# ------------------------------------- ranks, shards, resume (item 5) --

UNITS = NULL.replace('groups: [{{target: weight, sites: ["fc1.weight"], op: flip}}]',
                     'groups: [{{target: param, op: flip}}]') + """  - name: strata
    model: mlp
    groups: [{{target: weight, op: flip}}]
    search: {{find: critical_bits, elements: 24, exhaustive_check: 4, strata_width: 0.4}}
"""


def same_search(a, b):
    """Every dataset and attribute of two search files equal, but the times."""
    with h5py.File(a, "r") as f, h5py.File(b, "r") as g:
        names = []
        f.visit(names.append)
        other = []
        g.visit(other.append)
        assert sorted(names) == sorted(other)
        for n in names:
            x, y = f[n], g[n]
            skip = {"created", "seconds"}
            assert {k for k in x.attrs if k not in skip} == {k for k in y.attrs if k not in skip}, n
            for k in x.attrs:
                if k not in skip:
                    assert np.array_equal(np.asarray(x.attrs[k]), np.asarray(y.attrs[k])), (n, k)
            if isinstance(x, h5py.Dataset):
                assert np.array_equal(x[()], y[()]), n


def mpi_search(n, cfg, out, *extra):
    sys.path.insert(0, str(HERE.parents[1] / "tests" / "common"))
    import nnfitest
    launcher = nnfitest.MpiLauncher.from_env()
    if launcher is None:
        pytest.skip("no MPI launcher")
    p = subprocess.run(launcher.cmd(n, NNFI, "search", cfg, "-o", out, "--force", *extra), capture_output=True,
                       text=True, env=nnfitest.mpi_env())
    assert p.returncode == 0, p.stdout + p.stderr
    return p


def test_ranks_shards_resume():
    """One file whatever the rank count, the shards merged, or the search
    stopped (--units, SIGTERM, kill -9) and resumed."""
    cfg = write("units.yaml", UNITS.format(seed=7, elements=64, check=8))
    whole, out = search("units", UNITS.format(seed=7, elements=64, check=8))
    with h5py.File(whole, "r") as f:
        u = f["search_units"].attrs
        assert u["units"] == u["units_wanted"] == u["units_total"] and u["units"] >= 8
        assert u["shard_count"] == 1 and len(f["search_units/records"]) > 0
        sites = [s.decode() if isinstance(s, bytes) else s for s in f["search/fc1/site_names"][:]]
        assert "fc1.weight" in sites and "fc1.bias" in sites
    for n in (2, 3):
        out = WORK / f"units-np{n}.h5"
        mpi_search(n, cfg, out)
        same_search(whole, out)
    # shards, merged in any order
    parts = [WORK / f"units-shard{i}.h5" for i in range(3)]
    for i, part in enumerate(parts):
        run("search", cfg, "-o", part, "--force", "--shard", f"{i}/3")
    p = run("merge", parts[1], parts[0], ok=False)
    assert p.returncode == 2  # no -o
    p = run("merge", parts[0], parts[1], "-o", WORK / "units-merged.h5", "--force", ok=False)
    assert p.returncode != 0 and "missing" in p.stderr
    p = run("merge", parts[0], parts[0], parts[1], parts[2], "-o", WORK / "units-merged.h5", "--force", ok=False)
    assert p.returncode != 0 and "twice" in p.stderr
    assert "shard       1/3" in run("inspect", parts[1]).stdout
    run("merge", parts[2], parts[0], parts[1], "-o", WORK / "units-merged.h5", "--force")
    same_search(whole, WORK / "units-merged.h5")
    # stopped after 2 sites, resumed one site at a time, then to the end
    part = WORK / "units-resumed.h5"
    p = run("search", cfg, "-o", part, "--force", "--units", "2")
    assert "resume with" in p.stderr
    with h5py.File(part, "r") as f:
        assert f["search_units"].attrs["units"] == 2
    assert "partial     2 of " in run("inspect", part).stdout
    p = run("search", cfg, "-o", part, ok=False)
    assert p.returncode != 0 and "--resume" in p.stderr  # not overwritten by a fresh start
    run("search", cfg, "-o", part, "--resume", "--units", "1")
    run("search", cfg, "-o", part, "--resume")
    same_search(whole, part)
    # a shard stopped and resumed, under 2 ranks
    part = WORK / "units-shard-resumed.h5"
    mpi_search(2, cfg, part, "--shard", "1/3", "--units", "1")
    run("search", cfg, "-o", part, "--shard", "1/3", "--resume")
    same_search(parts[1], part)
    # another campaign text is refused
    other = write("units-other.yaml", UNITS.format(seed=8, elements=64, check=8))
    p = run("search", other, "-o", part, "--shard", "1/3", "--resume", ok=False)
    assert p.returncode != 0 and "another campaign text" in p.stderr


def test_kill_and_resume():
    """kill -9 at random moments: the journal (OUT.h5.units) keeps every
    finished site; --resume gives the file of an uninterrupted search."""
    text = UNITS.format(seed=11, elements=256, check=32)
    whole, _ = search("kill-whole", text)
    cfg = write("kill.yaml", text)
    import random
    import signal
    import time
    rng = random.Random(3)
    for attempt in range(3):
        out = WORK / f"kill-{attempt}.h5"
        for suffix in ("", ".units"):
            Path(str(out) + suffix).unlink(missing_ok=True)
        p = subprocess.Popen([NNFI, "search", str(cfg), "-o", str(out), "--quiet"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        journal = Path(str(out) + ".units")
        while p.poll() is None and not journal.exists():  # a site finished
            time.sleep(0.005)
        time.sleep(rng.uniform(0, 0.3))
        p.send_signal(signal.SIGKILL if attempt != 1 else signal.SIGTERM)
        p.wait()
        killed = p.returncode == -signal.SIGKILL
        print(f"attempt {attempt}: exit {p.returncode}, journal {journal.exists()}, file {out.exists()}")
        if killed:
            assert journal.exists() or out.exists()  # finished sites are in the journal until the file has them
        if killed and journal.exists() and attempt == 2:  # a torn record at the end: cut off, not read
            with open(journal, "ab") as j:
                j.write(b"NSJR" + bytes(8) + b"\xff" * 7)
        resumed = subprocess.run([NNFI, "search", str(cfg), "-o", str(out), "--resume", "--quiet"],
                                 capture_output=True, text=True)
        assert resumed.returncode == 0, resumed.stderr
        same_search(whole, out)
        assert not Path(str(out) + ".units").exists()


# ----------------------------------------------------- the real models --

ZOO = """name: search-{name}
seed: 17
models:
  - {{name: {name}, host: torch, path: {m}/{name}.pt, threads: 1{extra}}}
eval: {{path: {m}/fashion_mnist_test.h5, samples: 64, batch: 64}}
experiments:
  - name: {name}-bits
    model: {name}
    groups: [{{target: weight, op: flip}}]
    search: {{find: critical_bits, elements: {elements}, exhaustive_check: {check}}}
"""


@pytest.mark.parametrize("name,extra,elements,check", [("cnn", "", 1536, 96),
                                                      ("qcnn", ", qengine: qnnpack", 4096, 96)])
def test_zoo(name, extra, elements, check):
    if not (MODELS / f"{name}.pt").exists():
        pytest.skip(f"no {name}.pt in {MODELS} (the zoo)")
    path, _ = search(f"zoo-{name}", ZOO.format(name=name, m=MODELS, extra=extra, elements=elements, check=check))
    assert_recall_and_ratio(path, f"{name}-bits")


def test_resnet18():
    if not (BYOM_FIX / "resnet18.pt").exists():
        pytest.skip("NNFI_BYOM_FIXTURES has no resnet18.pt (run tests/byom/make_byom_fixtures.py)")
    path, _ = search("resnet18", f"""name: search-resnet18
seed: 9
models:
  - {{name: resnet18, host: torch, path: {BYOM_FIX}/resnet18.pt, threads: 1}}
eval: {{path: {BYOM_FIX}/eval32.h5, samples: 8, batch: 8}}
experiments:
  - name: resnet18-bits
    model: resnet18
    groups: [{{target: weight, regex: "(conv[0-9]|fc|downsample\\\\.0)\\\\.weight$", op: flip}}]
    search: {{find: critical_bits, elements: 2048, exhaustive_check: 32}}
""")
    assert_recall_and_ratio(path, "resnet18-bits")
