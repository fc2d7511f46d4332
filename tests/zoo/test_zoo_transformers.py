"""test_zoo_transformers.py - the zoo's transformer models (campaigns/models:
`vit`, a ViT-style Fashion-MNIST classifier, and `charlm`, a character-level
language model on Debian's fortunes) against their targets and interfaces:

  * each json's accuracy of the reloaded file meets build_zoo.py's TARGETS
    (charlm also its margin over the bigram baseline), its file_sha256 (and
    charlm's eval_file_sha256) matches the file, and its interface fields say
    what the model takes: vit float32 [N,1,28,28] -> [N,10] ("N,C"), charlm
    int64 [N,T] -> [N,T,vocab] ("N,T,C", the json's output_layout);
  * the files load with torch.jit.load, are built from stock modules
    (TransformerEncoderLayer, MultiheadAttention, no hand-written attention)
    and give the json's logits: vit's first test image, charlm's eval-file
    accuracy; charlm is causal (a later token never changes earlier logits);
  * fortunes_test.h5 has int64 `tokens` and `labels` [N, seq_len] with ids in
    [0, vocab), labels = the next token, and the attributes a loader reads;
  * zoo.json lists both, and a harness that hosts only float32 image
    classifiers picks the vit and leaves charlm out by its json fields
    (input_dtype / output_layout), not by name;
  * `nnfi sites vit.pt` lists parameter sites inside every encoder layer.

Needs the zoo (fixture `zoo`: NNFI_MODELS_DIR, default build/models)."""
import hashlib
import importlib.util
import json
import os
import subprocess
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
MODELS = Path(os.environ.get("NNFI_MODELS_DIR", ROOT / "build" / "models"))


