"""test_slurm.py - the Slurm templates (slurm/*.sbatch) on a real local cluster
(pytest; CTest `slurm_templates`, label `slurm`; fixtures in tests/conftest.py).

The module fixture `cluster` starts one cluster for the whole file with
tests/slurm/local_cluster.sh (munged, slurmctld, slurmd under a directory of
their own; SLURM_CONF points the clients at it) and stops it at the end. Where
Slurm or munge cannot run (not installed, not root: local_cluster.sh exits 77)
every test is skipped, and CTest reports a skip. Jobs are submitted with sbatch
and followed by polling squeue every 0.2 s. Every result file is compared with
h5py against a plain single-process run of the same campaign: identical
/trials columns except the volatile rank/device/wall_s.

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

By hand (as root): NNFI_BIN=build/src/nnfi /usr/bin/python3 -m pytest tests/slurm -q
"""
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

os.environ["HDF5_USE_FILE_LOCKING"] = "FALSE"  # peek at files a job is writing
import h5py  # noqa: E402
import numpy as np  # noqa: E402
import sys  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "analysis"))
from nnfi_analysis import journal as njournal  # noqa: E402  (rows of checkpoints not yet folded)

HERE = Path(__file__).resolve().parent
CAMPAIGN = str(HERE / "long.yaml")
VOLATILE = {"rank", "device", "wall_s"}
SKIP = 77  # local_cluster.sh: Slurm or munge cannot run here
FINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "BOOT_FAIL", "DEADLINE",
         "PREEMPTED"}


class Cluster:
    """The clients' side of the local cluster: sbatch/squeue/scontrol with
    SLURM_CONF, jobs run in `jobs` (their logs and result files)."""

    def __init__(self, slurm_conf, jobs, slurm_dir, nnfi):
        self.jobs = jobs
        self.slurm_dir = slurm_dir
        self.nnfi = str(nnfi)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_", "SRUN_", "NNFI_"))}
        self.env["SLURM_CONF"] = slurm_conf
        # NNFI_BIN's default (`nnfi` on PATH) for the jobs that do not give it
        self.path_env = dict(self.env, PATH=os.path.dirname(self.nnfi) + os.pathsep + self.env.get("PATH", ""))

    def sh(self, cmd, check_rc=True, env=None):
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env or self.env, cwd=self.jobs)
        if check_rc and p.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} exited {p.returncode}: {p.stdout}{p.stderr}")
        return p.stdout

    def sbatch(self, script, variables, args=(), env=None):
        exports = ",".join(["ALL"] + [f"{k}={v}" for k, v in variables.items()])
        out = self.sh(["sbatch", "--parsable", f"--export={exports}", "--chdir", str(self.jobs)] + list(args) +
                      [str(self.slurm_dir / script)], env=env or self.path_env)
        return out.strip().split(";")[0]

    def job_info(self, jid):
        """scontrol's view of a job: {JobState, ExitCode, Restarts, ...}."""
        info = {}
        for word in self.sh(["scontrol", "-o", "show", "job", jid], check_rc=False).split():
            if "=" in word:
                k, v = word.split("=", 1)
                info.setdefault(k, v)
        return info

    def squeue_states(self, jid):
        return self.sh(["squeue", "-h", "-j", jid, "-o", "%T"], check_rc=False).split()

    def finished(self, jid):
        """Every task of the job is in a final state (scontrol; squeue may
        briefly list nothing while a job is being requeued)."""
        out = self.sh(["scontrol", "-o", "show", "job", jid], check_rc=False)
        states = [w.split("=", 1)[1] for w in out.split() if w.startswith("JobState=")]
        return bool(states) and all(s in FINAL for s in states)

    def wait_gone(self, jid, deadline_s=180, on_pending=None):
        """Poll squeue every 0.2 s until the job (all its array tasks) is over."""
        end = time.time() + deadline_s
        while time.time() < end:
            states = self.squeue_states(jid)
            if not states and self.finished(jid):
                return True
            if on_pending and "PENDING" in states:
                on_pending()
            time.sleep(0.2)
        print(f"job {jid} not over after {deadline_s} s: {self.squeue_states(jid)}")
        return False

    def wait_progress(self, path, jid, deadline_s=120):
        """Wait until a checkpoint holds some rows (the job is mid-run)."""
        end = time.time() + deadline_s
        while time.time() < end:
            if done_rows(path) > 0:
                return True
            if not self.squeue_states(jid):
                return False
            time.sleep(0.1)
        return False

    def release(self, jid):
        """A requeued job waits for its BeginTime (about 2 min): start it
        sooner. Not at once: slurmd revokes the old run's credential with a
        time stamp in seconds and refuses ("Job credential revoked", the job
        FAILS) a new one issued within the same second, so wait 2 s after it
        turned pending."""
        first = []

        def go():
            if not first:
                first.append(time.time())
            elif time.time() - first[0] >= 2.0:
                self.sh(["scontrol", "update", f"JobId={jid}", "StartTime=now"], check_rc=False)
        return go

    def log(self, name):
        path = self.jobs / name
        return path.read_text() if path.exists() else ""

    def show_log(self, name):
        print(f"---- {name}\n{self.log(name)}----", flush=True)


