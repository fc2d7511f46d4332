"""test_shortcuts.py - the shortcuts of `nnfi run` (sample-sparse calls,
cross-trial packing, forwards from cached golden cuts; src/engine/worker.c,
trial_pack.c, golden_cache.c, trial_pass.c) change no result bit (pytest;
CTest `campaign_shortcuts`, label `mpi`; fixtures in tests/conftest.py).

Null model only (no torch). Every check compares result files with
tests/refactor/compare_h5.py (every dataset and attribute except the volatile
rank/device/wall_s columns and run provenance) and the /trials columns bit
for bit:
  * one campaign with every fault kind (weight, bias, activation and input,
    permanent / transient per call / transient per sample, several groups in
    one trial, 1, 3, 64, 65 (just above the packing limit), 1000 and 100,000
    faults, Poisson rate sweeps with 0-fault trials, two models) gives the
    same file by default as with --full-eval; eval.samples leaves a short last
    batch (1000 in batches of 256; 300 in batches of 64);
  * the same with a golden cache too small for every cut (eval.cache_mb), and
    for 100 samples in one short call, 257 in batches of 256 (a last batch of
    one row) and 37 in batches of one;
  * 1, 2 and 4 MPI ranks with shortcuts on give the same file, equal to
    --full-eval on one process (but world_size, and the order of /faults rows
    of different trials: rank 0 appends them as ranks return their trials);
  * kill -9 mid-run with shortcuts on, then --resume: the uninterrupted file;
  * NNFI_SABOTAGE=pack|calls|cut|drop (include/nnfi/trial_pack.h) breaks one
    shortcut: then the comparison fails, so it can fail.
When default and --full-eval differ, the failure names the experiments,
points, trials and columns that differ.

By hand: NNFI_BIN=build/src/nnfi /usr/bin/python3 -m pytest tests/campaign/test_shortcuts.py
"""
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "analysis"))
from nnfi_analysis import journal as njournal  # noqa: E402  (rows of checkpoints not yet folded)

VOLATILE = {"rank", "device", "wall_s"}

