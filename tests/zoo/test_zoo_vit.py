"""test_zoo_vit.py - the zoo's ViT (campaigns/models `vit`, a stock
nn.TransformerEncoder classifier on Fashion-MNIST) in a small campaign, as
test_zoo_charlm.py does for the language model (zoo_transformers only lists
vit's sites):

  * a campaign on vit.pt (32 eval samples, 8 trials per experiment): a
    transient activation fault per sample on a site inside an encoder layer
    (the default unfused path: `encoder.1.linear1.linear#0`), an activation
    fault on any site of the encoder layers, a weight fault on the encoder's
    parameters;
  * its golden run equals PyTorch's logits (within 2e-6: the unfused path
    differs from the fused kernel in the last bits on some machines, README
    "Fused fast paths"), and `fused: true` gives the same predictions;
  * `nnfi run` (shortcuts) == `nnfi run --full-eval` (the whole file but for
    the volatile columns), and 2 ranks give the same /trials as 1 process;
  * `nnfi inspect` reads the file.
Needs the zoo (fixture `zoo`: NNFI_MODELS_DIR, default build/models)."""
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
SAMPLES, BATCH, TRIALS = 32, 16, 8
INNER_SITE = "encoder.1.linear1.linear#0"


def campaign(models, fused=False):
    extra = ", fused: true" if fused else ""
    return f"""name: zoo-vit
seed: 23
models:
  - {{name: vit, host: torch, path: {models}/vit.pt, threads: 1{extra}}}
eval: {{path: {models}/fashion_mnist_test.h5, samples: {SAMPLES}, batch: {BATCH}}}
experiments:
  - {{name: inner, model: vit, groups: [{{target: activation, sites: ["{INNER_SITE}"], bits: {{preset: exponent}}, op: flip, persistence: transient, scope: sample, count: 1}}], trials: {TRIALS}}}
  - {{name: layers, model: vit, groups: [{{target: activation, sites: ["encoder.*"], bits: {{preset: exponent}}, op: flip, persistence: transient, scope: sample, count: 1}}], trials: {TRIALS}}}
  - {{name: weight, model: vit, groups: [{{target: weight, sites: ["encoder.layers.*"], bits: {{preset: exponent}}, op: flip, count: 1}}], trials: {TRIALS}}}
"""


def run(cmd, env=None):
    r = subprocess.run([str(c) for c in cmd], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    return r


def text(v):
    return v.decode() if isinstance(v, bytes) else str(v)


@pytest.fixture(scope="module")
def cfg(work_dir):
    if not (MODELS / "vit.pt").exists():
        pytest.skip(f"no model zoo in {MODELS} (ctest -L zoo builds it)")
    path = work_dir / "vit.yaml"
    path.write_text(campaign(MODELS))
    return path


@pytest.fixture(scope="module")
def full(nnfi_bin, work_dir, cfg):
    out = work_dir / "full.h5"
    run([nnfi_bin, "run", cfg, "-o", out, "--force", "--quiet", "--progress", "off", "--full-eval"])
    return out


def test_golden_is_pytorch_and_sites_inside_layers(full):
    with h5py.File(MODELS / "fashion_mnist_test.h5", "r") as f:
        x = torch.from_numpy(f["images"][:SAMPLES])
        y = f["labels"][:SAMPLES]
    m = torch.jit.load(str(MODELS / "vit.pt"), map_location="cpu").eval()
    torch.set_num_threads(1)
    with torch.inference_mode():
        ref = torch.cat([m(x[s:s + BATCH]) for s in range(0, SAMPLES, BATCH)]).numpy()
    with h5py.File(full, "r") as f:
        g = f["golden/vit"]
        logits = g["logits"][()]
        assert logits.shape == (SAMPLES, 10)
        assert np.array_equal(g["labels"][()], y)
        np.testing.assert_allclose(logits, ref, rtol=0, atol=2e-6)
        assert np.array_equal(logits.argmax(1), ref.argmax(1))
        names = [text(n) for n in f["sites/vit"]["name"][()]]
        for i in range(3):
            assert f"encoder.{i}.linear1.linear#0" in names, names
        # every fault of the first experiment went to the encoder layer's site
        tr = f["trials"]
        exp, done, err = tr["experiment"][()], tr["done"][()], tr["max_abs_err"][()]
        assert done.all() and len(exp) == 3 * TRIALS
        fl = f["faults"]
        site_of = [text(s) for s in fl["site"][()]] if fl["site"].dtype.kind in "SOU" else \
            [names[int(s)] for s in fl["site"][()]]
        inner = exp[fl["trial"][()]] == 0
        assert inner.sum() == TRIALS and {site_of[i] for i in np.nonzero(inner)[0]} == {INNER_SITE}
        # exponent flips inside the encoder change the logits in some trials
        assert (err[exp == 0] > 0).any() and (err[exp == 2] > 0).any()


def test_default_equals_full_eval_and_two_ranks(nnfi_bin, work_dir, cfg, full, mpi_env, mpiexec):
    out = work_dir / "default.h5"
    run([nnfi_bin, "run", cfg, "-o", out, "--force", "--quiet", "--progress", "off"])
    assert compare_h5.compare(str(out), str(full)) == []
    out2 = work_dir / "ranks2.h5"
    run(mpiexec.cmd(2, str(nnfi_bin), "run", str(cfg), "-o", str(out2), "--force", "--quiet", "--progress", "off"),
        env=mpi_env)
    diffs = [d for d in compare_h5.compare(str(out2), str(full)) if not d.startswith(("/faults/", "/ @world_size"))]
    assert diffs == []
    with h5py.File(out2, "r") as a, h5py.File(out, "r") as b:
        assert a.attrs["world_size"] == 2
        for k in b["trials"]:
            if "/trials/" + k not in compare_h5.VOLATILE:
                assert np.array_equal(a["trials"][k][()], b["trials"][k][()]), k


def test_fused_gives_the_same_predictions(nnfi_bin, work_dir, full):
    """`fused: true` keeps PyTorch's fused encoder kernel: one site per layer,
    logits equal to the unfused path's within 1e-5 (README: on some machines
    they differ in the last bits), the same predictions."""
    path = work_dir / "vit_fused.yaml"
    path.write_text(campaign(MODELS, fused=True).replace(f'sites: ["{INNER_SITE}"]',
                                                         'sites: ["encoder.1._transformer_encoder_layer_fwd#0"]'))
    out = work_dir / "fused.h5"
    run([nnfi_bin, "run", path, "-o", out, "--force", "--quiet", "--progress", "off"])
    with h5py.File(out, "r") as a, h5py.File(full, "r") as b:
        fz, unf = a["golden/vit/logits"][()], b["golden/vit/logits"][()]
        np.testing.assert_allclose(fz, unf, rtol=0, atol=1e-5)
        assert np.array_equal(fz.argmax(1), unf.argmax(1))
        names = [text(n) for n in a["sites/vit"]["name"][()]]
        assert "encoder.1._transformer_encoder_layer_fwd#0" in names and INNER_SITE not in names
        assert a["trials"]["done"][()].all()


def test_inspect(nnfi_bin, full):
    r = run([nnfi_bin, "inspect", full])
    assert "vit" in r.stdout and str(SAMPLES) in r.stdout, r.stdout
    for name in ("inner", "layers", "weight"):
        assert name in r.stdout, r.stdout
