"""test_merge.py - `nnfi merge` end to end on the null model (pytest; CTest
`merge_shards`, label `mpi`: every `nnfi run` is a singleton MPI process;
fixtures in tests/conftest.py).

Checks, with real shard files written by `nnfi run --shard I/N` and read back
by h5py:
  * for tests/campaign/small.yaml and tests/merge/stop.yaml (stopping rules:
    a stopped point belongs wholly to one shard and leaves cut-off trials
    undone), the merge of 1, 2 and 3 shards, given in a shuffled order,
    equals a single run of the whole campaign in every /trials column but
    the volatile rank/device/wall_s (bit for bit); /experiments, /points,
    /sites and /golden equal the single run's; /faults holds the same rows
    (as a multiset: its order is checkpoint order); root attributes say
    shard 0 of 1, world_size = the sum, merged_from;
  * refusals, each with its message, leaving no output behind: different
    campaigns (both files named), different shard counts, a missing shard
    ("missing shard 2 of 3"), a file or shard given twice, overlapping done
    rows, an incomplete shard (the missing range and the --resume hint, which
    then completes the shard so that the merge succeeds), differing golden
    data, an existing output without --force (untouched), the output being
    an input;
  * usage errors exit 2.

The single runs and the shards of both campaigns are made once per module
(the `built` fixture); the refusals work on copies of them.

By hand: NNFI_BIN=build/src/nnfi /usr/bin/python3 -m pytest tests/merge/test_merge.py
"""
import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest

h5py = pytest.importorskip("h5py")
np = pytest.importorskip("numpy")

HERE = Path(__file__).resolve().parent
CAMPAIGNS = {"small": HERE.parent / "campaign" / "small.yaml", "stop": HERE / "stop.yaml"}
VOLATILE = {"rank", "device", "wall_s"}


def _shuffles():
    """The order each merge is given its shards in: {tag: {n: [shard index...]}},
    from one Random(5) drawn in campaign order, then shard count order."""
    rng = random.Random(5)
    out = {}
    for tag in CAMPAIGNS:
        out[tag] = {}
        for n in (1, 2, 3):
            order = list(range(n))
            rng.shuffle(order)
            out[tag][n] = order
    return out


SHUFFLES = _shuffles()


@pytest.fixture(scope="module")
def work(work_dir):
    """The work directory, emptied once per module."""
    shutil.rmtree(work_dir, ignore_errors=True)
    os.makedirs(work_dir)
    return work_dir


@pytest.fixture(scope="module")
def env(mpi_env):
    e = dict(mpi_env)
    for k in list(e):
        if k.startswith("SLURM_"):
            e.pop(k)  # a test run inside an allocation must not see its task count
    return e


@pytest.fixture(scope="module")
def nnfi(nnfi_bin, work, env):
    """nnfi(args) -> CompletedProcess of `nnfi ARGS` in the work directory."""

    def _nnfi(args):
        return subprocess.run([str(nnfi_bin)] + [str(a) for a in args], env=env, cwd=work,
                              capture_output=True, text=True, timeout=300)

    return _nnfi


def exits(check, p, expect):
    """check that p exited with `expect` (its output printed when not)."""
    if p.returncode != expect:
        print(p.stdout, p.stderr, sep="\n")
    return check(p.returncode == expect, f"{' '.join(p.args[1:])} exits {expect} (got {p.returncode})")


def must(p, expect=0):
    """assert (in a fixture) that p exited with `expect`."""
    assert p.returncode == expect, f"{' '.join(p.args)}: exit {p.returncode}, not {expect}\n{p.stdout}\n{p.stderr}"
    return p


@pytest.fixture(scope="module")
def run(nnfi):
    """run(campaign, out, shard=None): `nnfi run` (asserting exit 0) -> out."""

    def _run(campaign, out, shard=None):
        args = ["run", campaign, "-o", out, "--force", "--progress", "off", "--quiet"]
        if shard:
            args += ["--shard", shard]
        must(nnfi(args))
        return str(out)

    return _run


@pytest.fixture(scope="module")
def built(run, nnfi, work):
    """built(tag) -> {"whole": path, "shards": {n: [paths]}, "merged": {n: (path, process)}}:
    the single run, its 1, 2 and 3 shards and their merges (made once)."""
    cache = {}

    def _built(tag):
        if tag not in cache:
            campaign = CAMPAIGNS[tag]
            b = {"whole": run(campaign, work / f"{tag}_whole.h5"), "shards": {}, "merged": {}}
            for n in (1, 2, 3):
                shards = [run(campaign, work / f"{tag}_{i}of{n}.h5", f"{i}/{n}") for i in range(n)]
                merged = str(work / f"{tag}_merged{n}.h5")
                b["shards"][n] = shards
                b["merged"][n] = (merged, nnfi(["merge"] + [shards[i] for i in SHUFFLES[tag][n]] + ["-o", merged]))
            cache[tag] = b
        return cache[tag]

    return _built