# The experiments of the coverage campaign: every fault kind the null model
# has, alone and together. ${T} scales each trial count (see campaign()).
EXPERIMENTS = r"""
  - name: weight_perm
    model: mlp
    groups:
      - target: weight
        bits: {preset: exponent}
    sweep: {faults: [1, 3, 64, 65, 1000]}
    trials: 12
  - name: weight_perm_100k
    model: mlp
    groups:
      - target: weight
        bits: {preset: mantissa}
        count: 100000
    trials: 3
  - name: bias_perm
    model: mlp
    groups:
      - target: bias
        op: stuck1
        bits: {range: [23, 30]}
    sweep: {faults: [1, 3, 64, 65]}
    trials: 12
  - name: act_perm
    model: mlp
    groups:
      - target: activation
        bits: {preset: exponent}
    sweep: {faults: [1, 3, 64, 65, 1000]}
    trials: 12
  - name: act_sample
    model: mlp
    groups:
      - target: activation
        bits: {preset: exponent}
        persistence: transient
        scope: sample
    sweep: {faults: [1, 3, 64, 65, 1000]}
    trials: 40
  - name: act_call
    model: mlp
    groups:
      - target: activation
        bits: {preset: exponent}
        persistence: transient
        scope: call
    sweep: {faults: [1, 3, 64, 65, 1000]}
    trials: 12
  - name: weight_call
    model: mlp
    groups:
      - target: weight
        bits: {preset: exponent}
        persistence: transient
        scope: call
    sweep: {faults: [1, 3, 64, 65, 1000]}
    trials: 12
  - name: input_sample
    model: mlp
    groups:
      - target: input
        bits: {list: [30]}
        persistence: transient
        scope: sample
    sweep: {faults: [1, 3, 64, 65]}
    trials: 20
  - name: input_perm
    model: mlp
    groups:
      - target: input
        op: set
        value: 1.0e+30
    sweep: {faults: [1, 3, 64, 65]}
    trials: 12
  - name: input_call
    model: mlp
    groups:
      - target: input
        op: random
        persistence: transient
        scope: call
    sweep: {faults: [1, 3, 65]}
    trials: 12
  - name: mixed_sample_perm
    model: mlp
    groups:
      - name: act
        target: activation
        sites: ["fc1.out", "fc2.out"]
        bits: {list: [30, 29], all: true}
        persistence: transient
        scope: sample
        count: 3
      - name: w
        target: weight
        sites: ["fc2.*"]
        op: stuck0
        bits: {preset: exponent}
        count: 2
    trials: 30
  - name: mixed_sample_call
    model: mlp
    groups:
      - name: act
        target: activation
        bits: {preset: exponent}
        persistence: transient
        scope: sample
        count: 2
      - name: wcall
        target: weight
        sites: ["fc1.*"]
        bits: {list: [30]}
        persistence: transient
        scope: call
        count: 1
    trials: 30
  - name: two_sample
    model: mlp
    groups:
      - name: a1
        target: activation
        sites: ["fc1.out"]
        bits: {preset: exponent}
        persistence: transient
        scope: sample
        count: 2
      - name: a3
        target: activation
        sites: ["fc3.out"]
        op: set
        value: nan
        persistence: transient
        scope: sample
        count: 1
    trials: 40
  - name: other_model_sample
    model: small
    groups:
      - target: activation
        bits: {list: [30]}
        persistence: transient
        scope: sample
        count: 2
    trials: 20
  - name: two_sample_65
    model: mlp
    groups:
      - name: a
        target: activation
        regex: "^fc[12]\\.out$"
        bits: {preset: exponent}
        persistence: transient
        scope: sample
        distinct: true
        count: 33
      - name: i
        target: input
        bits: {list: [30]}
        persistence: transient
        scope: sample
        count: 32
    trials: 20
  - name: rate_act_sample
    model: mlp
    groups:
      - target: activation
        bits: {preset: exponent}
        persistence: transient
        scope: sample
    sweep: {rates: [0.002, 0.02, 0.2], draw: poisson}
    trials: 40
  - name: rate_weight_perm
    model: mlp
    groups:
      - target: weight
        bits: {preset: exponent}
    sweep: {rates: [1.0e-4, 1.0e-3], draw: poisson}
    trials: 30
  - name: rate_act_call
    model: mlp
    groups:
      - target: activation
        bits: {preset: exponent}
        persistence: transient
        scope: call
    sweep: {rates: [0.005, 0.05], draw: poisson}
    trials: 30
"""

# Which experiments each sabotage must change (at least these; it may change more).
SABOTAGED = {
    "pack": ["act_sample", "input_sample", "two_sample"],       # packed one-sample faults
    "calls": ["act_call", "weight_call", "input_call"],         # transient faults of a few calls
    "cut": ["weight_perm", "bias_perm", "act_perm", "act_call"],  # forwards from a cut past the faults
    "drop": ["act_perm", "act_call"],                           # fault dropping checked before the faults
}


def campaign(name, samples, batch, hidden=64, cache_mb=None, scale=1, only=None):
    """The coverage campaign's YAML text: eval samples/batch, the main model's
    hidden width, eval.cache_mb, every trial count times `scale`, and only
    the named experiments when `only` is given."""
    exps = EXPERIMENTS
    if only is not None:
        blocks = re.split(r"(?m)^(?=  - name: )", exps)
        exps = "\n" + "".join(b for b in blocks if re.match(r"  - name: (\S+)", b) and
                       re.match(r"  - name: (\S+)", b).group(1) in only)
    exps = re.sub(r"(?m)^    trials: (\d+)$", lambda m: f"    trials: {int(m.group(1)) * scale}", exps)
    cache = f"  cache_mb: {cache_mb}\n" if cache_mb is not None else ""
    return (f"name: {name}\nseed: 31\nmodels:\n"
            f"  - name: mlp\n    host: null\n    shape: {{inputs: 32, hidden: {hidden}, layers: 2, classes: 10}}\n"
            f"  - name: small\n    host: null\n    shape: {{inputs: 16, hidden: 24, layers: 1, classes: 5}}\n"
            f"eval:\n  samples: {samples}\n  batch: {batch}\n{cache}"
            f"experiments:{exps}output:\n  faults_max_n: 1000\n")


