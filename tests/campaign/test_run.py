"""test_run.py - the campaign engine end to end on the null model (pytest;
CTest `campaign_run`, label `mpi`; fixtures in tests/conftest.py).

Checks, with real processes (the MPI launcher, signals) and real HDF5 files
read by h5py:
  * the trial columns are identical (except the volatile rank/device/wall_s)
    for one process and for 2 and 4 MPI ranks (oversubscribed);
  * SIGTERM mid-run exits 0 with a resume hint, and --resume completes a file
    identical to the uninterrupted one;
  * after kill -9 mid-run the file opens with h5py and --resume completes it
    identically;
  * refusals: an existing file without --force, --resume with another
    config, a world size that differs from SLURM_NTASKS.

By hand: NNFI_BIN=build/src/nnfi /usr/bin/python3 -m pytest tests/campaign/test_run.py
"""
import os
import signal
import subprocess
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

import sys  # noqa: E402,I001  (the analysis package, for the checkpoint journal)
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "analysis"))
from nnfi_analysis import journal as njournal  # noqa: E402

CAMPAIGN = str(Path(__file__).resolve().parent / "small.yaml")
VOLATILE = {"rank", "device", "wall_s"}


@pytest.fixture(scope="module")
def run(nnfi_bin, work_dir, mpi_env, request):
    """run(args, ranks=0, expect=0, extra_env=None): `nnfi run ARGS`, under
    the MPI launcher when ranks > 0; asserts the exit status."""

    def _run(args, ranks=0, expect=0, extra_env=None):
        prog = [str(nnfi_bin), "run"] + args
        cmd = request.getfixturevalue("mpiexec").cmd(ranks, *prog) if ranks else prog
        p = subprocess.run(cmd, env=dict(mpi_env, **(extra_env or {})), cwd=work_dir,
                           capture_output=True, text=True, timeout=300)
        assert p.returncode == expect, f"{' '.join(cmd)}: exit {p.returncode}, not {expect}\n{p.stdout}\n{p.stderr}"
        return p

    return _run


def columns(path):
    with h5py.File(path, "r") as f:
        return {k: f["trials"][k][()] for k in f["trials"] if k not in VOLATILE and k != "trial"}


def same(a, b):
    if a.keys() != b.keys():
        return False
    # NaN-aware equality, bit for bit
    return all(np.array_equal(a[k].view(np.uint8), b[k].view(np.uint8)) for k in a)


@pytest.fixture(scope="module")
def ref(run, work_dir):
    """The reference: one plain process. Returns (path, columns)."""
    path = str(work_dir / "ref.h5")
    run([CAMPAIGN, "-o", path, "--force", "--progress", "off"])
    return path, columns(path)


def test_single_process(ref):
    cols = ref[1]
    assert cols["done"].all(), "single process completes every trial"
    assert cols["n_faults"].max() == 100 and cols["due"].sum() > 0, "fault counts and DUE outcomes present"


@pytest.mark.parametrize("k", [2, 4])
def test_ranks_do_not_matter(run, ref, work_dir, mpiexec, k):
    path = str(work_dir / f"np{k}.h5")
    run([CAMPAIGN, "-o", path, "--force", "--progress", "off"], ranks=k)
    assert same(columns(path), ref[1]), f"{k} ranks give the same trial columns as one process"
    with h5py.File(path, "r") as f:
        ranks_seen = set(np.unique(f["trials"]["rank"][()]))
        assert f.attrs["world_size"] == k, f"world_size attribute is {k}"
    assert len(ranks_seen) > 1, f"{k} ranks: trials ran on several ranks {sorted(ranks_seen)}"


def interrupted_run(nnfi_bin, work_dir, env, sig, path):
    if os.path.exists(path):
        os.remove(path)  # a complete file from an earlier run would be signalled too early
    cmd = [str(nnfi_bin), "run", CAMPAIGN, "-o", path, "--force", "--progress", "lines", "--checkpoint-every", "0.1"]
    p = subprocess.Popen(cmd, env=env, cwd=work_dir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # wait until the file exists and some rows are checkpointed
    deadline = time.time() + 60
    while time.time() < deadline:
        time.sleep(0.05)
        try:
            with h5py.File(path, "r") as f:  # checkpointed rows: the file and its journal
                if njournal.overlay_trials(f, "done").sum() > 20:
                    break
        except Exception:
            pass
    p.send_signal(sig)
    out, err = p.communicate(timeout=120)
    return p.returncode, out, err


def test_sigterm_then_resume(run, ref, nnfi_bin, work_dir, mpi_env):
    path = str(work_dir / "term.h5")
    rc, out, err = interrupted_run(nnfi_bin, work_dir, mpi_env, signal.SIGTERM, path)
    assert rc == 0, f"SIGTERM: exit 0 (got {rc})\n{err}"
    assert "--resume" in err, "SIGTERM: the message says how to resume"
    n = len(ref[1]["done"])
    with h5py.File(path, "r") as f:  # a signal stops the run cleanly: the journal is folded, none is left
        partial = int(f["trials"]["done"][()].sum())
    assert not os.path.exists(path + ".journal"), "SIGTERM: the journal is folded into the file"
    assert 0 < partial < n, f"SIGTERM: a partial file ({partial} of {n} trials)"
    run([CAMPAIGN, "-o", path, "--resume", "--progress", "off"])
    assert same(columns(path), ref[1]), "SIGTERM + --resume equals the uninterrupted run"


def test_kill9_then_resume(run, ref, nnfi_bin, work_dir, mpi_env):
    path = str(work_dir / "kill.h5")
    rc, out, err = interrupted_run(nnfi_bin, work_dir, mpi_env, signal.SIGKILL, path)
    assert rc == -9, f"kill -9 killed it (rc {rc})"
    with h5py.File(path, "r") as f:  # the rows of the last checkpoint: the file and its journal
        n_cols = len(f["trials"])
        partial = int(njournal.overlay_trials(f, "done").sum())
    assert n_cols > 10 and partial < len(ref[1]["done"]), f"after kill -9 h5py opens the file ({partial} trials done)"
    run([CAMPAIGN, "-o", path, "--resume", "--progress", "off"])
    assert same(columns(path), ref[1]), "kill -9 + --resume equals the uninterrupted run"


def test_refusals(run, ref, work_dir):
    ref_path = ref[0]
    p = run([CAMPAIGN, "-o", ref_path, "--progress", "off"], expect=1)
    assert "exists" in p.stderr and "--force" in p.stderr, "an existing file is not overwritten without --force"
    other = str(work_dir / "other.yaml")
    with open(CAMPAIGN) as f:
        text = f.read()
    assert "seed: 7" in text
    with open(other, "w") as f:
        f.write(text.replace("seed: 7", "seed: 8"))
    p = run([other, "-o", ref_path, "--resume", "--progress", "off"], expect=1)
    assert "config" in p.stderr.lower() and "hash" in p.stderr.lower(), "--resume refuses a different config"
    assert same(columns(ref_path), ref[1]), "the refused runs left the file untouched"
    p = run([CAMPAIGN, "-o", str(work_dir / "slurm.h5"), "--progress", "off"], expect=1,
            extra_env={"SLURM_NTASKS": "3", "SLURM_JOB_ID": "1234"})
    assert "SLURM_NTASKS=3" in p.stderr, "a world size different from SLURM_NTASKS is refused"
