#!/usr/bin/python3
"""drills.py - crash and resume drills for `nnfi run` (tests/RELIABILITY.md).

Each drill starts real nnfi processes (a plain process or mpiexec), hurts them
the way a long campaign gets hurt, and reads the result file back with h5py:

  kill      kill -9 the whole job at N random moments (a seeded RNG; the seed
            and every moment are printed), then --resume each time: after
            every kill the file opens, its done rows equal the uninterrupted
            run's, /faults holds exactly the done trials' faults; the resumed
            file equals the uninterrupted run in every non-volatile /trials
            column and /faults holds each trial's faults once
  ckptkill  the same, one process, checkpointing all the time (--checkpoint-every
            0.001), kill moments in the trial phase: the kills land inside
            checkpoints (before PATH.ckpt + rename, 8 of 40 such kills left
            columns that no longer inflated)
  rankloss  mpiexec -n 3: kill -9 one worker rank mid-run: the job ends before
            a deadline with a message naming the lost rank and how to resume,
            the file opens, and --resume completes it identically
  fsize     a file-size limit (ulimit -f) hit while writing: exit 1 with a
            message naming the file and the limit, the file keeps every
            checkpointed trial; --resume without the limit completes it
  fsize_tmpfs  the same on a tiny tmpfs (skip, 77, where mounting is refused)
  corrupt   --resume of a truncated file (several offsets), of a file with
            bytes overwritten in the middle, of another campaign's file:
            exit 1, a message naming the file and a hint, the file unchanged
  inputs    a missing campaign file or a directory (exit 1, no hang), a truncated TorchScript model, an eval set of the wrong shape
            (message names the dataset and both shapes), NaN faults on the
            null model counted as DUE
  inputs_torch  a truncated TorchScript model, NaN faults on a torch CNN
            counted as DUE (needs --fixtures; skip, 77, without)
  symlink   a symlink at -o (run, run --force, merge, merge --force): refused,
            the link's target untouched

CTest runs them through pytest (test_drills.py, one test per drill). By hand:
Usage: drills.py DRILL NNFI_BINARY WORKDIR [options]
  --mpiexec PATH   the MPI launcher (kill: also run the 2-rank mode; rankloss);
                   its NUMPROC/PRE/POSTFLAGS from NNFI_MPIEXEC_* (default -n)
  --count N        kill: moments per mode (default 10)
  --seed S         kill: RNG seed (default: from the clock, printed)
  --fixtures DIR   inputs: tests/torch fixtures (cnn.pt ...) for the torch cases
Exit 0 when every check passed, 1 otherwise, 77 when the drill cannot run here.
"""
import argparse
import hashlib
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import time

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "analysis"))
import nnfitest  # noqa: E402
from nnfi_analysis import journal as njournal  # noqa: E402  (rows of checkpoints not yet folded into the file)

HERE = os.path.dirname(os.path.abspath(__file__))
CAMPAIGN = os.path.join(HERE, "drill.yaml")
VOLATILE = {"rank", "device", "wall_s"}
SKIP = nnfitest.SKIP

class Skip(Exception):
    """The drill cannot run here (exit 77 from the command line, a pytest skip)."""


args = nnfi = work = env = None
failures = []
counts = {}


def setup(drill, nnfi_bin, work_root, mpiexec=None, count=10, seed=None, fixtures=None):
    """Point the drills at nnfi_bin and a fresh WORK_ROOT/DRILL; mpiexec is an
    nnfitest.MpiLauncher (None: no MPI modes)."""
    global args, nnfi, work, env
    args = argparse.Namespace(drill=drill, mpiexec=mpiexec, count=count, seed=seed, fixtures=fixtures)
    nnfi = os.path.abspath(nnfi_bin)
    work = os.path.abspath(os.path.join(work_root, drill))
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    # the Open MPI settings; a drill inside an allocation must not see its task count
    env = {k: v for k, v in nnfitest.mpi_env().items() if not k.startswith("SLURM_")}
    failures.clear()
    counts.clear()