def columns(path):
    with h5py.File(path, "r") as f:
        return {k: f["trials"][k][()] for k in f["trials"] if k not in VOLATILE and k != "trial"}


def same(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k].view(np.uint8), b[k].view(np.uint8)) for k in a)


def done_rows(path):
    try:
        with h5py.File(path, "r") as f:  # checkpointed rows: the file and its journal
            return int(njournal.progress(f).get("trials_done", 0))
    except Exception:
        return 0


@pytest.fixture(scope="module")
def cluster(nnfi_bin, source_dir, work_dir):
    """One local cluster for the module: local_cluster.sh runs a command that
    reports SLURM_CONF and waits for a stop file (or for this process to
    end); the teardown writes it (and
    TERMs the script, by its pid, if it does not end: its trap stops the
    daemons). Skips when local_cluster.sh exits 77 (no Slurm/munge, not root);
    any other early exit is a failure with the daemons' logs."""
    jobs = work_dir / "jobs"
    shutil.rmtree(jobs, ignore_errors=True)
    jobs.mkdir(parents=True)
    ready, stop, log = work_dir / "cluster.conf", work_dir / "cluster.stop", work_dir / "cluster.log"
    for p in (ready, stop):
        p.unlink(missing_ok=True)
    # the waiter also ends when this process is gone (killed by CTest's timeout)
    wait = (f'printf %s "$SLURM_CONF" >"{ready}.tmp" && mv "{ready}.tmp" "{ready}"; '
            f'while [[ ! -e "{stop}" ]] && kill -0 {os.getpid()} 2>/dev/null; do sleep 0.2; done')
    with open(log, "w") as out:
        proc = subprocess.Popen(["bash", str(HERE / "local_cluster.sh"), "auto", "bash", "-c", wait],
                                stdout=out, stderr=subprocess.STDOUT, cwd=work_dir)
    end = time.time() + 120
    while not ready.exists() and proc.poll() is None and time.time() < end:
        time.sleep(0.1)
    if not ready.exists():
        if proc.poll() is None:
            stop.touch()
            proc.terminate()
            proc.wait(timeout=60)
        text = log.read_text()
        if proc.returncode == SKIP:
            pytest.skip(f"Slurm/munge cannot run here: {text.strip()}")
        pytest.fail(f"the local cluster did not come up (local_cluster.sh exit {proc.returncode}):\n{text}",
                    pytrace=False)
    try:
        yield Cluster(ready.read_text(), jobs, source_dir / "slurm", nnfi_bin)
    finally:
        stop.touch()
        try:
            proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            proc.terminate()
            proc.wait(timeout=60)
        print(log.read_text())


