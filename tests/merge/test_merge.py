"""test_merge.py - `nnfi merge` end to end on the null model (label `mpi`:
every `nnfi run` is a singleton MPI process).

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

Usage: test_merge.py NNFI_BINARY SMALL.yaml STOP.yaml WORKDIR
"""
import os
import random
import shutil
import subprocess
import sys

import h5py
import numpy as np

nnfi = sys.argv[1]
small, stop = os.path.abspath(sys.argv[2]), os.path.abspath(sys.argv[3])
work = sys.argv[4]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
env = dict(os.environ)
for k in list(env):
    if k.startswith("SLURM_"):
        env.pop(k)  # a test run inside an allocation must not see its task count
failures = []
VOLATILE = {"rank", "device", "wall_s"}


def check(cond, what):
    print(("ok: " if cond else "FAIL: ") + what, flush=True)
    if not cond:
        failures.append(what)


def nnfi_cmd(args, expect=0):
    p = subprocess.run([nnfi] + args, env=env, cwd=work, capture_output=True, text=True, timeout=300)
    if p.returncode != expect:
        print(p.stdout, p.stderr, sep="\n")
    check(p.returncode == expect, f"nnfi {' '.join(args)} exits {expect} (got {p.returncode})")
    return p


def run(campaign, out, shard=None, extra=()):
    args = ["run", campaign, "-o", out, "--force", "--progress", "off", "--quiet"] + list(extra)
    if shard:
        args += ["--shard", shard]
    nnfi_cmd(args)
    return out


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


def expect_refusal(args, needles, what):
    out = os.path.join(work, "refused.h5")
    if os.path.exists(out):
        os.remove(out)
    p = nnfi_cmd(["merge"] + args + ["-o", out], expect=1)
    missing = [n for n in needles if n not in p.stderr]
    if missing:
        print(p.stderr)
    check(not missing, f"refused: {what} (message names {needles})")
    check(not os.path.exists(out) and not os.path.exists(out + ".merging"), f"refused: {what} leaves no output")
    return p


rng = random.Random(5)
for campaign in (small, stop):
    tag = os.path.splitext(os.path.basename(campaign))[0]
    whole = run(campaign, os.path.join(work, f"{tag}_whole.h5"))
    ref = trial_columns(whole)
    check(ref["done"].any(), f"{tag}: the single run did trials")
    for n in (1, 2, 3):
        shards = [run(campaign, os.path.join(work, f"{tag}_{i}of{n}.h5"), f"{i}/{n}") for i in range(n)]
        order = shards[:]
        rng.shuffle(order)
        merged = os.path.join(work, f"{tag}_merged{n}.h5")
        p = nnfi_cmd(["merge"] + order + ["-o", merged])
        check(f"{n} shard(s)" in p.stdout, f"{tag} {n} shard(s): summary line")
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

# ----------------------------------------------------------------- refusals --
s3 = [os.path.join(work, f"small_{i}of3.h5") for i in range(3)]
s2 = [os.path.join(work, f"small_{i}of2.h5") for i in range(2)]

other = os.path.join(work, "other.yaml")
with open(small) as f:
    text = f.read()
with open(other, "w") as f:
    f.write(text.replace("seed: 7", "seed: 8"))
o1 = run(other, os.path.join(work, "other_1of3.h5"), "1/3")
p = expect_refusal([s3[0], o1, s3[2]], ["different campaigns", s3[0], o1], "shards of another campaign")

expect_refusal([s2[0], s3[1], s3[2]], ["shard 0 of 2", "shard 1 of 3"], "different shard counts")
expect_refusal([s3[0], s3[1]], ["missing shard 2 of 3", "--shard 2/3"], "a missing shard")
expect_refusal([s3[2], s3[0]], ["missing shard 1 of 3"], "a missing shard in the middle")
expect_refusal([s3[0], s3[1], s3[1], s3[2]], ["given twice", s3[1]], "the same file twice")
dup = os.path.join(work, "copy_1of3.h5")
shutil.copy(s3[1], dup)
expect_refusal([s3[0], s3[1], dup, s3[2]], ["shard 1 of 3 is given twice", dup], "a shard index twice")