def trial_columns(path):
    with h5py.File(path, "r") as f:
        return {k: f["trials"][k][()] for k in f["trials"] if k not in VOLATILE}


def same_columns(a, b):
    if a.keys() != b.keys():
        return False
    return all(np.array_equal(a[k].view(np.uint8), b[k].view(np.uint8)) for k in a)  # NaN-aware, bit for bit


def tree(f, name):
    """Every dataset under a group as (path, dtype, values as bytes/strings) plus attributes."""
    out = {}

    def visit(path, obj):
        attrs = {k: np.asarray(v).tobytes() if not isinstance(v, (str, bytes)) else v for k, v in obj.attrs.items()}
        if isinstance(obj, h5py.Dataset):
            v = obj[()]
            out[path] = (str(obj.dtype), v.tolist() if v.dtype.kind == "O" else v.tobytes(), attrs)
        else:
            out[path] = attrs
    if name in f:
        f[name].visititems(visit)
        visit(name, f[name])
    return out


def fault_rows(path):
    with h5py.File(path, "r") as f:
        if "faults" not in f:
            return []
        g = f["faults"]
        cols = sorted(g)
        return sorted(zip(*[g[c][()].tolist() for c in cols]))


@pytest.fixture
def refuse(nnfi, work, check):
    """refuse(inputs, needles, what): `nnfi merge INPUTS -o refused.h5` exits 1,
    its stderr names every needle, and it leaves no output behind."""

    def _refuse(args, needles, what):
        out = work / "refused.h5"
        if out.exists():
            out.unlink()
        p = nnfi(["merge"] + list(args) + ["-o", out])
        exits(check, p, 1)
        missing = [n for n in needles if n not in p.stderr]
        if missing:
            print(p.stderr)
        check(not missing, f"refused: {what} (message names {needles})")
        check(not out.exists() and not Path(str(out) + ".merging").exists(), f"refused: {what} leaves no output")
        return p

    return _refuse


# ------------------------------------------------------------ the merges --

@pytest.mark.parametrize("tag", list(CAMPAIGNS))
def test_single_run(built, tag):
    assert trial_columns(built(tag)["whole"])["done"].any(), f"{tag}: the single run did trials"


@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("tag", list(CAMPAIGNS))
def test_merge_equals_single_run(built, check, tag, n):
    b = built(tag)
    whole, shards = b["whole"], b["shards"][n]
    merged, p = b["merged"][n]
    exits(check, p, 0)
    check(f"{n} shard(s)" in p.stdout, f"{tag} {n} shard(s): summary line")
    ref = trial_columns(whole)
    check(same_columns(trial_columns(merged), ref),
          f"{tag}: merge of {n} shard(s) equals the single run in every non-volatile /trials column")
    with h5py.File(merged, "r") as m, h5py.File(whole, "r") as w:
        for t in ("experiments", "points", "sites", "golden"):
            check(tree(m, t) == tree(w, t), f"{tag} {n} shard(s): /{t} equals the single run's")
        check(m.attrs["shard_index"] == 0 and m.attrs["shard_count"] == 1, f"{tag} {n}: shard 0 of 1")
        check(m.attrs["config_hash"] == w.attrs["config_hash"] and m.attrs["config"] == w.attrs["config"],
              f"{tag} {n}: config and its hash carried over")
        check(m.attrs["world_size"] == n, f"{tag} {n}: world_size is the sum of the shards' ({n})")
        check([os.path.basename(x) for x in m.attrs["merged_from"]] ==
              [os.path.basename(s) for s in shards], f"{tag} {n}: merged_from lists the shards in shard order")
        check("slurm_array_task_id" not in m.attrs, f"{tag} {n}: no per-shard array task id")
        check(int(m["progress"].attrs["trials_done"]) == int(ref["done"].sum()),
              f"{tag} {n}: /progress counts the union of done rows")
        scale = m["trials"]["accuracy"].dims[0]
        check(len(scale) == 1 and scale[0].name == "/trials/trial", f"{tag} {n}: columns keep the trial scale")
    check(fault_rows(merged) == fault_rows(whole), f"{tag} {n} shard(s): /faults holds the single run's rows")


# -------------------------------------------------------------- refusals --

@pytest.fixture(scope="module")
def s3(built):
    return built("small")["shards"][3]


@pytest.fixture(scope="module")
def s2(built):
    return built("small")["shards"][2]


def test_refuses_another_campaign(run, work, refuse, s3):
    other = work / "other.yaml"
    other.write_text(CAMPAIGNS["small"].read_text().replace("seed: 7", "seed: 8"))
    o1 = run(other, work / "other_1of3.h5", "1/3")
    refuse([s3[0], o1, s3[2]], ["different campaigns", s3[0], o1], "shards of another campaign")


def test_refuses_different_shard_counts(refuse, s2, s3):
    refuse([s2[0], s3[1], s3[2]], ["shard 0 of 2", "shard 1 of 3"], "different shard counts")


