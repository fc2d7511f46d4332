"""test_run.py - the campaign engine end to end on the null model.

Checks, with real processes (mpirun, signals) and real HDF5 files read by h5py:
  * the trial columns are identical (except the volatile rank/device/wall_s)
    for one process and for mpirun -np 2 and -np 4 (oversubscribed);
  * SIGTERM mid-run exits 0 with a resume hint, and --resume completes a file
    identical to the uninterrupted one;
  * after kill -9 mid-run the file opens with h5py and --resume completes it
    identically;
  * refusals: an existing file without --force, --resume with another
    config, a world size that differs from SLURM_NTASKS.

Usage: test_run.py NNFI_BINARY CAMPAIGN.yaml WORKDIR [MPIEXEC]
"""
import os
import shutil
import signal
import subprocess
import sys
import time

import h5py
import numpy as np

nnfi, campaign, work = sys.argv[1], os.path.abspath(sys.argv[2]), sys.argv[3]
mpiexec = sys.argv[4] if len(sys.argv) > 4 else shutil.which("mpiexec")
os.makedirs(work, exist_ok=True)
env = dict(os.environ)
env.update({
    "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
    "OMPI_MCA_rmaps_base_oversubscribe": "1", "OMPI_MCA_btl_vader_single_copy_mechanism": "none",
    "OMPI_MCA_pml": "ob1", "OMPI_MCA_btl": "self,vader",
})
for k in ("SLURM_NTASKS", "SLURM_JOB_ID"):
    env.pop(k, None)
failures = []


def check(cond, what):
    print(("ok: " if cond else "FAIL: ") + what, flush=True)
    if not cond:
        failures.append(what)


def run(args, ranks=0, expect=0, extra_env=None, **kw):
    cmd = ([mpiexec, "-n", str(ranks)] if ranks else []) + [nnfi, "run"] + args
    e = dict(env, **(extra_env or {}))
    p = subprocess.run(cmd, env=e, cwd=work, capture_output=True, text=True, timeout=300, **kw)
    if p.returncode != expect:
        print(p.stdout, p.stderr, sep="\n")
    check(p.returncode == expect, f"{' '.join(cmd[-4:])} exits {expect} (got {p.returncode})")
    return p


VOLATILE = {"rank", "device", "wall_s"}


def columns(path):
    with h5py.File(path, "r") as f:
        return {k: f["trials"][k][()] for k in f["trials"] if k not in VOLATILE and k != "trial"}


def same(a, b):
    if a.keys() != b.keys():
        return False
    # NaN-aware equality, bit for bit
    return all(np.array_equal(a[k].view(np.uint8), b[k].view(np.uint8)) for k in a)


# 1. reference: one plain process
ref_path = os.path.join(work, "ref.h5")
run([campaign, "-o", ref_path, "--force", "--progress", "off"])
ref = columns(ref_path)
check(bool(ref["done"].all()), "single process completes every trial")
check(ref["n_faults"].max() == 100 and ref["due"].sum() > 0, "fault counts and DUE outcomes present")

# 2. ranks do not matter
if mpiexec:
    for k in (2, 4):
        path = os.path.join(work, f"np{k}.h5")
        run([campaign, "-o", path, "--force", "--progress", "off"], ranks=k)
        check(same(columns(path), ref), f"mpirun -np {k} gives the same trial columns as one process")
        with h5py.File(path, "r") as f:
            ranks_seen = set(np.unique(f["trials"]["rank"][()]))
            check(f.attrs["world_size"] == k, f"world_size attribute is {k}")
        check(len(ranks_seen) > 1, f"-np {k}: trials ran on several ranks {sorted(ranks_seen)}")


def interrupted_run(sig, path, ranks=0):
    if os.path.exists(path):
        os.remove(path)  # a complete file from an earlier run would be signalled too early
    cmd = ([mpiexec, "-n", str(ranks)] if ranks else []) + [
        nnfi, "run", campaign, "-o", path, "--force", "--progress", "lines", "--checkpoint-every", "0.1"]
    p = subprocess.Popen(cmd, env=env, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # wait until the file exists and some rows are checkpointed
    deadline = time.time() + 60
    while time.time() < deadline:
        time.sleep(0.05)
        try:
            with h5py.File(path, "r") as f:
                if f["trials"]["done"][()].sum() > 20:
                    break
        except Exception:
            pass
    p.send_signal(sig)
    out, err = p.communicate(timeout=120)
    return p.returncode, out, err


# 3. SIGTERM then --resume
path = os.path.join(work, "term.h5")
rc, out, err = interrupted_run(signal.SIGTERM, path)
check(rc == 0, f"SIGTERM: exit 0 (got {rc})")
check("--resume" in err, "SIGTERM: the message says how to resume")
with h5py.File(path, "r") as f:
    partial = int(f["trials"]["done"][()].sum())
check(0 < partial < len(ref["done"]), f"SIGTERM: a partial file ({partial} of {len(ref['done'])} trials)")
run([campaign, "-o", path, "--resume", "--progress", "off"])
check(same(columns(path), ref), "SIGTERM + --resume equals the uninterrupted run")

# 4. kill -9 then --resume
path = os.path.join(work, "kill.h5")
rc, out, err = interrupted_run(signal.SIGKILL, path)
check(rc == -9, f"kill -9 killed it (rc {rc})")
with h5py.File(path, "r") as f:
    n_cols = len(f["trials"])
    partial = int(f["trials"]["done"][()].sum())
check(n_cols > 10 and partial < len(ref["done"]), f"after kill -9 h5py opens the file ({partial} trials done)")
run([campaign, "-o", path, "--resume", "--progress", "off"])
check(same(columns(path), ref), "kill -9 + --resume equals the uninterrupted run")

# 5. refusals
p = run([campaign, "-o", ref_path, "--progress", "off"], expect=1)
check("exists" in p.stderr and "--force" in p.stderr, "an existing file is not overwritten without --force")
other = os.path.join(work, "other.yaml")
with open(campaign) as f:
    text = f.read()
with open(other, "w") as f:
    f.write(text.replace("seed: 7", "seed: 8"))
p = run([other, "-o", ref_path, "--resume", "--progress", "off"], expect=1)
check("config" in p.stderr.lower() and "hash" in p.stderr.lower(), "--resume refuses a different config")
check(same(columns(ref_path), ref), "the refused runs left the file untouched")
p = run([campaign, "-o", os.path.join(work, "slurm.h5"), "--progress", "off"], expect=1,
        extra_env={"SLURM_NTASKS": "3", "SLURM_JOB_ID": "1234"})
check("SLURM_NTASKS=3" in p.stderr, "a world size different from SLURM_NTASKS is refused")

print(f"{len(failures)} failure(s)")
sys.exit(1 if failures else 0)