# --------------------------------------------------------------------------
# helpers


@pytest.fixture(scope="module")
def env(mpi_env):
    e = dict(mpi_env)
    e.pop("NNFI_SABOTAGE", None)  # never inherited: only the sabotage test sets it
    return e


@pytest.fixture(scope="module")
def nnfi(nnfi_bin, work_dir, env, request):
    """nnfi(args, ranks=0, sabotage=None): `nnfi ARGS` (under the MPI launcher
    when ranks > 0), exit 0 asserted; returns the CompletedProcess."""

    def _run(args, ranks=0, sabotage=None, timeout=240):
        prog = [str(Path(nnfi_bin).resolve())] + [str(a) for a in args]
        cmd = request.getfixturevalue("mpiexec").cmd(ranks, *prog) if ranks else prog
        e = dict(env, NNFI_SABOTAGE=sabotage) if sabotage else env
        p = subprocess.run(cmd, env=e, cwd=work_dir, capture_output=True, text=True, timeout=timeout)
        assert p.returncode == 0, f"{' '.join(cmd)}: exit {p.returncode}\n{p.stdout}\n{p.stderr}"
        return p

    return _run


def write(work_dir, name, text):
    path = work_dir / name
    path.write_text(text)
    return path


def run_file(nnfi, yaml, out, *extra, ranks=0, sabotage=None):
    out = Path(out)
    nnfi(["run", yaml, "-o", out, "--force", "--progress", "off", "--quiet", *extra], ranks=ranks, sabotage=sabotage)
    return out


