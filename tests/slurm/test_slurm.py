"""test_slurm.py - the Slurm templates (slurm/*.sbatch) on a real local cluster.

Run inside tests/slurm/local_cluster.sh (which starts munge, slurmctld and
slurmd and exports SLURM_CONF); CTest does that (label `slurm`). Jobs are
submitted with sbatch and followed by polling squeue every 0.2 s. Every
result file is compared with h5py against a plain single-process run of the
same campaign: identical /trials columns except the volatile rank/device/
wall_s.

  1. campaign.sbatch, 2 tasks, srun --mpi=pmix, NNFI_BIN given: completes,
     world_size 2, the Slurm job id recorded;
  2. campaign.sbatch interrupted by the checkpoint signal
     (`scancel --signal=USR1 --batch`): the batch script forwards it, nnfi
     writes a checkpoint and exits 0, the job requeues itself, the restart
     (SLURM_RESTART_COUNT=1) runs `nnfi run --resume`; equal to the reference;
  3. campaign.sbatch requeued from outside mid-run (`scontrol requeue`, then
     `scontrol update StartTime=now`): resumes, equal to the reference;
  4. campaign_array.sbatch with 3 shards, then merge.sbatch as a job that
     depends on the array (afterok): the merged file equals the reference;
  5. campaign.sbatch with NNFI_LAUNCHER=mpirun: equal to the reference;
  6. campaign.sbatch without NNFI_CAMPAIGN fails with a message.

Usage: test_slurm.py NNFI_BINARY REPO_ROOT WORKDIR
"""
import os
import shutil
import subprocess
import sys
import time

os.environ["HDF5_USE_FILE_LOCKING"] = "FALSE"  # peek at files a job is writing
import h5py  # noqa: E402
import numpy as np  # noqa: E402

nnfi, root, work = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2]), os.path.abspath(sys.argv[3])
if not os.environ.get("SLURM_CONF"):
    sys.exit("test_slurm.py: SLURM_CONF is not set; run it through tests/slurm/local_cluster.sh DIR ...")
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
slurm = os.path.join(root, "slurm")
campaign = os.path.join(root, "tests", "slurm", "long.yaml")
VOLATILE = {"rank", "device", "wall_s"}
failures = []
t_start = time.time()

base_env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_", "SRUN_", "NNFI_"))}
base_env["SLURM_CONF"] = os.environ["SLURM_CONF"]


def check(cond, what):
    print(f"{'ok' if cond else 'FAIL'} [{time.time() - t_start:5.1f} s]: {what}", flush=True)
    if not cond:
        failures.append(what)


def sh(cmd, check_rc=True, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kw)
    if check_rc and p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {p.returncode}: {p.stdout}{p.stderr}")
    return p.stdout


def columns(path):
    with h5py.File(path, "r") as f:
        return {k: f["trials"][k][()] for k in f["trials"] if k not in VOLATILE and k != "trial"}


def same(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k].view(np.uint8), b[k].view(np.uint8)) for k in a)


def sbatch(script, variables, args=(), env=None):
    exports = ",".join(["ALL"] + [f"{k}={v}" for k, v in variables.items()])
    out = sh(["sbatch", "--parsable", f"--export={exports}", "--chdir", work] + list(args) +
             [os.path.join(slurm, script)], env=env or base_env, cwd=work)
    return out.strip().split(";")[0]


def job_info(jid):
    """scontrol's view of a job: {JobState, ExitCode, Restarts, ...}."""
    out = sh(["scontrol", "-o", "show", "job", jid], check_rc=False, env=base_env)
    info = {}
    for word in out.split():
        if "=" in word:
            k, v = word.split("=", 1)
            info.setdefault(k, v)
    return info


def squeue_states(jid):
    out = sh(["squeue", "-h", "-j", jid, "-o", "%T"], check_rc=False, env=base_env)
    return out.split()


FINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "BOOT_FAIL", "DEADLINE",
         "PREEMPTED"}


def finished(jid):
    """Every task of the job is in a final state (scontrol; squeue may briefly
    list nothing while a job is being requeued)."""
    out = sh(["scontrol", "-o", "show", "job", jid], check_rc=False, env=base_env)
    states = [w.split("=", 1)[1] for w in out.split() if w.startswith("JobState=")]
    return bool(states) and all(s in FINAL for s in states)


def wait_gone(jid, deadline_s=180, on_pending=None):
    """Poll squeue every 0.2 s until the job (all its array tasks) is over."""
    end = time.time() + deadline_s
    while time.time() < end:
        states = squeue_states(jid)
        if not states and finished(jid):
            return True
        if on_pending and "PENDING" in states:
            on_pending()
        time.sleep(0.2)
    print(f"job {jid} not over after {deadline_s} s: {squeue_states(jid)}")
    return False