@pytest.fixture(scope="module")
def ref(cluster):
    """The reference: one plain process (columns of its /trials)."""
    path = cluster.jobs / "ref.h5"
    cluster.sh([cluster.nnfi, "run", CAMPAIGN, "-o", str(path), "--progress", "off", "--quiet"])
    cols = columns(path)
    assert cols["done"].all(), "the reference run completes every trial"
    return cols


@pytest.fixture
def common():
    return {"NNFI_CAMPAIGN": CAMPAIGN, "NNFI_CHECKPOINT_EVERY": "0.3"}


def test_srun_pmix(cluster, ref, common, check):
    """campaign.sbatch, srun --mpi=pmix, 2 tasks, NNFI_BIN given."""
    out = cluster.jobs / "plain.h5"
    jid = cluster.sbatch("campaign.sbatch", dict(common, NNFI_OUTPUT=out, NNFI_BIN=cluster.nnfi, NNFI_LAUNCHER="srun"),
                         ["--nodes=1", "--ntasks=2"], env=cluster.env)
    ok = cluster.wait_gone(jid)
    info = cluster.job_info(jid)
    log = f"nnfi-nnfi-{jid}.out"
    if not (ok and info.get("JobState") == "COMPLETED"):
        cluster.show_log(log)
    check(ok and info.get("JobState") == "COMPLETED" and info.get("ExitCode") == "0:0",
          f"campaign.sbatch (srun, 2 tasks): job {jid} COMPLETED, exit 0 ({info.get('JobState')})")
    check("srun --mpi=pmix" in cluster.log(log), "the job step was launched with srun --mpi=pmix")
    if not check(out.exists(), f"srun job wrote {out}"):
        return
    check(same(columns(out), ref), "srun job: identical to the single-process run")
    with h5py.File(out, "r") as f:
        check(int(f.attrs["world_size"]) == 2, "srun job: world_size 2")
        check(str(f.attrs.get("slurm_job_id", "")) == jid, "srun job: slurm_job_id recorded")
        check(len(np.unique(f["trials"]["rank"][()])) == 2, "srun job: both ranks ran trials")


def test_signal_checkpoint_requeue_resume(cluster, ref, common, check):
    """The checkpoint signal, forwarded by the batch script, then self-requeue + resume."""
    out = cluster.jobs / "signalled.h5"
    jid = cluster.sbatch("campaign.sbatch", dict(common, NNFI_OUTPUT=out), ["--ntasks=2"])
    check(cluster.wait_progress(out, jid), "signal: the job is mid-run (a checkpoint with rows exists)")
    cluster.sh(["scancel", "--signal=USR1", "--batch", jid])
    ok = cluster.wait_gone(jid, on_pending=cluster.release(jid))
    info = cluster.job_info(jid)
    log = f"nnfi-nnfi-{jid}.out"
    text = cluster.log(log)
    if not (ok and info.get("JobState") == "COMPLETED" and "--resume" in text):
        cluster.show_log(log)
    check(ok and info.get("JobState") == "COMPLETED",
          f"signal: job {jid} COMPLETED after its restart ({info.get('JobState')}, {info.get('Reason')})")
    check(info.get("Restarts") == "1", f"signal: restarted once (Restarts={info.get('Restarts')})")
    check("SIGUSR1: asking nnfi to write a checkpoint" in text, "signal: the trap forwarded USR1 to the step")
    check("stopped by a signal after" in text, "signal: nnfi wrote its checkpoint and stopped")
    check("requeueing job" in text, "signal: the job requeued itself")
    check("resuming" in text and "SLURM_RESTART_COUNT=1" in text and "--resume" in text,
          "signal: the restart ran nnfi run --resume")
    check(out.exists() and same(columns(out), ref), "signal + requeue + resume: identical to an uninterrupted run")


