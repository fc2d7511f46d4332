"""test_fault_model.py - hardware fault-model groups end to end on the null
model (pytest; CTest `campaign_fault_model`, label `mpi`), campaign
tests/campaign/fm/campaign.yaml (a native model on weights, a CLASSES model on
activations, a single-bit-flip experiment):
  * `nnfi plan` validates it; 1 process and 2 MPI ranks write identical
    /trials (non-volatile columns) and /faults;
  * the /faults rows of sampled trials equal what `nnfi faults` regenerates;
  * /trials/pattern is categorical (flag_meanings from the schema), 'none'
    exactly for the plain experiment, several patterns for the others;
  * `nnfi inspect` prints the per-pattern breakdown with the trial counts the
    file holds, and FIT lines equal to raw FIT x P(outcome) (Wilson bounds),
    as nnfi_analysis.patterns computes them.
(That each occurrence is the fault-model library's own draw is checked on a
hand-built plan in tests/unit/test_fm_sampler.c.)
"""
import re
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "analysis"))
from nnfi_analysis import patterns  # noqa: E402

CAMPAIGN = str(Path(__file__).resolve().parent / "fm" / "campaign.yaml")
VOLATILE = {"rank", "device", "wall_s"}


def nnfi(nnfi_bin, work_dir, env, *args, ranks=0, mpiexec=None):
    prog = [str(nnfi_bin)] + list(args)
    cmd = mpiexec.cmd(ranks, *prog) if ranks else prog
    p = subprocess.run(cmd, env=env, cwd=work_dir, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, f"{' '.join(cmd)}: exit {p.returncode}\n{p.stdout}\n{p.stderr}"
    return p.stdout


def tables(path):
    with h5py.File(path, "r") as f:
        t = {k: f["trials"][k][()] for k in f["trials"] if k not in VOLATILE and k != "trial"}
        fl = {k: f["faults"][k][()] for k in f["faults"]} if "faults" in f else {}
    return t, fl


@pytest.fixture(scope="module")
def ref(nnfi_bin, work_dir, mpi_env):
    out = nnfi(nnfi_bin, work_dir, mpi_env, "plan", CAMPAIGN)
    assert "130 trials" in out, out
    path = str(work_dir / "fm1.h5")
    nnfi(nnfi_bin, work_dir, mpi_env, "run", CAMPAIGN, "-o", path, "--force", "--progress", "off")
    return path


def test_two_ranks_identical(ref, nnfi_bin, work_dir, mpi_env, mpiexec):
    path = str(work_dir / "fm2.h5")
    nnfi(nnfi_bin, work_dir, mpi_env, "run", CAMPAIGN, "-o", path, "--force", "--progress", "off",
         ranks=2, mpiexec=mpiexec)
    (t1, f1), (t2, f2) = tables(ref), tables(path)
    assert t1.keys() == t2.keys() and f1.keys() == f2.keys() and len(f1["trial"]) > 0
    for k in t1:
        assert np.array_equal(t1[k].view(np.uint8), t2[k].view(np.uint8)), f"/trials/{k} differs, 1 vs 2 ranks"
    order1, order2 = np.argsort(f1["trial"], kind="stable"), np.argsort(f2["trial"], kind="stable")
    for k in f1:
        assert np.array_equal(f1[k][order1], f2[k][order2]), f"/faults/{k} differs, 1 vs 2 ranks"


def test_faults_regenerate(ref, nnfi_bin, work_dir, mpi_env):
    _, fl = tables(ref)
    ops = {0: "flip", 4: "set"}
    for g in [0, 1, 7, 33, 59, 60, 75, 99]:  # experiments mac and act
        rows = np.nonzero(fl["trial"] == g)[0]
        assert len(rows) > 0, f"trial {g} stored its faults"
        csv = nnfi(nnfi_bin, work_dir, mpi_env, "faults", CAMPAIGN, "--global", str(g), "--format", "csv")
        lines = [ln.split(",") for ln in csv.splitlines()[1:] if ln and not ln.startswith("#")]
        assert len(lines) == len(rows), f"trial {g}: {len(lines)} regenerated vs {len(rows)} stored"
        for ln, r in zip(lines, rows):
            assert int(ln[3]) == fl["element"][r], f"trial {g}: element"
            assert ln[6] == ops[int(fl["op"][r])], f"trial {g}: op"
            assert int(ln[8], 16) == fl["mask"][r] and int(ln[9], 16) == fl["value"][r], f"trial {g}: mask/value"
        assert set(fl["op"][rows]) <= {0, 4}, "fault models write flips and set values only"


def test_pattern_column(ref):
    with h5py.File(ref, "r") as f:
        col = f["trials"]["pattern"]
        names = col.attrs["flag_meanings"]
        names = (names.decode() if isinstance(names, bytes) else str(names)).split()
        pat, exp = col[()], f["trials"]["experiment"][()]
    assert names[0] == "none" and "weight_row" in names and "same_row" in names
    assert (pat[exp == 2] == 0).all(), "the plain bit-flip experiment has no pattern"
    mac = {names[c] for c in pat[exp == 0]}
    act = {names[c] for c in pat[exp == 1]}
    assert mac == {"weight_row", "weight_tile", "single"}, mac
    assert act == {"same_row", "single"}, act


def test_inspect_breakdown_and_fit(ref, nnfi_bin, work_dir, mpi_env):
    out = nnfi(nnfi_bin, work_dir, mpi_env, "inspect", ref)
    by = patterns.outcomes_by_pattern(ref)
    names = ["mac", "act"]
    for _, r in by.iterrows():
        m = re.search(rf"experiment {r.experiment} '{names[r.experiment]}': outcomes by fault-model pattern.*?"
                      rf"\n  {r.pattern}\s+(\d+)\s+(\S+)", out, re.S)
        assert m, f"inspect shows pattern {r.pattern} of experiment {r.experiment}\n{out}"
        assert int(m.group(1)) == r.trials and abs(float(m.group(2)) - r.sdc_rate) < 1e-3
    assert "experiment 2 'bitflip': outcomes by fault-model pattern" not in out
    fit = patterns.fit_contribution(ref)
    assert list(fit["experiment"]) == ["mac", "act", "total"] and list(fit["raw_fit"]) == [120, 30, 150]
    for _, r in fit.iterrows():
        head = "FIT total" if r.experiment == "total" else f"'{r.experiment}': FIT contribution (raw FIT {r.raw_fit:g}"
        m = re.search(re.escape(head) + r".*?\n  FIT SDC (\S+) \[(\S+), (\S+)\]  critical SDC (\S+) .*?DUE (\S+) ",
                      out, re.S)
        assert m, f"inspect prints {head}\n{out}"
        for got, want in [(m.group(1), r.fit_sdc), (m.group(2), r.fit_sdc_lo), (m.group(3), r.fit_sdc_hi),
                          (m.group(4), r.fit_critical_sdc), (m.group(5), r.fit_due)]:
            assert abs(float(got) - want) <= 1e-3 * max(1.0, abs(want)), f"{head}: {got} vs {want}"
    # the contribution is raw FIT x the SDC proportion of the experiment's trials
    with h5py.File(ref, "r") as f:
        sdc, exp = f["trials"]["sdc"][()], f["trials"]["experiment"][()]
    assert abs(fit["fit_sdc"][0] - 120 * np.mean(sdc[exp == 0] > 0)) < 1e-9