def done_rows(path):
    try:
        with h5py.File(path, "r") as f:
            return int(f["progress"].attrs["trials_done"])
    except Exception:
        return 0


def wait_progress(path, jid, deadline_s=120):
    """Wait until a checkpoint holds some rows (the job is mid-run)."""
    end = time.time() + deadline_s
    while time.time() < end:
        if done_rows(path) > 0:
            return True
        if not squeue_states(jid):
            return False
        time.sleep(0.1)
    return False


def log_of(name):
    path = os.path.join(work, name)
    return open(path).read() if os.path.exists(path) else ""


def show_log(name):
    print(f"---- {name}\n{log_of(name)}----", flush=True)


def release(jid):
    """A requeued job waits for its BeginTime (about 2 min): start it sooner.
    Not at once: slurmd revokes the old run's credential with a time stamp in
    seconds and refuses ("Job credential revoked", the job FAILS) a new one
    issued within the same second, so wait 2 s after it turned pending."""
    first = []

    def go():
        if not first:
            first.append(time.time())
        elif time.time() - first[0] >= 2.0:
            sh(["scontrol", "update", f"JobId={jid}", "StartTime=now"], check_rc=False, env=base_env)
    return go


# ---- the reference: one plain process
ref_path = os.path.join(work, "ref.h5")
sh([nnfi, "run", campaign, "-o", ref_path, "--progress", "off", "--quiet"], env=base_env, cwd=work)
ref = columns(ref_path)
total = len(ref["done"])
check(bool(ref["done"].all()), f"reference run: {total} trials")
common = {"NNFI_CAMPAIGN": campaign, "NNFI_CHECKPOINT_EVERY": "0.3"}

# ---- 1. campaign.sbatch, srun --mpi=pmix, 2 tasks
out = os.path.join(work, "plain.h5")
jid = sbatch("campaign.sbatch", dict(common, NNFI_OUTPUT=out, NNFI_BIN=nnfi, NNFI_LAUNCHER="srun"),
             ["--nodes=1", "--ntasks=2"])
ok = wait_gone(jid)
info = job_info(jid)
log = f"nnfi-nnfi-{jid}.out"
if not (ok and info.get("JobState") == "COMPLETED"):
    show_log(log)
check(ok and info.get("JobState") == "COMPLETED" and info.get("ExitCode") == "0:0",
      f"campaign.sbatch (srun, 2 tasks): job {jid} COMPLETED, exit 0 ({info.get('JobState')})")
check("srun --mpi=pmix" in log_of(log), "the job step was launched with srun --mpi=pmix")
if os.path.exists(out):
    check(same(columns(out), ref), "srun job: identical to the single-process run")
    with h5py.File(out, "r") as f:
        check(int(f.attrs["world_size"]) == 2, "srun job: world_size 2")
        check(str(f.attrs.get("slurm_job_id", "")) == jid, "srun job: slurm_job_id recorded")
        check(len(np.unique(f["trials"]["rank"][()])) == 2, "srun job: both ranks ran trials")
else:
    check(False, f"srun job wrote {out}")

# put NNFI_BIN's default (`nnfi` on PATH) to work from here on
path_env = dict(base_env, PATH=os.path.dirname(nnfi) + os.pathsep + base_env.get("PATH", ""))

# ---- 2. the checkpoint signal, forwarded by the batch script, then self-requeue + resume
out = os.path.join(work, "signalled.h5")
jid = sbatch("campaign.sbatch", dict(common, NNFI_OUTPUT=out), ["--ntasks=2"], env=path_env)
mid = wait_progress(out, jid)
check(mid, "signal: the job is mid-run (a checkpoint with rows exists)")
sh(["scancel", "--signal=USR1", "--batch", jid], env=base_env)
ok = wait_gone(jid, on_pending=release(jid))
info = job_info(jid)
log = f"nnfi-nnfi-{jid}.out"
text = log_of(log)
if not (ok and info.get("JobState") == "COMPLETED" and "--resume" in text):
    show_log(log)
check(ok and info.get("JobState") == "COMPLETED",
      f"signal: job {jid} COMPLETED after its restart ({info.get('JobState')}, {info.get('Reason')})")
