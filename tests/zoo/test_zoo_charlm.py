"""test_zoo_charlm.py - the zoo's character-level language model hosted as it
is: int64 token ids in, logits [N, T, vocab] out, outcomes per (sample,
position).

  * the golden run equals PyTorch's: /golden/charlm has logits [N, T, V]
    bit for bit, labels [N x T] from the eval file, attributes positions = T
    and outcome_unit "position", and an accuracy that is the next-character
    accuracy over every (sample, position);
  * the "input" site is int64 (the token ids the model reads), and a fault in
    a token id's low bits changes predictions at and after its position only
    (the model is causal), counted per position;
  * every trial compares N x T rows: a transient fault into one sample's
    activation changes at most T of them;
  * `nnfi run` (shortcuts), `nnfi run --full-eval` and 2 ranks give the same
    file but for the volatile columns;
  * an eval set with one label per sample, or token ids past 2^24, is refused
    at the eval entry with the reason and a hint; `nnfi inspect` says the
    outcomes are per (sample, position).
Needs the zoo (fixture `zoo`: NNFI_MODELS_DIR, default build/models)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "refactor"))
import compare_h5  # noqa: E402

MODELS = Path(os.environ.get("NNFI_MODELS_DIR", HERE.parents[1] / "build" / "models"))
SAMPLES, BATCH = 24, 8


def campaign(models, eval_path=None, images="tokens", labels="labels"):
    ev = eval_path or f"{models}/fortunes_test.h5"
    return f"""name: zoo-charlm
seed: 17
models:
  - {{name: charlm, host: torch, path: {models}/charlm.pt, threads: 1}}
eval: {{path: {ev}, images: {images}, labels: {labels}, samples: {SAMPLES}, batch: {BATCH}}}
experiments:
  - {{name: act, model: charlm, groups: [{{target: activation, bits: {{preset: exponent}}, op: flip, persistence: transient, scope: sample, count: 1}}], trials: 8}}
  - {{name: weight, model: charlm, groups: [{{target: weight, bits: {{preset: exponent}}, op: flip, count: 1}}], trials: 6}}
  - {{name: tokens, model: charlm, groups: [{{target: input, bits: {{list: [0, 1, 2, 3]}}, op: flip, persistence: transient, scope: sample, count: 1}}], trials: 8}}
"""


def run(cmd, env=None, ok=True):
    r = subprocess.run([str(c) for c in cmd], env=env, capture_output=True, text=True, timeout=900)
    if ok:
        assert r.returncode == 0, r.stderr
    return r


@pytest.fixture(scope="module")
def info():
    if not (MODELS / "charlm.json").exists():
        pytest.skip(f"no model zoo in {MODELS} (ctest -L zoo builds it)")
    return json.loads((MODELS / "charlm.json").read_text())


@pytest.fixture(scope="module")
def cfg(work_dir, info):
    path = work_dir / "charlm.yaml"
    path.write_text(campaign(MODELS))
    return path


@pytest.fixture(scope="module")
def full(nnfi_bin, work_dir, cfg):
    out = work_dir / "full.h5"
    run([nnfi_bin, "run", cfg, "-o", out, "--force", "--quiet", "--progress", "off", "--full-eval"])
    return out


def test_golden_is_pytorch_per_position(full, info):
    T, V = info["seq_len"], info["vocab_size"]
    with h5py.File(MODELS / "fortunes_test.h5", "r") as f:
        x = torch.from_numpy(f["tokens"][:SAMPLES])
        y = f["labels"][:SAMPLES]
    m = torch.jit.load(str(MODELS / "charlm.pt"), map_location="cpu").eval()
    torch.set_num_threads(1)
    with torch.inference_mode():
        ref = torch.cat([m(x[s:s + BATCH]) for s in range(0, SAMPLES, BATCH)]).numpy()
    with h5py.File(full, "r") as f:
        g = f["golden/charlm"]
        assert g.attrs["positions"] == T and g.attrs["classes"] == V
        assert g.attrs["outcome_unit"] in ("position", b"position")
        logits, labels = g["logits"][()], g["labels"][()]
        assert logits.shape == (SAMPLES, T, V)
        assert np.array_equal(labels, y.reshape(-1))
        np.testing.assert_allclose(logits, ref, rtol=0, atol=1e-5)
        acc = float((logits.argmax(-1) == y).mean())
        assert g.attrs["accuracy"] == pytest.approx(acc, abs=1e-12)
        assert acc > info["baseline_bigram"]["accuracy"] - 0.1
        sites = f["sites/charlm"]
        names = [n.decode() if isinstance(n, bytes) else n for n in sites["name"][()]]
        dtypes = [d.decode() if isinstance(d, bytes) else d for d in sites["dtype"][()]]
        assert dtypes[names.index("input")] == "int64"


def test_outcomes_count_positions(full, info):
    T = info["seq_len"]
    with h5py.File(full, "r") as f:
        tr = f["trials"]
        exp = tr["experiment"][()]
        sdc, done = tr["sdc"][()], tr["done"][()]
        acc, due = tr["accuracy"][()], tr["due_samples"][()]
        assert done.all()
        assert (sdc <= SAMPLES * T).all() and (due <= SAMPLES * T).all()
        # one sample's transient fault changes at most that sample's T positions
        one = exp != 1
        assert (sdc[one] <= T).all() and (due[one] <= T).all()
        # accuracy is over N x T rows: a multiple of 1 / (N T)
        k = acc * SAMPLES * T
        assert np.allclose(k, np.round(k), atol=1e-6)
        # flipped low bits of a token id change predictions in some trials;
        # activation faults change logits
        assert sdc[exp == 2].max() > 0
        assert (tr["max_abs_err"][()][exp == 0] > 0).any()


def test_token_fault_is_causal(nnfi_bin, work_dir, full, info):
    """A token fault changes nothing before its position: replay one in
    PyTorch from /faults and compare with the trial's counts."""
    T = info["seq_len"]
    with h5py.File(full, "r") as f:
        fl = {k: f["faults"][k][()] for k in ("trial", "element", "mask", "when")}
        tr = f["trials"]
        exp, sdc = tr["experiment"][()], tr["sdc"][()]
        first = int(f["experiments"]["first_trial"][()][2])
    with h5py.File(MODELS / "fortunes_test.h5", "r") as f:
        x = torch.from_numpy(f["tokens"][:SAMPLES])
    m = torch.jit.load(str(MODELS / "charlm.pt"), map_location="cpu").eval()
    torch.set_num_threads(1)
    checked = 0
    for i in np.nonzero(fl["trial"] >= first)[0]:
        t, sample, pos, mask = int(fl["trial"][i]), int(fl["when"][i]), int(fl["element"][i]), int(fl["mask"][i])
        assert exp[t] == 2
        s0 = sample // BATCH * BATCH
        xb = x[s0:s0 + BATCH].clone()
        with torch.inference_mode():
            g = m(xb).argmax(-1)
        xb[sample - s0, pos] ^= mask
        if not 0 <= int(xb[sample - s0, pos]) < info["vocab_size"]:
            continue  # an id out of the vocabulary: the embedding refuses it (a failed trial)
        with torch.inference_mode():
            o = m(xb).argmax(-1)
        changed = (o != g)
        assert not changed[:, :pos].any(), "a later token changed earlier predictions"
        assert int(changed.sum()) == int(sdc[t]), (t, int(changed.sum()), int(sdc[t]))
        checked += 1
    assert checked >= 3