def check(cond, what):
    print(("ok: " if cond else "FAIL: ") + what, flush=True)
    if not cond:
        failures.append(what)
    return cond


def finish():
    print("ran: " + "; ".join(f"{k} x{v}" for k, v in counts.items()))
    print(f"{len(failures)} failure(s)")
    return 1 if failures else 0


def cmd_of(nnfi_args, ranks=0):
    return args.mpiexec.cmd(ranks, nnfi, *nnfi_args) if ranks else [nnfi] + nnfi_args


def nnfi_run(nnfi_args, ranks=0, expect=0, timeout=300, **kw):
    """Run nnfi to the end; check its exit status; return the CompletedProcess."""
    cmd = cmd_of(nnfi_args, ranks)
    p = subprocess.run(cmd, env=env, cwd=work, capture_output=True, text=True, timeout=timeout, **kw)
    if p.returncode != expect:
        print(p.stdout, p.stderr, sep="\n")
    check(p.returncode == expect, f"{' '.join(nnfi_args[:1] + nnfi_args[2:])} exits {expect} (got {p.returncode})")
    return p


def run_args(out, *extra, campaign=CAMPAIGN):
    return ["run", campaign, "-o", out, "--progress", "off", "--quiet"] + list(extra)


def trial_columns(path):
    """Every non-volatile /trials column as a reader sees it: the file with
    its checkpoint journal (PATH.journal) laid over it."""
    with h5py.File(path, "r") as f:
        j = njournal.read_journal(f)
        return {k: njournal.overlay(j, k, f["trials"][k][()]) for k in f["trials"] if k not in VOLATILE}


def fault_rows(path):
    """/faults (file, then journal) as a sorted list of row tuples (its order is checkpoint order)."""
    with h5py.File(path, "r") as f:
        cols = njournal.fault_columns(f)
    if not cols:
        return []
    names = ["trial"] + sorted(k for k in cols if k != "trial")
    return sorted(zip(*[cols[k].tolist() for k in names]))


def copy_result(src, dst):
    """Copy a result file with its checkpoint journal."""
    shutil.copy(src, dst)
    if os.path.exists(src + ".journal"):
        shutil.copy(src + ".journal", dst + ".journal")
    elif os.path.exists(dst + ".journal"):
        os.remove(dst + ".journal")


def same_rows(a, b, rows=None):
    """Bit-for-bit (NaN-aware) equality of two column dicts, on `rows` if given."""
    if a.keys() != b.keys():
        return False
    sel = slice(None) if rows is None else rows
    return all(np.array_equal(a[k][sel].view(np.uint8), b[k][sel].view(np.uint8)) for k in a)


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def wait_done(path, more_than, deadline_s=60):
    """Poll the file (without locking it) until more than `more_than` trials are checkpointed."""
    deadline = time.time() + deadline_s
    while time.time() < deadline:
        time.sleep(0.05)
        try:
            with h5py.File(path, "r") as f:
                if int(njournal.overlay_trials(f, "done").sum()) > more_than:
                    return True
        except Exception:
            pass
    return False