def test_refuses_missing_shard(refuse, s3):
    refuse([s3[0], s3[1]], ["missing shard 2 of 3", "--shard 2/3"], "a missing shard")
    refuse([s3[2], s3[0]], ["missing shard 1 of 3"], "a missing shard in the middle")


def test_refuses_given_twice(work, refuse, s3):
    refuse([s3[0], s3[1], s3[1], s3[2]], ["given twice", s3[1]], "the same file twice")
    dup = str(work / "copy_1of3.h5")
    shutil.copy(s3[1], dup)
    refuse([s3[0], s3[1], dup, s3[2]], ["shard 1 of 3 is given twice", dup], "a shard index twice")


def test_refuses_overlapping_rows(work, refuse, s2):
    # shard 1 of 2 also claims the first trial of shard 0
    over = str(work / "overlap_1of2.h5")
    shutil.copy(s2[1], over)
    with h5py.File(over, "r+") as f:
        f["trials"]["done"][0] = 1
    refuse([s2[0], over], ["both hold trial 0", s2[0], over], "overlapping done rows")
    refuse([over, s2[0]], ["both hold trial 0"], "overlapping done rows, other order")


def test_incomplete_shard_and_resume_hint(nnfi, work, refuse, check, built, s3):
    # shard 1 of 3 loses two runs of rows (as after an interrupted run)
    part = str(work / "part_1of3.h5")
    shutil.copy(s3[1], part)
    with h5py.File(part, "r+") as f:
        done = f["trials"]["done"][()]
        lo = int(np.flatnonzero(done)[0])
        done[lo + 5:lo + 12] = 0
        done[lo + 40] = 0
        f["trials"]["done"][...] = done
    refuse([s3[0], part, s3[2]], ["incomplete", "8 trial(s)", f"{lo + 5}-{lo + 11}", str(lo + 40),
                                  "--shard 1/3 --resume", part], "an incomplete shard")
    # the hint's command completes it
    exits(check, nnfi(["run", CAMPAIGNS["small"], "-o", part, "--shard", "1/3", "--resume", "--progress", "off",
                       "--quiet"]), 0)
    fixed = str(work / "fixed_merge.h5")
    exits(check, nnfi(["merge", s3[0], part, s3[2], "-o", fixed]), 0)
    check(os.path.exists(fixed) and same_columns(trial_columns(fixed), trial_columns(built("small")["whole"])),
          "after the hinted --resume the merge equals the single run")


def test_incomplete_stopping_rule_point(work, refuse, built):
    # an incomplete shard of the stopping-rule campaign: a stopped point's prefix
    st = built("stop")["shards"][3]
    spart = str(work / "stop_part_1of3.h5")
    shutil.copy(st[1], spart)
    with h5py.File(spart, "r+") as f:
        done = f["trials"]["done"][()]
        mine = np.flatnonzero(done)
        done[mine[-3:]] = 0  # the last rows before the rule's decision
        f["trials"]["done"][...] = done
    refuse([st[0], spart, st[2]], ["incomplete", "3 trial(s)", "--shard 1/3 --resume"],
           "an incomplete stopping-rule point")


def test_refuses_differing_golden(work, refuse, s3):
    gold = str(work / "golden_2of3.h5")
    shutil.copy(s3[2], gold)
    with h5py.File(gold, "r+") as f:
        lg = f["golden"]["mlp"]["logits"]
        lg[0, 0] = lg[0, 0] + 1
    refuse([s3[0], s3[1], gold], ["differ in /golden/mlp/logits", gold], "differing golden logits")


def test_output_handling(nnfi, work, check, built, s3):
    out = work / "existing.h5"
    out.write_text("keep me")
    p = nnfi(["merge"] + s3 + ["-o", out])
    exits(check, p, 1)
    check("exists" in p.stderr and "--force" in p.stderr, "an existing output is refused without --force")
    check(out.read_text() == "keep me", "the refused merge left the existing file untouched")
    exits(check, nnfi(["merge"] + s3 + ["-o", out, "--force"]), 0)
    check(same_columns(trial_columns(out), trial_columns(built("small")["whole"])),
          "--force overwrites it with the merge")
    before = Path(s3[1]).read_bytes()
    p = nnfi(["merge"] + s3 + ["-o", s3[1], "--force"])
    exits(check, p, 1)
    check("also an input" in p.stderr, "the output may not be one of the shards")
    check(Path(s3[1]).read_bytes() == before, "that shard is untouched")


def test_usage_errors(nnfi, work, check, s3):
    out = work / "existing.h5"
    exits(check, nnfi(["merge", s3[0]]), 2)
    exits(check, nnfi(["merge", "-o", out]), 2)
    exits(check, nnfi(["merge", s3[0], "-o", out, "--bogus"]), 2)
    p = nnfi(["merge", "--help"])
    exits(check, p, 0)
    check("--force" in p.stdout, "merge --help")