def load_build_zoo():
    spec = importlib.util.spec_from_file_location("build_zoo", ROOT / "campaigns" / "models" / "build_zoo.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


BZ = load_build_zoo()


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def zoo():
    if not (MODELS / "zoo.json").exists():
        pytest.skip(f"no model zoo in {MODELS} (ctest -L zoo builds it)")
    return json.loads((MODELS / "zoo.json").read_text())


def facts(name):
    p = MODELS / f"{name}.json"
    assert p.exists(), f"{p} missing: the zoo fixture should have built {name}"
    return json.loads(p.read_text())


def hostable_as_image_classifier(info):
    """What a float32-image harness (test_zoo, bench_zoo, the demo) may run:
    decided by the json's interface fields; models without them are the
    original Fashion-MNIST classifiers."""
    return info.get("input_dtype", "float32") == "float32" and info.get("output_layout", "N,C") == "N,C"


def module_kinds(m):
    return {sub.original_name for _, sub in m.named_modules()}


# ---- targets ------------------------------------------------------------------

@pytest.mark.parametrize("name", ["vit", "charlm"])
def test_targets_met(zoo, name):
    info = facts(name)
    assert name in BZ.TARGETS, f"build_zoo.py has no target for {name}"
    for key, want in BZ.TARGETS[name].items():
        have = BZ.target_value(info, key)
        assert have is not None and have >= want, f"{name}: {key} {have} < target {want}"
    assert BZ.check_targets(name, info) == []
    assert zoo["models"][name]["targets_met"] is True
    assert info["file_sha256"] == sha256(MODELS / info["file"])
    print(f"{name}: test accuracy {info['test_accuracy']:.4f} (targets {BZ.TARGETS[name]}), "
          f"{info['parameters']} parameters, trained in {info['training_seconds']} s")


def test_check_targets_can_fail():
    """The check the tests rely on refuses a model below its targets."""
    assert BZ.check_targets("vit", {"test_accuracy": 0.5})
    assert BZ.check_targets("charlm", {"test_accuracy": 0.9, "baseline_bigram": {"accuracy": 0.89}})
    assert BZ.check_targets("charlm", {"test_accuracy": 0.9})


# ---- vit ----------------------------------------------------------------------

def test_vit_interface_and_logits(zoo):
    info = facts("vit")
    assert info["input_dtype"] == "float32" and info["input_shape"] == [1, 28, 28]
    assert info["output_layout"] == "N,C"
    for k in ("layers", "heads", "patch_size", "parameters", "training_seconds"):
        assert isinstance(info[k], (int, float)) and info[k] > 0, k
    assert info["export"] == "torch.jit.script"
    m = torch.jit.load(str(MODELS / "vit.pt"), map_location="cpu").eval()
    kinds = module_kinds(m)
    assert {"TransformerEncoder", "TransformerEncoderLayer", "MultiheadAttention",
            "LayerNorm", "Linear"} <= kinds, kinds
    layers = [n for n, sub in m.named_modules() if sub.original_name == "TransformerEncoderLayer"]
    assert len(layers) == info["layers"]
    with h5py.File(MODELS / "fashion_mnist_test.h5", "r") as f:
        x = torch.from_numpy(f["images"][:64])
        y = torch.from_numpy(f["labels"][:64])
    with torch.inference_mode():
        out = m(x)
    assert tuple(out.shape) == (64, 10) and out.dtype == torch.float32
    np.testing.assert_allclose(out[0].numpy(), np.array(info["logits_image0"], dtype=np.float32),
                               rtol=1e-4, atol=1e-4)
    assert float((out.argmax(1) == y).double().mean()) >= 0.7


# ---- charlm ------------------------------------------------------------------

def test_charlm_interface(zoo):
    info = facts("charlm")
    assert info["input_dtype"] == "int64" and info["output_layout"] == "N,T,C"
    V, T = info["vocab_size"], info["seq_len"]
    voc = info["vocabulary"]
    assert len(voc["tokens"]) == V and voc["tokens"][voc["unk_id"]] == "<unk>"
    assert len(set(voc["tokens"])) == V
    for k in ("layers", "heads", "parameters", "training_seconds"):
        assert info[k] > 0, k
    base = info["baseline_most_frequent_char"]["accuracy"]
    assert 0 < base < info["baseline_bigram"]["accuracy"] < info["test_accuracy"] <= 1
    assert info["input_shape"] == [T]


def test_charlm_eval_file(zoo):
    info = facts("charlm")
    V, T = info["vocab_size"], info["seq_len"]
    path = MODELS / info["eval_file"]
    assert info["eval_file"] == "fortunes_test.h5"
    assert info["eval_file_sha256"] == sha256(path)
    assert zoo["models"]["charlm"]["eval_file"] == "fortunes_test.h5"
    with h5py.File(path, "r") as f:
        tok, lab = f["tokens"], f["labels"]
        assert tok.dtype == np.int64 and lab.dtype == np.int64
        assert tok.ndim == 2 and tok.shape == lab.shape
        n = tok.shape[0]
        assert 16 <= n <= 1024 and tok.shape[1] == T
        x, y = tok[()], lab[()]
        assert int(f.attrs["vocab_size"]) == V and int(f.attrs["seq_len"]) == T
        assert int(f.attrs["unk_id"]) == info["vocabulary"]["unk_id"]
        assert int(f.attrs["count"]) == n
        assert f.attrs["input_dtype"] == "int64" and f.attrs["output_layout"] == "N,T,C"
        for a in ("dataset", "split", "source_files", "vocabulary"):
            assert a in f.attrs, a
    assert x.min() >= 0 and x.max() < V and y.min() >= 0 and y.max() < V
    assert np.array_equal(y[:, :-1], x[:, 1:]), "labels are not the next token"
    assert len(np.unique(x[:, 0])) > 10, "sequences do not come from different places"


def test_charlm_logits_and_causality(zoo):
    info = facts("charlm")
    V, T = info["vocab_size"], info["seq_len"]
    m = torch.jit.load(str(MODELS / "charlm.pt"), map_location="cpu").eval()
    assert {"TransformerEncoder", "TransformerEncoderLayer", "MultiheadAttention",
            "Embedding"} <= module_kinds(m)
    with h5py.File(MODELS / info["eval_file"], "r") as f:
        x = torch.from_numpy(f["tokens"][()])
        y = torch.from_numpy(f["labels"][()])
    with torch.inference_mode():
        out = m(x)
    assert tuple(out.shape) == (x.shape[0], T, V) and out.dtype == torch.float32
    acc = float((out.double().argmax(-1) == y).double().mean())
    assert abs(acc - info["eval_file_accuracy"]) <= 2.0 / y.numel() + 1e-12, (acc, info["eval_file_accuracy"])
    assert acc > info["baseline_bigram"]["accuracy"]
    np.testing.assert_allclose(out[0, 0].numpy(), np.array(info["eval_file_logits_seq0_pos0"], dtype=np.float32),
                               rtol=1e-4, atol=1e-4)
    # causal: changing token t leaves the logits of positions < t as they were
    t = T // 2
    x2 = x[:8].clone()
    x2[:, t] = (x2[:, t] + 7) % V
    with torch.inference_mode():
        out2 = m(x2)
    assert torch.equal(out2[:, :t], out[:8, :t]) or torch.allclose(out2[:, :t], out[:8, :t], atol=1e-5)
    assert not torch.allclose(out2[:, t:], out[:8, t:])
    # shorter sequences work too (the mask is made from the input's length)
    with torch.inference_mode():
        short = m(x[:4, :16])
    assert tuple(short.shape) == (4, 16, V)
    assert torch.allclose(short, out[:4, :16], atol=1e-5)


# ---- the zoo as a whole ----------------------------------------------------------

def test_zoo_json_interface_fields(zoo):
    assert {"vit", "charlm"} <= set(zoo["models"])
    hostable = [n for n, e in zoo["models"].items() if e and hostable_as_image_classifier(e)]
    assert "vit" in hostable and "charlm" not in hostable
    for n in ("cnn", "snn", "qcnn", "pcnn"):
        if zoo["models"].get(n):
            assert n in hostable
    assert zoo["models"]["charlm"]["input_dtype"] == "int64"
    assert zoo["models"]["charlm"]["output_layout"] == "N,T,C"


def test_nnfi_sites_vit(zoo, nnfi_bin):
    info = facts("vit")
    r = subprocess.run([str(nnfi_bin), "sites", str(MODELS / "vit.pt")], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    for i in range(info["layers"]):
        assert f"encoder.layers.{i}.self_attn.in_proj_weight" in r.stdout, r.stdout
        assert f"encoder.layers.{i}.linear1.weight" in r.stdout, r.stdout
    assert "patch_embed.weight" in r.stdout and "head.weight" in r.stdout