def session_pids(sid):
    """Processes of session `sid` (the job started with start_new_session)."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[3]) == sid:  # field 6 of stat: session id
                pids.append(int(d))
        except (OSError, IndexError, ValueError):
            pass
    return pids


def kill_session(sid):
    """SIGKILL every process of the session until none is left (mpiexec may be starting ranks)."""
    deadline = time.time() + 10
    while time.time() < deadline:
        pids = [p for p in session_pids(sid) if not is_zombie(p)]
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.02)


def is_zombie(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def rank_pid(sid, rank):
    for pid in session_pids(sid):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                envs = f.read().split(b"\0")
            if f"OMPI_COMM_WORLD_RANK={rank}".encode() in envs and os.path.basename(os.readlink(f"/proc/{pid}/exe")) == "nnfi":
                return pid
        except OSError:
            pass
    return None


# ------------------------------------------------------------------ kill --


def reference(ranks=0):
    path = os.path.join(work, f"ref{ranks}.h5")
    t0 = time.time()
    nnfi_run(run_args(path, "--force"), ranks=ranks)
    secs = time.time() - t0
    cols = trial_columns(path)
    check(bool(cols["done"].all()), f"reference run (ranks {ranks or 1}) completes every trial in {secs:.2f} s")
    return cols, fault_rows(path), secs


def kill_drill(every="0.05", trial_phase=False):
    """trial_phase (ckptkill): the even moments run with NNFI_FOLD_MB=0, so
    every checkpoint also folds the journal into the file (kills inside the
    copy-fsync-rename), the odd ones with the default (kills inside journal
    appends)."""
    seed = args.seed if args.seed is not None else int(time.time()) % 100000
    print(f"kill drill: seed {seed} (rerun with --seed {seed}), {args.count} moments per mode, "
          f"checkpoint every {every} s", flush=True)
    rng = random.Random(seed)
    ref, ref_faults, _ = reference()
    modes = [0] + ([2] if args.mpiexec and not trial_phase else [])
    for ranks in modes:
        label = f"mpiexec -n {ranks}" if ranks else "one process"
        _, _, secs = reference(ranks)  # the job's own length sets the range of moments
        ran = 0
        phases = {"before the file existed": 0, "part way": 0, "all trials done, before exit": 0}
        for i in range(args.count):
            path = os.path.join(work, f"kill{ranks}_{i}.h5")
            cmd = cmd_of(run_args(path, "--checkpoint-every", every), ranks)
            fold_every = trial_phase and i % 2 == 0
            run_env = dict(env, NNFI_FOLD_MB="0") if fold_every else env
            for attempt in range(8):
                # trial_phase: after start-up (about a third of a run here), before the end
                at = rng.uniform(0.35 * secs, 0.95 * secs) if trial_phase else rng.uniform(0.0, secs)
                if os.path.exists(path):
                    os.remove(path)
                p = subprocess.Popen(cmd, env=run_env, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     start_new_session=True)
                t0, ended = time.time(), None
                while time.time() - t0 < at:
                    if p.poll() is not None:
                        ended = time.time() - t0
                        break
                    time.sleep(0.005)
                if ended is None and p.poll() is not None:  # it ended between the last poll and the moment
                    ended = time.time() - t0
                if ended is None:
                    kill_session(p.pid)  # the whole job at once, as a node failure would
                p.communicate(timeout=60)
                if ended is None and p.returncode == 0:  # it finished by itself as the kill came
                    ended = at
                if ended is None:
                    break
                # the reference ran slower than this job (a busy machine): the moments follow the real job
                print(f"{label}, drill {i}: the job ended ({ended:.2f} s, rc {p.returncode}) before the moment "
                      f"{at:.3f} s: moments now within {ended:.2f} s, drawn again")
                secs = min(secs, ended)
            what = f"{label}, drill {i}{' (a fold at every checkpoint)' if fold_every else ''}: kill -9 at {at:.3f} s"
            check(p.returncode == -signal.SIGKILL, f"{what}: the job was killed (rc {p.returncode})")
            if not os.path.exists(path):
                phases["before the file existed"] += 1
                print(f"{what}: before the result file existed; a fresh run")
                nnfi_run(run_args(path), ranks=ranks)
            else:
                try:
                    part = trial_columns(path)
                    part_faults = fault_rows(path)
                    opened = True
                except Exception as e:  # noqa: BLE001 - any failure to read is the finding
                    print(f"{what}: h5py: {e!r}")
                    opened = False
                if not check(opened, f"{what}: h5py opens the file and reads every column"):
                    continue
                done = part["done"].astype(bool)
                phases["part way" if not done.all() else "all trials done, before exit"] += 1
                check(same_rows(part, ref, done), f"{what}: its {int(done.sum())} done rows equal the uninterrupted run's")
                done_trials = set(np.nonzero(done)[0].tolist())
                want = [r for r in ref_faults if r[0] in done_trials]  # 'trial' comes first
                check(part_faults == want, f"{what}: /faults holds exactly the done trials' faults")
                nnfi_run(run_args(path, "--resume"), ranks=ranks)
            check(same_rows(trial_columns(path), ref), f"{what}: the completed file equals the uninterrupted run")
            check(fault_rows(path) == ref_faults, f"{what}: every trial's faults once in /faults")
            ran += 1
        counts[label] = ran
        print(f"{label}: kills landed " + ", ".join(f"{k}: {v}" for k, v in phases.items()), flush=True)
    print("kill drills run: " + ", ".join(f"{k}: {v}" for k, v in counts.items()))


# -------------------------------------------------------------- rankloss --


def rankloss_drill():
    if not args.mpiexec:
        raise Skip("no MPI launcher")
    ref, ref_faults, _ = reference()
    path = os.path.join(work, "rankloss.h5")
    cmd = cmd_of(run_args(path, "--checkpoint-every", "0.05"), 3)
    p = subprocess.Popen(cmd, env=env, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    check(wait_done(path, 20), "mpiexec -n 3: some trials checkpointed")
    victim = rank_pid(p.pid, 1)
    check(victim is not None, f"found rank 1's pid ({victim})")
    if victim:
        os.kill(victim, signal.SIGKILL)
    deadline = 90
    try:
        out, err = p.communicate(timeout=deadline)
        hung = False
    except subprocess.TimeoutExpired:
        hung = True
        kill_session(p.pid)
        out, err = p.communicate()
    print(err)
    check(not hung, f"the job ends within {deadline} s of losing rank 1 (no hang)")
    check(p.returncode != 0, f"the job reports failure (rc {p.returncode})")
    check("rank 1" in err, "the message names the lost rank (rank 1)")
    check("--resume" in err, "the message says how to resume")
    try:
        part = trial_columns(path)
        opened = True
    except Exception as e:  # noqa: BLE001
        print(f"h5py: {e!r}")
        opened = False
    if check(opened, "h5py opens the file after the rank loss"):
        done = part["done"].astype(bool)
        check(0 < done.sum() < len(done), f"a partial file ({int(done.sum())} of {len(done)} trials)")
        check(same_rows(part, ref, done), "its done rows equal the uninterrupted run's")
        nnfi_run(run_args(path, "--resume"), ranks=2)
        check(same_rows(trial_columns(path), ref), "--resume (mpiexec -n 2) completes it identically")
        check(fault_rows(path) == ref_faults, "every trial's faults once in /faults")
    counts["rank killed mid-run"] = 1

    # a rank that is alive but never answers (SIGSTOP: a hung node), then a stop: rank 0 must not wait forever
    path = os.path.join(work, "rankstop.h5")
    e = dict(env, NNFI_STOP_DEADLINE_S="3")
    p = subprocess.Popen(cmd_of(run_args(path, "--checkpoint-every", "0.05"), 3), env=e, cwd=work,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    check(wait_done(path, 20), "mpiexec -n 3: some trials checkpointed")
    victim, boss = rank_pid(p.pid, 1), rank_pid(p.pid, 0)
    check(victim is not None and boss is not None, f"found the pids of rank 1 ({victim}) and rank 0 ({boss})")
    if victim and boss:
        os.kill(victim, signal.SIGSTOP)
        os.kill(boss, signal.SIGTERM)
    try:
        out, err = p.communicate(timeout=deadline)
        hung = False
    except subprocess.TimeoutExpired:
        hung = True
        kill_session(p.pid)
        out, err = p.communicate()
    print(err)
    check(not hung, f"a stopped (hung) rank 1 and SIGTERM: the job ends within {deadline} s (deadline 3 s)")
    check(p.returncode != 0 and "rank(s) 1 did not answer" in err and "--resume" in err,
          f"the message names rank 1 and says how to resume (rc {p.returncode})")
    try:
        part = trial_columns(path)
        check(same_rows(part, ref, part["done"].astype(bool)), "h5py opens the file; its done rows are right")
        nnfi_run(run_args(path, "--resume"), ranks=2)
        check(same_rows(trial_columns(path), ref), "--resume completes it identically")
    except OSError as ex:
        check(False, f"h5py opens the file ({ex!r})")
    counts["rank hung (SIGSTOP) at a stop"] = 1


# ----------------------------------------------------------------- fsize --


def fsize_case(label, path, limit_bytes=None, fold_every=False):
    """Run until the write fails (a size limit or a full file system);
    fold_every: NNFI_FOLD_MB=0 (every checkpoint folds the journal into the file)."""
    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_DFL)  # as a shell leaves it: nnfi must cope itself
        if limit_bytes:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))
    # a singleton's MPI start keeps its PMIx data in shared-memory files, which the limit would break
    e = dict(env, PMIX_MCA_gds="hash")
    if fold_every:
        e["NNFI_FOLD_MB"] = "0"
    p = subprocess.run(cmd_of(run_args(path, "--checkpoint-every", "0.05")), env=e, cwd=work,
                       capture_output=True, text=True, timeout=120, preexec_fn=limit)
    print(p.stderr)
    check(p.returncode == 1, f"{label}: exit 1 (got {p.returncode}; -{int(signal.SIGXFSZ)} is death by SIGXFSZ)")
    check(path in p.stderr and ("size limit" in p.stderr or "full" in p.stderr),
          f"{label}: the message names the file and the limit / full disk")
    return p


def fsize_drill():
    ref, ref_faults, _ = reference()
    # the limit: a bit more than the freshly created file, so that some checkpoints fit
    probe = os.path.join(work, "probe.h5")
    nnfi_run(run_args(probe, "--force"))
    with h5py.File(probe, "r") as f:
        pass
    full = os.path.getsize(probe)
    for fold_every in (True, False):
        mode = "a fold at every checkpoint" if fold_every else "journal"
        path = os.path.join(work, f"fsize_{'fold' if fold_every else 'journal'}.h5")
        # the skeleton (sites, golden logits) is most of the file, and a fold needs room for its
        # copy's growth: find a limit between that stops the run part way. In journal mode the
        # checkpoints go to PATH.journal and the limit strikes at the final fold: every row is
        # then in the journal, and --resume folds it.
        p = None
        for frac in (1.3, 1.2, 1.4, 1.1, 1.5, 1.7, 2.0, 1.0):
            for old in (path, path + ".journal"):
                if os.path.exists(old):
                    os.remove(old)
            limit_bytes = int(full * frac)
            print(f"{mode}: ulimit -f {limit_bytes // 1024} KiB ({limit_bytes} bytes; the complete file has {full})")
            p = fsize_case(f"{mode}: file-size limit {limit_bytes} B", path, limit_bytes, fold_every)
            if os.path.exists(path) and trial_columns(path)["done"].any():
                break
        if check(os.path.exists(path), f"{mode}: a limit was found that lets the file be created"):
            part = trial_columns(path)
            done = part["done"].astype(bool)
            if fold_every:
                check(done.sum() < len(done),
                      f"{mode}: the limit stopped the run part way ({int(done.sum())} of {len(done)} done)")
            check(same_rows(part, ref, done),
                  f"{mode}: file and journal keep the {int(done.sum())} checkpointed rows, equal to the uninterrupted run's")
            nnfi_run(run_args(path, "--resume"))
            check(same_rows(trial_columns(path), ref), f"{mode}: --resume without the limit completes it identically")
            check(fault_rows(path) == ref_faults, f"{mode}: every trial's faults once in /faults")
            check(not os.path.exists(path + ".journal"), f"{mode}: the completed run leaves no journal")
    counts["fsize"] = 1


def fsize_tmpfs_drill():
    """A full file system: a tiny tmpfs, where this machine lets root mount one."""
    ref, ref_faults, _ = reference()
    probe = os.path.join(work, "probe.h5")
    nnfi_run(run_args(probe, "--force"))
    full = os.path.getsize(probe)
    mnt = os.path.join(work, "tiny")
    os.makedirs(mnt)
    size_kib = max(64, int(full * 2.5) // 1024)  # room for the file, its working copy and a reserve
    m = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", mnt], capture_output=True, text=True)
    if m.returncode != 0:
        raise Skip(f"tmpfs case: mount failed: {m.stderr.strip()}")
    try:
        path = os.path.join(mnt, "full.h5")
        fsize_case(f"tmpfs of {size_kib} KiB", path)
        if os.path.exists(path):
            keep = os.path.join(work, "full.h5")
            copy_result(path, keep)
            part = trial_columns(keep)
            done = part["done"].astype(bool)
            check(same_rows(part, ref, done), f"full disk: the file keeps its {int(done.sum())} checkpointed rows")
            nnfi_run(run_args(keep, "--resume"))
            check(same_rows(trial_columns(keep), ref), "full disk: --resume elsewhere completes it identically")
        counts["tmpfs"] = 1
    finally:
        subprocess.run(["umount", mnt])


# --------------------------------------------------------------- corrupt --


def refused(label, nnfi_args, path, words):
    before = sha(path)
    p = nnfi_run(nnfi_args, expect=1)
    msg = p.stderr
    check(path in msg and "hint:" in msg and all(w in msg for w in words),
          f"{label}: the message names the file, {words} and a hint")
    check("Traceback" not in msg and "Sanitizer" not in msg, f"{label}: no crash")
    check(sha(path) == before, f"{label}: the file is byte for byte unchanged")
    counts[label] = counts.get(label, 0) + 1


def corrupt_drill():
    full = os.path.join(work, "full.h5")
    nnfi_run(run_args(full, "--force"))
    partial = os.path.join(work, "partial.h5")
    # a partial file: stopped by SIGTERM part way
    p = subprocess.Popen(cmd_of(run_args(partial, "--checkpoint-every", "0.05")), env=env, cwd=work,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_done(partial, 20)
    p.send_signal(signal.SIGTERM)
    p.communicate(timeout=60)
    size = os.path.getsize(partial)
    blob = open(partial, "rb").read()
    for frac in (0.0, 0.001, 0.1, 0.5, 0.9, 0.999):
        path = os.path.join(work, f"trunc{frac}.h5")
        with open(path, "wb") as f:
            f.write(blob[:int(size * frac)])
        refused(f"truncated at {frac:.1%}", run_args(path, "--resume"), path, [])
    rng = random.Random(5)
    for k in range(4):
        path = os.path.join(work, f"garbled{k}.h5")
        data = bytearray(blob)
        at = rng.randrange(size // 4, 3 * size // 4) if k else 0  # k = 0: the superblock
        for j in range(at, min(at + 4096, size)):
            data[j] = rng.randrange(256)
        with open(path, "wb") as f:
            f.write(data)
        p = subprocess.run(cmd_of(run_args(path, "--resume")), env=env, cwd=work, capture_output=True, text=True,
                           timeout=120)
        # garbage inside a chunk of a column nobody reads on resume may go unnoticed (HDF5 keeps no checksums
        # of chunks): then the run succeeds and rewrites the file; what must never happen is a crash
        label = f"bytes {at}..{at + 4095} overwritten"
        if p.returncode == 0:
            print(f"{label}: not detected (data bytes), resumed: exit 0")
        else:
            check(p.returncode == 1 and path in p.stderr and "hint:" in p.stderr,
                  f"{label}: exit 1 with a message naming the file and a hint")
        check(p.returncode in (0, 1) and "Sanitizer" not in p.stderr, f"{label}: no crash (rc {p.returncode})")
        counts[label] = 1
    other = os.path.join(work, "other.yaml")
    with open(CAMPAIGN) as f:
        text = f.read()
    with open(other, "w") as f:
        f.write(text.replace("seed: 11", "seed: 12"))
    refused("another campaign's file", run_args(partial, "--resume", campaign=other), partial, ["hash"])
    path = os.path.join(work, "notes.h5")
    with open(path, "w") as f:
        f.write("not a result file\n")
    refused("a text file", run_args(path, "--resume"), path, [])
    path = os.path.join(work, "foreign.h5")
    with h5py.File(path, "w") as f:
        f["x"] = np.arange(10)
    refused("an HDF5 file of something else", run_args(path, "--resume"), path, ["not an nnfi result file"])


# ---------------------------------------------------------------- inputs --


def write_campaign(name, model_line, eval_lines, group):
    path = os.path.join(work, name)
    with open(path, "w") as f:
        f.write(f"""name: {name}