def compare_h5(source_dir, a, b):
    """tests/refactor/compare_h5.py A B: (exit status, the differences it printed)."""
    p = subprocess.run([sys.executable, str(source_dir / "tests" / "refactor" / "compare_h5.py"), str(a), str(b)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode in (0, 1), f"compare_h5.py failed: {p.returncode}\n{p.stdout}\n{p.stderr}"
    return p.returncode, [line.strip() for line in p.stdout.splitlines() if line.strip()]


def name_list(ds):
    return [x.decode() if isinstance(x, bytes) else str(x) for x in ds[()]]


def fault_table(f, by_trial):
    """/faults as {column: array}; by_trial: rows stably sorted by trial (the
    order of a trial's faults kept)."""
    g = f["faults"]
    cols = {k: g[k][()] for k in g}
    if by_trial and "trial" in cols:
        order = np.argsort(cols["trial"], kind="stable")
        cols = {k: v[order] for k, v in cols.items()}
    return cols


def trial_diffs(a, b, limit=6, faults_by_trial=False):
    """Where the /trials columns (less the volatile ones, bit for bit) and
    /faults of two result files differ: {experiment name: text}."""
    out = {}
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        ta, tb = fa["trials"], fb["trials"]
        names = name_list(fa["experiments"]["name"])
        exp, point, tip = ta["experiment"][()], ta["point"][()], ta["trial_in_point"][()]
        bad = {}  # trial -> [columns]
        for k in sorted(set(ta) | set(tb)):
            if k in VOLATILE or k == "trial":
                continue
            if k not in ta or k not in tb:
                out.setdefault("(columns)", "")
                out["(columns)"] += f" {k} only in one file;"
                continue
            x, y = ta[k][()], tb[k][()]
            if x.shape != y.shape:
                out.setdefault("(columns)", "")
                out["(columns)"] += f" {k} shape {x.shape} != {y.shape};"
                continue
            # bit for bit, row by row (compare_h5.py takes NaN == NaN and 0.0 == -0.0)
            differ = (x.view(np.uint8).reshape(len(x), -1) != y.view(np.uint8).reshape(len(y), -1)).any(axis=1)
            for t in np.nonzero(differ)[0]:
                bad.setdefault(int(t), []).append(f"{k} {x[t]!r}!={y[t]!r}")
        if ("faults" in fa) != ("faults" in fb):
            out["(faults)"] = " /faults only in one file"
        elif "faults" in fa:
            fa_f, fb_f = fault_table(fa, faults_by_trial), fault_table(fb, faults_by_trial)
            for k in sorted(set(fa_f) | set(fb_f)):
                if k not in fa_f or k not in fb_f or fa_f[k].shape != fb_f[k].shape or \
                        not np.array_equal(fa_f[k], fb_f[k], equal_nan=fa_f[k].dtype.kind == "f"):
                    out.setdefault("(faults)", "")
                    out["(faults)"] += f" /faults/{k} differs;"
        for t in sorted(bad):
            e = int(exp[t])
            key = names[e] if e < len(names) else f"experiment {e}"
            line = f"trial {t} (point {int(point[t])}, trial_in_point {int(tip[t])}): " + ", ".join(bad[t])
            lines = out.setdefault(key, [])
            if isinstance(lines, list):
                lines.append(line)
    res = {}
    for k, v in out.items():
        if isinstance(v, list):
            cols = sorted({c.split(" ")[0] for line in v for c in line.split(": ", 1)[1].split(", ")})
            res[k] = f"{len(v)} trial(s) differ in columns {cols}; e.g. " + " | ".join(v[:limit])
        else:
            res[k] = v
    return res


def assert_same(source_dir, a, b, what, ignore_attrs=(), faults_by_trial=False):
    """compare_h5.py A B must find nothing (but the root attributes named in
    ignore_attrs) and the /trials columns must be equal bit for bit;
    otherwise fail with where the trials differ. faults_by_trial: /faults is
    compared with its rows sorted by trial (rank 0 appends them in the order
    ranks return their trials, also with --full-eval), each trial's faults in
    their order."""
    rc, diffs = compare_h5(source_dir, a, b)
    diffs = [d for d in diffs if not any(d.startswith(f"/ @{n}:") for n in ignore_attrs)]
    if faults_by_trial:
        diffs = [d for d in diffs if not re.match(r"/faults/\w+: values differ$", d)]
    detail = trial_diffs(a, b, faults_by_trial=faults_by_trial)
    if diffs or detail:
        msg = "\n  ".join(diffs + [f"{k}: {v}" for k, v in detail.items()])
        pytest.fail(f"{what}: {a} and {b} differ (compare_h5.py exit {rc}):\n  {msg}", pytrace=False)


def shortcut_line(nnfi, yaml):
    """`nnfi plan`'s golden cache line for the main model."""
    p = nnfi(["plan", yaml])
    line = [ln for ln in p.stdout.splitlines() if ln.strip().startswith("mlp ")]
    assert line, f"nnfi plan prints the golden cache line:\n{p.stdout}"
    return line[0]


# --------------------------------------------------------------------------
# the coverage campaign: 1000 samples in batches of 256 (last batch 232)


@pytest.fixture(scope="module")
def cover(nnfi, work_dir):
    """(yaml, default file, --full-eval file) of the coverage campaign."""
    yaml = write(work_dir, "shortcuts_cover.yaml", campaign("shortcuts_cover", 1000, 256))
    line = shortcut_line(nnfi, yaml)
    assert "3 of 3 cut(s) kept" in line and "packing on" in line, f"every shortcut is on: {line}"
    default = run_file(nnfi, yaml, work_dir / "cover_default.h5")
    full = run_file(nnfi, yaml, work_dir / "cover_full.h5", "--full-eval")
    return yaml, default, full


def test_campaign_exercises_every_case(cover, check):
    """The coverage campaign has what the equivalence is about: the fault
    counts, 0-fault trials, outcomes that change, and a short last batch."""
    with h5py.File(cover[2], "r") as f:
        t = f["trials"]
        names = name_list(f["experiments"]["name"])
        exp, nf = t["experiment"][()], t["n_faults"][()]
        sdc, due = t["sdc"][()], t["due"][()]
        check(t["done"][()].all(), "every trial done")
        check(len(f["golden"]["mlp"]["labels"]) == 1000, "1000 eval samples (batches 256 x 3 + 232)")
        for n in (0, 1, 3, 64, 65, 1000, 100000):
            check((nf == n).any(), f"trials with {n} fault(s)")
        for i, name in enumerate(names):
            m = exp == i
            check((sdc[m] > 0).any(), f"{name}: some trials change predictions ({int((sdc[m] > 0).sum())}/{m.sum()})")
        check(due.any(), "some trials are DUE (non-finite logits)")


def test_default_equals_full_eval(cover, source_dir):
    assert_same(source_dir, cover[1], cover[2], "default vs --full-eval (1000 samples, batch 256)")


@pytest.mark.parametrize("what", sorted(SABOTAGED))
def test_sabotage_is_caught(nnfi, cover, source_dir, work_dir, what):
    """With one shortcut broken on purpose the comparison fails, and in the
    experiments that shortcut serves."""
    yaml, _, full = cover
    bad = run_file(nnfi, yaml, work_dir / f"cover_sabotage_{what}.h5", sabotage=what)
    rc, diffs = compare_h5(source_dir, bad, full)
    assert rc == 1 and any(d.startswith("/trials/") for d in diffs), \
        f"NNFI_SABOTAGE={what}: compare_h5.py finds the broken shortcut (exit {rc}: {diffs})"
    changed = trial_diffs(bad, full)
    missing = [e for e in SABOTAGED[what] if e not in changed]
    assert not missing, f"NNFI_SABOTAGE={what} changes experiments {missing} too (changed: {sorted(changed)})"


# --------------------------------------------------------------------------
# a golden cache too small for every cut: faults whose cut was dropped start
# from an earlier cut or the input


def test_partial_cache_equals_full_eval(nnfi, work_dir, source_dir):
    # hidden 128, 1000 samples: cuts of 512,000, 512,000 and 40,000 bytes; 1 MiB keeps the last two
    text = campaign("shortcuts_partial", 1000, 256, hidden=128, cache_mb=1,
                    only={"weight_perm", "bias_perm", "act_perm", "act_sample", "act_call", "weight_call",
                          "mixed_sample_perm", "mixed_sample_call", "two_sample", "rate_act_sample"})
    text = re.sub(r"(?m)^    trials: (\d+)$", lambda m: f"    trials: {max(2, int(m.group(1)) // 5)}", text)
    yaml = write(work_dir, "shortcuts_partial.yaml", text)
    line = shortcut_line(nnfi, yaml)
    assert "2 of 3 cut(s) kept" in line and "over budget" in line and "packing on" in line, \
        f"one cut over budget, the others kept: {line}"
    default = run_file(nnfi, yaml, work_dir / "partial_default.h5")
    full = run_file(nnfi, yaml, work_dir / "partial_full.h5", "--full-eval")
    assert_same(source_dir, default, full, "default vs --full-eval with one cut over budget")


# --------------------------------------------------------------------------
# other batch shapes: one short call only, a last batch of one row, batches of one


@pytest.mark.parametrize("samples,batch", [(100, 256), (257, 256), (37, 1)])
def test_batch_shapes(nnfi, work_dir, source_dir, samples, batch):
    name = f"shortcuts_{samples}_{batch}"
    yaml = write(work_dir, f"{name}.yaml", campaign(name, samples, batch))
    default = run_file(nnfi, yaml, work_dir / f"shape_{samples}_{batch}_default.h5")
    full = run_file(nnfi, yaml, work_dir / f"shape_{samples}_{batch}_full.h5", "--full-eval")
    assert_same(source_dir, default, full, f"default vs --full-eval ({samples} samples, batch {batch})")


# --------------------------------------------------------------------------
# ranks and kill -9: 300 samples in batches of 64 (last batch 44)


@pytest.fixture(scope="module")
def ranks_campaign(nnfi, work_dir):
    """(yaml, --full-eval file on one process) of the coverage campaign on
    300 samples in batches of 64, trial counts doubled (long enough to kill
    mid-run)."""
    yaml = write(work_dir, "shortcuts_ranks.yaml", campaign("shortcuts_ranks", 300, 64, scale=2))
    line = shortcut_line(nnfi, yaml)
    assert "3 of 3 cut(s) kept" in line and "packing on" in line, f"every shortcut is on: {line}"
    full = run_file(nnfi, yaml, work_dir / "ranks_full.h5", "--full-eval")
    return yaml, full


@pytest.fixture(scope="module")
def single(nnfi, ranks_campaign, work_dir):
    """The campaign with shortcuts on, one plain process (no MPI launcher)."""
    return run_file(nnfi, ranks_campaign[0], work_dir / "ranks_single.h5")


def test_single_process_equals_full_eval(single, ranks_campaign, source_dir):
    assert_same(source_dir, single, ranks_campaign[1], "default vs --full-eval (300 samples, batch 64)")


@pytest.mark.parametrize("k", [1, 2, 4])
def test_ranks_do_not_matter(nnfi, single, ranks_campaign, source_dir, work_dir, mpiexec, k):
    path = run_file(nnfi, ranks_campaign[0], work_dir / f"ranks_np{k}.h5", ranks=k)
    with h5py.File(path, "r") as f:
        assert f.attrs["world_size"] == k, f"world_size attribute is {k}"
        seen = sorted(set(np.unique(f["trials"]["rank"][()]).tolist()))
    assert k == 1 or len(seen) > 1, f"{k} ranks: trials ran on several ranks ({seen})"
    ignore = ("world_size",) if k > 1 else ()
    assert_same(source_dir, path, single, f"{k} MPI rank(s) vs one process (shortcuts on)", ignore_attrs=ignore,
                faults_by_trial=k > 1)
    assert_same(source_dir, path, ranks_campaign[1], f"{k} MPI rank(s) (shortcuts on) vs --full-eval on one process",
                ignore_attrs=ignore, faults_by_trial=k > 1)


def test_kill9_then_resume(nnfi, nnfi_bin, ranks_campaign, single, source_dir, work_dir, env):
    yaml, full = ranks_campaign
    path = work_dir / "ranks_kill.h5"
    if path.exists():
        path.unlink()  # a complete file from an earlier run would be killed too early
    with h5py.File(single, "r") as f:
        n = len(f["trials"]["done"])
    cmd = [str(Path(nnfi_bin).resolve()), "run", str(yaml), "-o", str(path), "--force", "--progress", "lines",
           "--checkpoint-every", "0.1"]
    p = subprocess.Popen(cmd, env=env, cwd=work_dir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    done = 0
    deadline = time.time() + 120
    while time.time() < deadline and p.poll() is None:
        time.sleep(0.05)
        try:
            with h5py.File(path, "r") as f:  # checkpointed rows: the file and its journal
                done = int(njournal.overlay_trials(f, "done").sum())
        except Exception:
            continue
        if done >= n // 10:
            break
    p.send_signal(signal.SIGKILL)
    p.communicate(timeout=60)
    assert p.returncode == -signal.SIGKILL, f"kill -9 killed the run mid-way (rc {p.returncode}, {done}/{n} done)"
    with h5py.File(path, "r") as f:
        partial = int(njournal.overlay_trials(f, "done").sum())
    assert 0 < partial < n, f"kill -9 left a partial file ({partial} of {n} trials done)"
    nnfi(["run", yaml, "-o", path, "--resume", "--progress", "off", "--quiet"])
    assert_same(source_dir, path, single, f"kill -9 after {partial}/{n} trials + --resume vs the uninterrupted run")
    assert_same(source_dir, path, full, "kill -9 + --resume vs --full-eval")