# overlap: shard 1 of 2 also claims the first trial of shard 0
over = os.path.join(work, "overlap_1of2.h5")
shutil.copy(s2[1], over)
with h5py.File(over, "r+") as f:
    d = f["trials"]["done"]
    d[0] = 1
expect_refusal([s2[0], over], ["both hold trial 0", s2[0], over], "overlapping done rows")
expect_refusal([over, s2[0]], ["both hold trial 0"], "overlapping done rows, other order")

# incomplete: shard 1 of 3 loses two runs of rows (as after an interrupted run)
part = os.path.join(work, "part_1of3.h5")
shutil.copy(s3[1], part)
with h5py.File(part, "r+") as f:
    done = f["trials"]["done"][()]
    mine = np.flatnonzero(done)
    lo = int(mine[0])
    done[lo + 5:lo + 12] = 0
    done[lo + 40] = 0
    f["trials"]["done"][...] = done
first_gap = f"{lo + 5}-{lo + 11}"
expect_refusal([s3[0], part, s3[2]], ["incomplete", "8 trial(s)", first_gap, str(lo + 40), "--shard 1/3 --resume",
                                      part], "an incomplete shard")
# the hint's command completes it
nnfi_cmd(["run", small, "-o", part, "--shard", "1/3", "--resume", "--progress", "off", "--quiet"])
fixed = os.path.join(work, "fixed_merge.h5")
nnfi_cmd(["merge", s3[0], part, s3[2], "-o", fixed])
check(same_columns(trial_columns(fixed), trial_columns(os.path.join(work, "small_whole.h5"))),
      "after the hinted --resume the merge equals the single run")

# an incomplete shard of the stopping-rule campaign: a stopped point's prefix
st = [os.path.join(work, f"stop_{i}of3.h5") for i in range(3)]
with h5py.File(st[1], "r") as f:
    mine = np.flatnonzero(f["trials"]["done"][()])
spart = os.path.join(work, "stop_part_1of3.h5")
shutil.copy(st[1], spart)
with h5py.File(spart, "r+") as f:
    done = f["trials"]["done"][()]
    done[mine[-3:]] = 0  # the last rows before the rule's decision
    f["trials"]["done"][...] = done
expect_refusal([st[0], spart, st[2]], ["incomplete", "3 trial(s)", "--shard 1/3 --resume"],
               "an incomplete stopping-rule point")

# different golden data
gold = os.path.join(work, "golden_2of3.h5")
shutil.copy(s3[2], gold)
with h5py.File(gold, "r+") as f:
    lg = f["golden"]["mlp"]["logits"]
    v = lg[0, 0]
    lg[0, 0] = v + 1
expect_refusal([s3[0], s3[1], gold], ["differ in /golden/mlp/logits", gold], "differing golden logits")

# output handling
out = os.path.join(work, "existing.h5")
with open(out, "w") as f:
    f.write("keep me")
p = nnfi_cmd(["merge"] + s3 + ["-o", out], expect=1)
check("exists" in p.stderr and "--force" in p.stderr, "an existing output is refused without --force")
with open(out) as f:
    check(f.read() == "keep me", "the refused merge left the existing file untouched")
nnfi_cmd(["merge"] + s3 + ["-o", out, "--force"])
check(same_columns(trial_columns(out), trial_columns(os.path.join(work, "small_whole.h5"))),
      "--force overwrites it with the merge")
with open(s3[1], "rb") as f:
    before = f.read()
p = nnfi_cmd(["merge"] + s3 + ["-o", s3[1], "--force"], expect=1)
check("also an input" in p.stderr, "the output may not be one of the shards")
with open(s3[1], "rb") as f:
    check(f.read() == before, "that shard is untouched")

# usage errors
nnfi_cmd(["merge", s3[0]], expect=2)
nnfi_cmd(["merge", "-o", out], expect=2)
nnfi_cmd(["merge", s3[0], "-o", out, "--bogus"], expect=2)
p = nnfi_cmd(["merge", "--help"])
check("--force" in p.stdout, "merge --help")

print(f"{len(failures)} failure(s)")
sys.exit(1 if failures else 0)
