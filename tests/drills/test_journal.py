"""test_journal.py - the checkpoint journal (issue 19 item 2): a checkpoint
appends its rows to OUT.h5.journal instead of copying the file, so a campaign
killed between folds has its rows in the file *plus* the journal. Every
reader must see them (nnfi inspect, nnfi merge, the analysis package), a torn
last record (a kill inside an append) is ignored, a damaged record with whole
records after it is named by `nnfi inspect --verify`, and --resume folds the
journal and completes the file identically to an uninterrupted run."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "analysis"))
from nnfi_analysis import journal as njournal  # noqa: E402
import nnfi_analysis as na  # noqa: E402

CAMPAIGN = """name: journal
seed: 3
models:
  - {name: mlp, host: null, shape: {inputs: 64, hidden: 96, layers: 2, classes: 10}}
eval: {samples: 256, batch: 64}
experiments:
  - {name: w, model: mlp, groups: [{target: weight, bits: {preset: exponent}, op: flip, count: 2}], trials: 3000}
output: {faults_max_n: 10}
"""
VOLATILE = {"rank", "device", "wall_s", "trial"}


def run(cmd, ok=True, **kw):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=300, **kw)
    if ok:
        assert r.returncode == 0, r.stdout + r.stderr
    return r


def columns(path):
    """/trials as readers see it (file + journal), non-volatile columns."""
    with h5py.File(path, "r") as f:
        j = njournal.read_journal(f)
        return {k: njournal.overlay(j, k, f["trials"][k][()]) for k in f["trials"] if k not in VOLATILE}


def faults(path):
    with h5py.File(path, "r") as f:
        cols = njournal.fault_columns(f)
    names = ["trial"] + sorted(k for k in cols if k != "trial")  # trial first
    return sorted(zip(*[cols[k].tolist() for k in names])) if cols else []


def same(a, b, rows=None):
    sel = slice(None) if rows is None else rows
    return a.keys() == b.keys() and all(np.array_equal(a[k][sel].view(np.uint8), b[k][sel].view(np.uint8)) for k in a)


@pytest.fixture(scope="module")
def cfg(work_dir):
    p = work_dir / "journal.yaml"
    p.write_text(CAMPAIGN)
    return p


@pytest.fixture(scope="module")
def reference(nnfi_bin, work_dir, cfg):
    out = work_dir / "ref.h5"
    r = run([nnfi_bin, "run", cfg, "-o", out, "--force", "--progress", "off", "--quiet"])
    assert not Path(str(out) + ".journal").exists(), "a finished run leaves no journal"
    return columns(out), faults(out)


def journal_records(path):
    try:
        with h5py.File(path, "r") as f:
            j = njournal.read_journal(f)
            return len(j.records) if j else 0
    except Exception:  # noqa: BLE001 - the file may not exist yet
        return 0


@pytest.fixture(scope="module")
def killed(nnfi_bin, work_dir, cfg):
    """A run killed by SIGKILL once its journal holds at least 3 checkpoints
    (the file itself then holds none of them). Returns the path."""
    out = work_dir / "killed.h5"
    for p in (out, Path(str(out) + ".journal")):
        if p.exists():
            p.unlink()
    env = dict(os.environ, NNFI_FOLD_MB="1024")  # no fold before the kill
    p = subprocess.Popen([str(nnfi_bin), "run", str(cfg), "-o", str(out), "--force", "--progress", "off", "--quiet",
                          "--checkpoint-every", "0.02"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and p.poll() is None and journal_records(out) < 3:
        time.sleep(0.01)
    if p.poll() is not None:
        pytest.fail(f"the run ended (rc {p.returncode}) before its journal held 3 checkpoints; "
                    f"make the campaign longer\n{p.stderr.read().decode()}")
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=60)
    assert journal_records(out) >= 3
    return out


def copy_of(src, dst):
    for suffix in ("", ".journal"):
        with open(str(src) + suffix, "rb") as a, open(str(dst) + suffix, "wb") as b:
            b.write(a.read())
    return dst


def test_rows_are_in_the_journal_not_the_file(killed, reference):
    with h5py.File(killed, "r") as f:
        in_file = int(f["trials/done"][()].sum())
        j = njournal.read_journal(f)
    part = columns(killed)
    done = part["done"].astype(bool)
    assert in_file == 0 and j is not None and 0 < done.sum() < len(done), (in_file, int(done.sum()))
    assert same(part, reference[0], done), "the journal's rows equal the uninterrupted run's"
    done_trials = set(np.nonzero(done)[0].tolist())
    want = [r for r in reference[1] if r[0] in done_trials]
    got = faults(killed)
    assert got and got == want, "the journal holds exactly the done trials' faults"


def test_inspect_and_analysis_see_the_journal(nnfi_bin, killed):
    part = columns(killed)
    n = int(part["done"].sum())
    r = run([nnfi_bin, "inspect", killed])
    assert f"{n} / 3000 trials done" in r.stdout, r.stdout
    assert "journal " in r.stdout and ".journal" in r.stdout, r.stdout
    r = run([nnfi_bin, "inspect", killed, "--verify"])
    assert "every checksum good" in r.stdout, r.stdout
    df = na.trials(killed)
    assert len(df) == n
    assert int(na.provenance(killed)["progress"]["trials_done"]) == n
    assert len(na.faults(killed)) == len(faults(killed))


def test_torn_last_record_is_ignored(nnfi_bin, killed, work_dir):
    torn = copy_of(killed, work_dir / "torn.h5")
    jpath = str(torn) + ".journal"
    before = journal_records(torn)
    size = os.path.getsize(jpath)
    with h5py.File(torn, "r") as f:
        j = njournal.read_journal(f)
        kept = j.records[-2]
    with open(jpath, "r+b") as fh:  # cut the last record short, as a kill inside its write would
        fh.truncate(size - 24)
    assert journal_records(torn) == before - 1
    r = run([nnfi_bin, "inspect", torn, "--verify"])
    assert "every checksum good" in r.stdout, r.stdout + r.stderr
    assert int(columns(torn)["done"].sum()) == kept.n_done
    r = run([nnfi_bin, "inspect", torn])
    assert f"{kept.n_done} / 3000 trials done, {kept.seq} checkpoint(s)" in r.stdout, r.stdout


def test_damaged_record_is_named(nnfi_bin, killed, work_dir):
    bad = copy_of(killed, work_dir / "bad.h5")
    jpath = str(bad) + ".journal"
    with open(jpath, "rb") as fh:
        hb = int.from_bytes(fh.read()[8:12], "little")
    at = hb + 64 + 8  # inside the first record's trial indices
    with open(jpath, "r+b") as fh:
        fh.seek(at)
        b = fh.read(1)
        fh.seek(at)
        fh.write(bytes([b[0] ^ 0x01]))
    r = run([nnfi_bin, "inspect", bad, "--verify"], ok=False)
    assert r.returncode == 1, r.stdout + r.stderr
    assert jpath in r.stderr and "CRC-32" in r.stderr and "hint:" in r.stderr, r.stderr


def test_merge_counts_the_journal(nnfi_bin, killed, work_dir):
    """merge refuses an incomplete shard; the count it names includes the
    journal's rows (a merge of a complete shard whose rows are in its journal:
    tests/results, h5_results_kill)."""
    n = int(columns(killed)["done"].sum())
    r = run([nnfi_bin, "merge", killed, "-o", work_dir / "merged.h5", "--force"], ok=False)
    assert r.returncode == 1 and f"{3000 - n} trial(s) of its share are not done" in r.stderr, r.stderr


def test_resume_folds_and_completes(nnfi_bin, killed, work_dir, cfg, reference):
    res = copy_of(killed, work_dir / "resumed.h5")
    r = run([nnfi_bin, "run", cfg, "-o", res, "--resume", "--progress", "off"])
    assert "checkpoint(s)" in r.stdout and "fold(s)" in r.stdout, r.stdout
    assert not Path(str(res) + ".journal").exists(), "the completed run leaves no journal"
    with h5py.File(res, "r") as f:
        got = {k: f["trials"][k][()] for k in f["trials"] if k not in VOLATILE}
    assert same(got, reference[0]), "the resumed file equals the uninterrupted run"
    assert faults(res) == reference[1], "every trial's faults once"
