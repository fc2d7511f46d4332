# Shared helpers for the nnfi model-zoo training scripts: seeding and thread
# setup, the deterministic mini-batch training loop, evaluation of the SAVED
# TorchScript artifact (the accuracy recorded in <name>.json), and JSON output.
"""Helpers shared by train_*.py.

Reproducibility: every script calls setup(seed) which seeds torch, numpy and
python's random, pins the thread count to 2 and turns on deterministic
algorithms; outdir_from_argv() pins PYTHONHASHSEED=0 (see fixed_hash_seed).
Mini-batch order comes from a torch.Generator seeded with
(seed, epoch), never from global state, so re-running a script gives the same
weights (on the same machine, torch build and thread count).
"""
import hashlib
import json
import os
import platform
import random
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import data  # noqa: E402  (IDX loader, same directory)

# Fashion-MNIST training-set statistics; models normalise with these INSIDE
# forward, so callers always feed raw [0, 1] images.
FMNIST_MEAN = 0.2860
FMNIST_STD = 0.3530
THREADS = 2


def setup(seed):
    """Seed everything and fix the thread count (call first in every script)."""
    torch.set_num_threads(THREADS)
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)
    torch.use_deterministic_algorithms(True)


def batches(n, batch_size, seed, epoch):
    """Deterministic shuffled index batches for one epoch."""
    g = torch.Generator()
    g.manual_seed(seed * 1000003 + epoch)
    perm = torch.randperm(n, generator=g)
    for i in range(0, n, batch_size):
        yield perm[i:i + batch_size]


def train_epochs(model, x, y, *, epochs, lr, seed, batch_size=128, first_epoch=0,
                 log=None, after_step=None):
    """Plain Adam + cross-entropy training; returns seconds spent."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    t0 = time.perf_counter()
    for ep in range(first_epoch, first_epoch + epochs):
        model.train()
        tot, correct, seen = 0.0, 0, 0
        for idx in batches(x.shape[0], batch_size, seed, ep):
            xb, yb = x[idx], y[idx]
            out = model(xb)
            loss = F.cross_entropy(out, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if after_step is not None:
                after_step()
            tot += float(loss) * xb.shape[0]
            correct += int((out.argmax(1) == yb).sum())
            seen += xb.shape[0]
        msg = (f"epoch {ep + 1}: loss {tot / seen:.4f} train-acc {correct / seen:.4f} "
               f"({time.perf_counter() - t0:.1f}s)")
        print(msg if log is None else f"[{log}] {msg}", flush=True)
    model.eval()
    return time.perf_counter() - t0


@torch.inference_mode()
def accuracy(model, x, y):
    """Full-batch accuracy (float64 argmax of the logits) and the logits."""
    logits = model(x)
    pred = logits.to(torch.float64).argmax(1)
    return float((pred == y).to(torch.float64).mean()), logits


def save_and_evaluate(scripted, path, x_test, y_test):
    """torch.jit.save the module, LOAD IT BACK and evaluate the loaded artifact.

    Returns a dict of facts for the model's JSON (accuracy of the exported file,
    logit checksum for cross-checking the C++ host, file size).
    """
    torch.jit.save(scripted, path)
    loaded = torch.jit.load(path, map_location="cpu")
    loaded.eval()
    t0 = time.perf_counter()
    acc, logits = accuracy(loaded, x_test, y_test)
    secs = time.perf_counter() - t0
    if tuple(logits.shape) != (x_test.shape[0], 10):
        raise RuntimeError(f"{path}: logits shape {tuple(logits.shape)}, expected [N, 10]")
    lg = logits.detach().to(torch.float32).contiguous().numpy()
    return {
        "file": os.path.basename(path),
        "file_bytes": os.path.getsize(path),
        "file_sha256": sha256_file(path),
        "test_accuracy": acc,
        "test_correct": int(round(acc * x_test.shape[0])),
        "test_images": int(x_test.shape[0]),
        "accuracy_of": "the saved TorchScript file, reloaded with torch.jit.load, "
                       "full 10,000-image test set, argmax of float64 logits",
        "eval_seconds": round(secs, 3),
        "logits_sha256_float32": hashlib.sha256(lg.tobytes()).hexdigest(),
        "logits_image0": [float(v) for v in lg[0]],
    }


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def count_params(model):
    return int(sum(p.numel() for p in model.parameters()))


def environment(seed):
    return {
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "seed": seed,
    }


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=False)
        f.write("\n")
    os.replace(tmp, path)


def fixed_hash_seed():
    """Re-exec this script with PYTHONHASHSEED=0 unless it already runs so.

    TorchScript writes a module's `__constants__` (a python set of strings) in
    set order, which follows the per-process string-hash seed; pinning the seed
    makes the saved .pt files byte-for-byte reproducible, not just their weights.
    """
    if os.environ.get("PYTHONHASHSEED") != "0":
        env = dict(os.environ, PYTHONHASHSEED="0")
        sys.stdout.flush()
        os.execve(sys.executable, [sys.executable] + sys.argv, env)


def outdir_from_argv():
    fixed_hash_seed()
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} OUTDIR")
    out = os.path.abspath(sys.argv[1])
    os.makedirs(out, exist_ok=True)
    return out