def test_scontrol_requeue_resume(cluster, ref, common, check):
    """scontrol requeue from outside, mid-run."""
    out = cluster.jobs / "requeued.h5"
    jid = cluster.sbatch("campaign.sbatch", dict(common, NNFI_OUTPUT=out), ["--ntasks=2"])
    check(cluster.wait_progress(out, jid), "requeue: the job is mid-run")
    partial = done_rows(out)
    cluster.sh(["scontrol", "requeue", jid])
    ok = cluster.wait_gone(jid, on_pending=cluster.release(jid))
    info = cluster.job_info(jid)
    log = f"nnfi-nnfi-{jid}.out"
    text = cluster.log(log)
    if not (ok and info.get("JobState") == "COMPLETED" and "--resume" in text):
        cluster.show_log(log)
    check(ok and info.get("JobState") == "COMPLETED" and info.get("Restarts") == "1",
          f"requeue: job {jid} COMPLETED after one restart (Restarts={info.get('Restarts')})")
    check("resuming" in text and "--resume" in text, f"requeue: the restart resumed (a checkpoint had {partial} rows)")
    check(out.exists() and same(columns(out), ref), "scontrol requeue + resume: identical to an uninterrupted run")


def test_array_and_merge(cluster, ref, common, check):
    """The array template, 3 shards, then merge.sbatch depending on it."""
    out = cluster.jobs / "array.h5"
    arr = cluster.sbatch("campaign_array.sbatch", dict(common, NNFI_OUTPUT=out), ["--array=0-2", "--ntasks=1"])
    mrg = cluster.sbatch("merge.sbatch", dict(common, NNFI_OUTPUT=out, NNFI_SHARDS="3"),
                         [f"--dependency=afterok:{arr}"])
    ok = cluster.wait_gone(arr) and cluster.wait_gone(mrg)
    for i in range(3):
        shard = cluster.jobs / f"array.shard-{i}-of-3.h5"
        good = shard.exists()
        if good:
            with h5py.File(shard, "r") as f:
                good = int(f.attrs["shard_index"]) == i and int(f.attrs["shard_count"]) == 3
        if not good:
            cluster.show_log(f"nnfi-nnfi-shard-{arr}_{i}.out")
        check(good, f"array: task {i} wrote shard {i} of 3")
    info = cluster.job_info(mrg)
    if info.get("JobState") != "COMPLETED":
        cluster.show_log(f"nnfi-nnfi-merge-{mrg}.out")
    check(ok and info.get("JobState") == "COMPLETED", f"merge.sbatch: job {mrg} ran after the array and COMPLETED")
    check(out.exists() and same(columns(out), ref), "array of 3 shards + merge: identical to the single run")
    if out.exists():
        with h5py.File(out, "r") as f:
            check(int(f.attrs["shard_count"]) == 1 and len(f.attrs["merged_from"]) == 3,
                  "merged file: 3 shards, 0 of 1")


def test_mpirun_launcher(cluster, ref, common, check):
    """mpirun as the launcher (Open MPI reads the allocation)."""
    out = cluster.jobs / "mpirun.h5"
    root_ok = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}  # test only: jobs run as root
    jid = cluster.sbatch("campaign.sbatch", dict(common, NNFI_OUTPUT=out, NNFI_LAUNCHER="mpirun", **root_ok),
                         ["--ntasks=2"])
    ok = cluster.wait_gone(jid)
    info = cluster.job_info(jid)
    if info.get("JobState") != "COMPLETED":
        cluster.show_log(f"nnfi-nnfi-{jid}.out")
    check(ok and info.get("JobState") == "COMPLETED", f"mpirun launcher: job {jid} COMPLETED")
    check(out.exists() and same(columns(out), ref), "mpirun launcher: identical to the single run")


def test_missing_campaign_fails(cluster, check):
    """A mistake is a failed job with a message."""
    jid = cluster.sbatch("campaign.sbatch", {"NNFI_OUTPUT": cluster.jobs / "none.h5"}, ["--ntasks=1"])
    cluster.wait_gone(jid)
    info = cluster.job_info(jid)
    log = cluster.log(f"nnfi-nnfi-{jid}.out")
    check(info.get("JobState") == "FAILED" and "NNFI_CAMPAIGN is not set" in log,
          f"no NNFI_CAMPAIGN: the job FAILED with a message saying so ({info.get('JobState')})")