def test_default_and_two_ranks_equal_full_eval(nnfi_bin, work_dir, cfg, full, mpi_env, mpiexec):
    out = work_dir / "default.h5"
    run([nnfi_bin, "run", cfg, "-o", out, "--force", "--quiet", "--progress", "off"])
    assert compare_h5.compare(str(out), str(full)) == []
    out2 = work_dir / "ranks2.h5"
    run(mpiexec.cmd(2, str(nnfi_bin), "run", str(cfg), "-o", str(out2), "--force", "--quiet", "--progress", "off"),
        env=mpi_env)
    diffs = [d for d in compare_h5.compare(str(out2), str(full)) if not d.startswith(("/faults/", "/ @world_size"))]
    assert diffs == []


def test_inspect_says_positions(nnfi_bin, full, info):
    r = run([nnfi_bin, "inspect", full])
    assert f"{SAMPLES} samples x {info['seq_len']} positions" in r.stdout, r.stdout


def test_one_label_per_sample_refused(nnfi_bin, work_dir, info):
    path = work_dir / "one_label.h5"
    with h5py.File(MODELS / "fortunes_test.h5", "r") as f, h5py.File(path, "w") as g:
        g["tokens"] = f["tokens"][:SAMPLES]
        g["labels"] = f["labels"][:SAMPLES, -1]
    cfg = work_dir / "one_label.yaml"
    cfg.write_text(campaign(MODELS, eval_path=path))
    r = run([nnfi_bin, "run", cfg, "-o", work_dir / "x.h5", "--force", "--quiet"], ok=False)
    assert r.returncode != 0
    assert "1 label per sample" in r.stderr and f"outputs {info['seq_len']} positions" in r.stderr, r.stderr
    assert "one_label.yaml:5:" in r.stderr and "hint:" in r.stderr, r.stderr


def test_token_ids_past_2_24_refused(nnfi_bin, work_dir, info):
    path = work_dir / "big_ids.h5"
    with h5py.File(MODELS / "fortunes_test.h5", "r") as f, h5py.File(path, "w") as g:
        tok = f["tokens"][:SAMPLES].copy()
        tok[3, 5] = (1 << 24) + 1
        g["tokens"] = tok
        g["labels"] = f["labels"][:SAMPLES]
    cfg = work_dir / "big_ids.yaml"
    cfg.write_text(campaign(MODELS, eval_path=path))
    r = run([nnfi_bin, "run", cfg, "-o", work_dir / "y.h5", "--force", "--quiet"], ok=False)
    assert r.returncode != 0
    assert "16777217" in r.stderr and "2^24" in r.stderr and "hint:" in r.stderr, r.stderr
    assert "big_ids.yaml:5:" in r.stderr, r.stderr


def test_sites_of_the_model_alone(nnfi_bin, info):
    """`nnfi sites charlm.pt` takes the input from --eval/--images or from
    --input-shape/--input-dtype; alone (float [1, 28, 28]) it fails and says
    which dtype and shape it tried."""
    T = info["seq_len"]
    a = run([nnfi_bin, "sites", MODELS / "charlm.pt", "--eval", MODELS / "fortunes_test.h5", "--images", "tokens"])
    b = run([nnfi_bin, "sites", MODELS / "charlm.pt", "--input-shape", str(T), "--input-dtype", "int64"])
    assert a.stdout == b.stdout
    line = next(ln for ln in a.stdout.splitlines() if ln.startswith("input "))
    assert "int64" in line and f"[{T}]" in line, line
    for i in range(info["layers"]):
        assert f"encoder.layers.{i}.linear1" in a.stdout, a.stdout
    r = run([nnfi_bin, "sites", MODELS / "charlm.pt"], ok=False)
    assert r.returncode != 0 and "Float" in r.stderr and "--input-dtype" in r.stderr, r.stderr
    r = run([nnfi_bin, "sites", MODELS / "charlm.pt", "--input-dtype", "int32"], ok=False)
    assert r.returncode == 2 and "float32, float16, bfloat16 or int64" in r.stderr, r.stderr