check(info.get("Restarts") == "1", f"signal: restarted once (Restarts={info.get('Restarts')})")
check("SIGUSR1: asking nnfi to write a checkpoint" in text, "signal: the trap forwarded USR1 to the step")
check("stopped by a signal after" in text, "signal: nnfi wrote its checkpoint and stopped")
check("requeueing job" in text, "signal: the job requeued itself")
check("resuming" in text and "SLURM_RESTART_COUNT=1" in text and "--resume" in text,
      "signal: the restart ran nnfi run --resume")
check(os.path.exists(out) and same(columns(out), ref), "signal + requeue + resume: identical to an uninterrupted run")

# ---- 3. scontrol requeue from outside, mid-run
out = os.path.join(work, "requeued.h5")
jid = sbatch("campaign.sbatch", dict(common, NNFI_OUTPUT=out), ["--ntasks=2"], env=path_env)
mid = wait_progress(out, jid)
check(mid, "requeue: the job is mid-run")
partial = done_rows(out)
sh(["scontrol", "requeue", jid], env=base_env)
ok = wait_gone(jid, on_pending=release(jid))
info = job_info(jid)
log = f"nnfi-nnfi-{jid}.out"
text = log_of(log)
if not (ok and info.get("JobState") == "COMPLETED" and "--resume" in text):
    show_log(log)
check(ok and info.get("JobState") == "COMPLETED" and info.get("Restarts") == "1",
      f"requeue: job {jid} COMPLETED after one restart (Restarts={info.get('Restarts')})")
check("resuming" in text and "--resume" in text, f"requeue: the restart resumed (a checkpoint had {partial} rows)")
check(os.path.exists(out) and same(columns(out), ref), "scontrol requeue + resume: identical to an uninterrupted run")

# ---- 4. the array template, 3 shards, then merge.sbatch depending on it
out = os.path.join(work, "array.h5")
arr = sbatch("campaign_array.sbatch", dict(common, NNFI_OUTPUT=out), ["--array=0-2", "--ntasks=1"], env=path_env)
mrg = sbatch("merge.sbatch", dict(common, NNFI_OUTPUT=out, NNFI_SHARDS="3"), [f"--dependency=afterok:{arr}"],
             env=path_env)
ok = wait_gone(arr) and wait_gone(mrg)
shards = [os.path.join(work, f"array.shard-{i}-of-3.h5") for i in range(3)]
for i, s in enumerate(shards):
    good = os.path.exists(s)
    if good:
        with h5py.File(s, "r") as f:
            good = int(f.attrs["shard_index"]) == i and int(f.attrs["shard_count"]) == 3
    if not good:
        show_log(f"nnfi-nnfi-shard-{arr}_{i}.out")
    check(good, f"array: task {i} wrote shard {i} of 3")
info = job_info(mrg)
if info.get("JobState") != "COMPLETED":
    show_log(f"nnfi-nnfi-merge-{mrg}.out")
check(ok and info.get("JobState") == "COMPLETED", f"merge.sbatch: job {mrg} ran after the array and COMPLETED")
check(os.path.exists(out) and same(columns(out), ref), "array of 3 shards + merge: identical to the single run")
if os.path.exists(out):
    with h5py.File(out, "r") as f:
        check(int(f.attrs["shard_count"]) == 1 and len(f.attrs["merged_from"]) == 3, "merged file: 3 shards, 0 of 1")

# ---- 5. mpirun as the launcher (Open MPI reads the allocation)
out = os.path.join(work, "mpirun.h5")
root_ok = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}  # test only: jobs run as root here
jid = sbatch("campaign.sbatch", dict(common, NNFI_OUTPUT=out, NNFI_LAUNCHER="mpirun", **root_ok),
             ["--ntasks=2"], env=path_env)
ok = wait_gone(jid)
info = job_info(jid)
if info.get("JobState") != "COMPLETED":
    show_log(f"nnfi-nnfi-{jid}.out")
check(ok and info.get("JobState") == "COMPLETED", f"mpirun launcher: job {jid} COMPLETED")
check(os.path.exists(out) and same(columns(out), ref), "mpirun launcher: identical to the single run")

# ---- 6. a mistake is a failed job with a message
jid = sbatch("campaign.sbatch", {"NNFI_OUTPUT": os.path.join(work, "none.h5")}, ["--ntasks=1"], env=path_env)
wait_gone(jid)
info = job_info(jid)
check(info.get("JobState") == "FAILED" and "NNFI_CAMPAIGN is not set" in log_of(f"nnfi-nnfi-{jid}.out"),
      "no NNFI_CAMPAIGN: the job FAILED with a message saying so")

print(f"{len(failures)} failure(s) in {time.time() - t_start:.1f} s")
sys.exit(1 if failures else 0)
