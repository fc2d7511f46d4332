"""test_zoo_shortcuts.py - the shortcuts change nothing on the real zoo: for
the CNN, the SNN, the int8 CNN and the pruned CNN under every fault kind
(weight, bias, activation permanent and transient per sample and per call,
input, SNN state, quantization metadata, several groups together, counts
from 1 to 100,000), `nnfi run` (sample-sparse calls, packing, prefix reuse
from the golden cache) and `nnfi run --full-eval` give the same result file
but for the volatile columns; 2 ranks too. The eval set leaves a short last
batch (200 = 3 x 64 + 8). Needs the zoo (fixture `zoo`: build/models)."""
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "refactor"))
import compare_h5  # noqa: E402

MODELS = Path(os.environ.get("NNFI_MODELS_DIR", HERE.parents[1] / "build" / "models"))


def campaign(models):
    m = models
    return f"""name: zoo-shortcuts
seed: 91
models:
  - {{name: cnn, host: torch, path: {m}/cnn.pt, threads: 1}}
  - {{name: snn, host: torch, path: {m}/snn.pt, threads: 1}}
  - {{name: qcnn, host: torch, path: {m}/qcnn.pt, threads: 1, qengine: qnnpack}}
  - {{name: pcnn, host: torch, path: {m}/pcnn.pt, threads: 1}}
eval: {{path: {m}/fashion_mnist_test.h5, samples: 200, batch: 64}}
experiments:
  - {{name: cnn-act-sample, model: cnn, groups: [{{target: activation, bits: {{preset: exponent}}, op: flip, persistence: transient, scope: sample}}], sweep: {{faults: [1, 2, 64, 65]}}, trials: 12}}
  - {{name: cnn-act-call, model: cnn, groups: [{{target: activation, bits: {{preset: exponent}}, op: flip, persistence: transient, scope: call, count: 1}}], trials: 6}}
  - {{name: cnn-act-perm, model: cnn, groups: [{{target: activation, bits: {{preset: exponent}}, op: flip, count: 1}}], trials: 6}}
  - {{name: cnn-weight, model: cnn, groups: [{{target: weight, bits: {{preset: exponent}}, op: flip}}], sweep: {{faults: [1, 100, 100000]}}, trials: 4}}
  - {{name: cnn-fc2, model: cnn, groups: [{{target: weight, sites: ["fc2.weight"], bits: {{preset: exponent}}, op: flip, count: 1}}], trials: 8}}
  - {{name: cnn-bias-trans, model: cnn, groups: [{{target: bias, bits: {{preset: exponent}}, op: flip, persistence: transient, scope: call, count: 1}}], trials: 6}}
  - {{name: cnn-input, model: cnn, groups: [{{target: input, op: flip, persistence: transient, scope: sample, count: 1}}], trials: 8}}
  - {{name: cnn-input-perm, model: cnn, groups: [{{target: input, op: stuck1, count: 3}}], trials: 3}}
  - {{name: cnn-mixed, model: cnn, groups: [{{target: activation, bits: {{preset: exponent}}, op: flip, persistence: transient, scope: sample, count: 2}}, {{target: weight, sites: ["conv2.weight"], bits: {{preset: exponent}}, op: flip, count: 1}}], trials: 4}}
  - {{name: cnn-rate, model: cnn, groups: [{{target: param, op: flip}}], sweep: {{rates: [1.0e-7, 1.0e-5], draw: poisson}}, trials: 4}}
  - {{name: snn-state, model: snn, groups: [{{target: state, bits: {{preset: exponent}}, op: flip, persistence: transient, scope: sample, count: 1, time_steps: {{from: 2, to: 5}}}}], trials: 10}}
  - {{name: snn-state-perm, model: snn, groups: [{{target: state, sites: ["loop0.mem*"], bits: {{preset: exponent}}, op: flip, count: 10}}], trials: 3}}
  - {{name: snn-weight, model: snn, groups: [{{target: weight, bits: {{preset: exponent}}, op: flip}}], sweep: {{faults: [1, 1000]}}, trials: 3}}
  - {{name: qcnn-weight, model: qcnn, groups: [{{target: weight, op: flip}}], sweep: {{faults: [1, 100]}}, trials: 3}}
  - {{name: qcnn-scales, model: qcnn, groups: [{{target: param, sites: ["*.weight.scale"], bits: {{preset: exponent}}, op: flip, count: 1}}], trials: 3}}
  - {{name: qcnn-act, model: qcnn, groups: [{{target: activation, op: flip, persistence: transient, scope: sample, count: 1}}], trials: 8}}
  - {{name: pcnn-zeros, model: pcnn, groups: [{{target: weight, values: zero, bits: {{preset: exponent}}, op: flip, count: 10}}], trials: 3}}
  - {{name: pcnn-act, model: pcnn, groups: [{{target: activation, bits: {{preset: exponent}}, op: flip, persistence: transient, scope: sample, count: 1}}], trials: 8}}
"""


def faults_by_trial(path):
    """/faults as columns, rows in trial order (ranks append them as trials finish)."""
    with h5py.File(path, "r") as f:
        cols = {k: f["faults"][k][()] for k in f["faults"] if isinstance(f["faults"][k], h5py.Dataset)}
    order = np.argsort(cols["trial"], kind="stable")
    return {k: v[order] for k, v in cols.items()}


def run(cmd, env=None):
    r = subprocess.run([str(c) for c in cmd], env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr


@pytest.fixture(scope="module")
def cfg(work_dir):
    if not (MODELS / "cnn.pt").exists():
        pytest.skip(f"no model zoo in {MODELS} (ctest -L zoo builds it)")
    path = work_dir / "zoo_shortcuts.yaml"
    path.write_text(campaign(MODELS))
    return path


@pytest.fixture(scope="module")
def full(nnfi_bin, work_dir, cfg):
    out = work_dir / "full.h5"
    run([nnfi_bin, "run", cfg, "-o", out, "--force", "--quiet", "--progress", "off", "--full-eval"])
    return out


def test_default_equals_full_eval(nnfi_bin, work_dir, cfg, full):
    out = work_dir / "default.h5"
    run([nnfi_bin, "run", cfg, "-o", out, "--force", "--quiet", "--progress", "off"])
    assert compare_h5.compare(str(out), str(full)) == []


def test_two_ranks_equal_full_eval(nnfi_bin, work_dir, cfg, full, mpi_env, mpiexec):
    out = work_dir / "ranks2.h5"
    run(mpiexec.cmd(2, str(nnfi_bin), "run", str(cfg), "-o", str(out), "--force", "--quiet", "--progress", "off"),
        env=mpi_env)
    # /faults is in arrival order, which depends on the ranks: compare it in trial order
    diffs = [d for d in compare_h5.compare(str(out), str(full)) if not d.startswith(("/faults/", "/ @world_size"))]
    assert diffs == []
    a, b = faults_by_trial(out), faults_by_trial(full)
    assert sorted(a) == sorted(b)
    for k in a:
        assert np.array_equal(a[k], b[k]), k