seed: 3
models:
  - {model_line}
eval:
{eval_lines}
experiments:
  - name: e
    model: m
    groups:
      - {group}
    trials: 12
output:
  path: {name}.h5
""")
    return path


def inputs_drill():
    # a campaign file that cannot be read (missing; a directory): a clear error, no hang (rank 0 used to
    # broadcast 2^64 bytes from nowhere, spinning forever)
    for label, camp in (("a missing campaign file", os.path.join(work, "missing.yaml")), ("a directory", work)):
        for ranks in (0, 2) if args.mpiexec else (0,):
            p = nnfi_run(["run", camp, "-o", os.path.join(work, "none.h5"), "--progress", "off"], ranks=ranks,
                         expect=1, timeout=60)
            check(camp in p.stderr and "hint:" in p.stderr, f"{label} ({ranks or 1} rank(s)): exit 1 naming it, a hint")
            counts[f"{label} as the campaign"] = counts.get(f"{label} as the campaign", 0) + 1
    # an eval set of the wrong shape (the null model takes 64 values per sample)
    ev = os.path.join(work, "eval_wrong.h5")
    with h5py.File(ev, "w") as f:
        f["images"] = np.zeros((16, 3, 5, 5), np.float32)
        f["labels"] = np.zeros(16, np.int32)
    camp = write_campaign("wrongshape.yaml", "{name: m, host: null, shape: {inputs: 64, hidden: 16, layers: 1, classes: 10}}",
                          f"  path: {ev}\n  batch: 8", "{target: weight, bits: {list: [30]}, count: 1}")
    p = nnfi_run(["run", camp, "-o", os.path.join(work, "ws.h5"), "--progress", "off"], expect=1)
    check("'images'" in p.stderr and "[16, 3, 5, 5]" in p.stderr and "64" in p.stderr and ev in p.stderr,
          "wrong eval shape: the message names the file, the dataset, its shape and the expected size")
    counts["eval set of the wrong shape"] = 1
    # NaN faults on the null model: DUE, never a crash
    camp = write_campaign("nan_null.yaml", "{name: m, host: null, shape: {inputs: 16, hidden: 16, layers: 1, classes: 10}}",
                          "  samples: 32\n  batch: 8", "{target: weight, op: set, value: nan, count: 1}")
    out = os.path.join(work, "nan_null.h5")
    nnfi_run(["run", camp, "-o", out, "--progress", "off", "--quiet"])
    cols = trial_columns(out)
    check(bool(cols["done"].all()) and int(cols["due"].sum()) > 0 and int(cols["status"].max()) == 0,
          f"NaN weights (null model): {int(cols['due'].sum())} of 12 trials DUE, status ok, no crash")
    counts["NaN faults, null model"] = 1


def inputs_torch_drill():
    """The torch cases of `inputs`: a truncated TorchScript model, NaN faults on a CNN."""
    if not args.fixtures:
        raise Skip("no torch fixtures (--fixtures): torch cases not run")
    cnn = os.path.join(args.fixtures, "cnn.pt")
    trunc = os.path.join(work, "truncated.pt")
    with open(cnn, "rb") as f:
        data = f.read()
    for frac in (0.5, 0.95):
        with open(trunc, "wb") as f:
            f.write(data[:int(len(data) * frac)])
        camp = write_campaign("trunc.yaml", f"{{name: m, host: torch, path: {trunc}}}", "  samples: 8\n  batch: 8",
                              "{target: weight, bits: {list: [30]}, count: 1}")
        p = nnfi_run(["run", camp, "-o", os.path.join(work, "tr.h5"), "--progress", "off"], expect=1)
        check(trunc in p.stderr and "hint:" in p.stderr and "Sanitizer" not in p.stderr,
              f"TorchScript file truncated at {frac:.0%}: exit 1, the message names the file, a hint")
        counts["truncated TorchScript model"] = counts.get("truncated TorchScript model", 0) + 1
    ev = os.path.join(work, "eval_mnist.h5")
    rng = np.random.default_rng(1)
    with h5py.File(ev, "w") as f:
        f["images"] = rng.random((32, 1, 28, 28), dtype=np.float32)
        f["labels"] = rng.integers(0, 10, 32).astype(np.int32)
    camp = write_campaign("nan_torch.yaml", f"{{name: m, host: torch, path: {cnn}, threads: 1}}",
                          f"  path: {ev}\n  batch: 16",
                          "{target: weight, bits: {list: [30, 29, 28, 27, 26, 25, 24, 23], all: true}, op: stuck1, count: 3}")
    out = os.path.join(work, "nan_torch.h5")
    nnfi_run(["run", camp, "-o", out, "--progress", "off", "--quiet"])
    cols = trial_columns(out)
    check(bool(cols["done"].all()) and int(cols["due"].sum()) > 0,
          f"exponent all-ones (Inf/NaN) weights on the torch CNN: {int(cols['due'].sum())} of 12 trials DUE, no crash")
    counts["NaN faults, torch CNN"] = 1


# --------------------------------------------------------------- symlink --


def symlink_drill():
    target = os.path.join(work, "precious.dat")
    with open(target, "wb") as f:
        f.write(b"precious data, not a result file\n" * 100)
    before = sha(target)
    good = os.path.join(work, "good.h5")
    nnfi_run(run_args(good, "--force"))
    for label, cmd in (("run -o", run_args), ("run --force", lambda o: run_args(o, "--force")),
                       ("merge -o", lambda o: ["merge", good, "-o", o, "--quiet"]),
                       ("merge --force", lambda o: ["merge", good, "-o", o, "--force", "--quiet"])):
        for dangling in (False, True):
            link = os.path.join(work, "out.h5")
            if os.path.lexists(link):
                os.remove(link)
            os.symlink(os.path.join(work, "nowhere.h5") if dangling else target, link)
            p = nnfi_run(cmd(link), expect=1)
            kind = "a dangling symlink" if dangling else "a symlink to a file"
            check("symbolic link" in p.stderr and link in p.stderr, f"{label} onto {kind}: refused, naming the link")
            check(os.path.islink(link) and sha(target) == before and not os.path.exists(os.path.join(work, "nowhere.h5")),
                  f"{label} onto {kind}: the link and its target are untouched")
            counts[f"{label} onto a symlink"] = counts.get(f"{label} onto a symlink", 0) + 1


DRILLS = {"kill": kill_drill, "ckptkill": lambda: kill_drill("0.001", True), "rankloss": rankloss_drill,
          "fsize": fsize_drill, "fsize_tmpfs": fsize_tmpfs_drill, "corrupt": corrupt_drill, "inputs": inputs_drill,
          "inputs_torch": inputs_torch_drill, "symlink": symlink_drill}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("drill", choices=sorted(DRILLS))
    ap.add_argument("nnfi")
    ap.add_argument("work")
    ap.add_argument("--mpiexec", help="the MPI launcher (default: NNFI_MPIEXEC* of CTest, else none)")
    ap.add_argument("--count", type=int, default=10)
    ap.add_argument("--seed", type=int)
    ap.add_argument("--fixtures")
    a = ap.parse_args()
    launcher = nnfitest.MpiLauncher.from_env(exe=a.mpiexec) if a.mpiexec or os.environ.get("NNFI_MPIEXEC") else None
    setup(a.drill, a.nnfi, a.work, launcher, a.count, a.seed, a.fixtures)
    try:
        DRILLS[a.drill]()
    except Skip as e:
        print(f"SKIP: {e}")
        return SKIP
    return finish()


if __name__ == "__main__":
    sys.exit(main())
