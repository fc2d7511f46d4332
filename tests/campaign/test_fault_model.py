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
Campaign tests/campaign/fm/scopes.yaml (native models with scope per_sample
and per_step, the other campaign's models being per_call and permanent):
  * `nnfi plan` names each group's model and the scope it maps to; 1 process
    and 2 MPI ranks write identical files;
  * per_sample on activations: /faults rows are transient, scope sample, one
    eval sample per trial, and no trial changes more than that one sample's
    prediction (sdc <= 1, while per-call faults reach many samples of a batch);
    on weights (shared by the batch) it becomes scope call;
  * per_step with time_steps {from: 0, to: 1}: each occurrence hits one step
    (t_first == t_last, both steps drawn); the null model calls each site
    once per forward (step 0), so the occurrences at step 1 change nothing;
    a per_call model on the same window hits every step of it;
  * `nnfi faults` shows the same sample / call and steps.
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
SCOPES = str(Path(__file__).resolve().parent / "fm" / "scopes.yaml")
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


def assert_same_files(ref, path):
    (t1, f1), (t2, f2) = tables(ref), tables(path)
    assert t1.keys() == t2.keys() and f1.keys() == f2.keys() and len(f1["trial"]) > 0
    for k in t1:
        assert np.array_equal(t1[k].view(np.uint8), t2[k].view(np.uint8)), f"/trials/{k} differs, 1 vs 2 ranks"
    order1, order2 = np.argsort(f1["trial"], kind="stable"), np.argsort(f2["trial"], kind="stable")
    for k in f1:
        assert np.array_equal(f1[k][order1], f2[k][order2]), f"/faults/{k} differs, 1 vs 2 ranks"


def test_two_ranks_identical(ref, nnfi_bin, work_dir, mpi_env, mpiexec):
    path = str(work_dir / "fm2.h5")
    nnfi(nnfi_bin, work_dir, mpi_env, "run", CAMPAIGN, "-o", path, "--force", "--progress", "off",
         ranks=2, mpiexec=mpiexec)
    assert_same_files(ref, path)


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


# ------------------------------------------------ scopes per_sample, per_step --

SAMPLES, BATCH, STEP_ALL = 128, 64, 2**32 - 1


@pytest.fixture(scope="module")
def scopes(nnfi_bin, work_dir, mpi_env):
    out = nnfi(nnfi_bin, work_dir, mpi_env, "plan", SCOPES)
    assert "160 trials" in out, out
    groups = [ln for ln in out.splitlines() if ln.strip().startswith("group ")]
    assert len(groups) == 4, out
    assert "fault model 'test-per-sample'" in groups[0] and groups[0].endswith("scope per_sample: transient per sample")
    assert groups[1].endswith("scope per_sample: transient per call"), groups[1]  # weights: the batch shares them
    assert groups[2].endswith("scope per_step: transient per call, 1 step(s) of 0..1"), groups[2]
    assert groups[3].endswith("scope per_call: transient per call, every step of 0..1"), groups[3]
    path = str(work_dir / "fm_scopes1.h5")
    nnfi(nnfi_bin, work_dir, mpi_env, "run", SCOPES, "-o", path, "--force", "--progress", "off")
    with h5py.File(path, "r") as f:
        t = {k: f["trials"][k][()] for k in ("experiment", "sdc", "due_samples", "max_abs_err")}
        fl = {k: f["faults"][k][()] for k in f["faults"]}
    return path, t, fl


def per_trial(t, fl, experiment):
    """(trial, row indices of its /faults) for each trial of the experiment."""
    trials = np.nonzero(t["experiment"] == experiment)[0]
    out = [(g, np.nonzero(fl["trial"] == g)[0]) for g in trials]
    assert out and all(len(rows) > 0 for _, rows in out), "every trial stored its faults"
    return out


def test_scopes_two_ranks_identical(scopes, nnfi_bin, work_dir, mpi_env, mpiexec):
    path = str(work_dir / "fm_scopes2.h5")
    nnfi(nnfi_bin, work_dir, mpi_env, "run", SCOPES, "-o", path, "--force", "--progress", "off",
         ranks=2, mpiexec=mpiexec)
    assert_same_files(scopes[0], path)


def test_per_sample(scopes):
    _, t, fl = scopes
    whens = set()
    for g, rows in per_trial(t, fl, 0):  # activations: one eval sample
        assert (fl["transient"][rows] == 1).all() and (fl["scope"][rows] == 1).all(), f"trial {g}: scope sample"
        assert len(set(fl["when"][rows])) == 1, f"trial {g}: one occurrence, one sample"
        assert 0 <= fl["when"][rows[0]] < SAMPLES
        assert (fl["t_first"][rows] == 0).all() and (fl["t_last"][rows] == STEP_ALL).all()
        assert t["sdc"][g] <= 1 and t["due_samples"][g] <= 1, f"trial {g}: a per-sample fault reached other samples"
        whens.add(int(fl["when"][rows[0]]))
    sample_trials = t["experiment"] == 0
    assert len(whens) > 10, "the samples are drawn over the eval set"
    assert t["sdc"][sample_trials].sum() > 0, "out-of-range values change some sample's prediction"
    for g, rows in per_trial(t, fl, 1):  # weights: the whole batch of one forward call
        assert (fl["transient"][rows] == 1).all() and (fl["scope"][rows] == 0).all(), f"trial {g}: scope call"
        assert 0 <= fl["when"][rows[0]] < SAMPLES // BATCH and t["sdc"][g] <= BATCH


def test_per_step(scopes):
    _, t, fl = scopes
    steps = {0: 0, 1: 0}
    changed_at_0 = 0
    for g, rows in per_trial(t, fl, 2):
        assert (fl["transient"][rows] == 1).all() and (fl["scope"][rows] == 0).all(), f"trial {g}: scope call"
        assert 0 <= fl["when"][rows[0]] < SAMPLES // BATCH
        tf, tl = fl["t_first"][rows], fl["t_last"][rows]
        assert (tf == tl).all() and len(set(tf)) == 1 and tf[0] in (0, 1), f"trial {g}: one step of the window"
        steps[int(tf[0])] += 1
        if tf[0] == 1:  # the null model has no step 1: the fault never fires
            assert t["sdc"][g] == 0 and t["due_samples"][g] == 0 and t["max_abs_err"][g] == 0, f"trial {g}"
        else:
            changed_at_0 += t["max_abs_err"][g] > 0
    assert steps[0] > 0 and steps[1] > 0, steps
    assert changed_at_0 > 0, "occurrences at step 0 change the logits"
    # a per-call occurrence reaches many samples of its batch, unlike a per-sample one
    assert t["sdc"][t["experiment"] == 2].max() > 1
    for g, rows in per_trial(t, fl, 3):  # per_call on the same window: every step of it
        assert (fl["scope"][rows] == 0).all() and (fl["t_first"][rows] == 0).all() and (fl["t_last"][rows] == 1).all()


def test_scopes_faults_command(scopes, nnfi_bin, work_dir, mpi_env):
    _, t, fl = scopes
    for exp in (0, 1, 2, 3):
        g, rows = per_trial(t, fl, exp)[0]
        csv = nnfi(nnfi_bin, work_dir, mpi_env, "faults", SCOPES, "--global", str(g), "--format", "csv")
        lines = csv.splitlines()
        cols = lines[0].split(",")
        body = [dict(zip(cols, ln.split(","))) for ln in lines[1:] if ln and not ln.startswith("#")]
        assert len(body) == len(rows), f"trial {g}"
        when = f"{'sample' if fl['scope'][rows[0]] == 1 else 'call'} {fl['when'][rows[0]]}"
        tf, tl = fl["t_first"][rows[0]], fl["t_last"][rows[0]]
        steps = "all" if (tf, tl) == (0, STEP_ALL) else f"{tf}..{tl}"
        for b in body:
            assert b["when"] == when and b["steps"] == steps, f"trial {g}: {b['when']} {b['steps']} vs {when} {steps}"
