#!/usr/bin/python3
"""make_bench_models.py - tiny stand-ins for the model zoo, for the smoke runs
of the overhead benchmark (CTest label `bench`): the zoo's CNN and SNN
architectures (imported from campaigns/models, untrained, seeded weights),
scripted like the zoo does, and a fashion_mnist_test.h5 of random images in
the zoo's layout. Seconds instead of the zoo's minutes of training; the
figures in RESULTS.md come from the real zoo, never from these.

Usage: /usr/bin/python3 tests/bench/make_bench_models.py OUTDIR [images=64]
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "campaigns", "models"))


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    out = sys.argv[1]
    images = int(sys.argv[2]) if len(sys.argv) == 3 else 64
    import h5py
    import numpy as np
    import torch
    from train_cnn import CNN
    from train_snn import LIFSNN

    os.makedirs(out, exist_ok=True)
    torch.manual_seed(7)
    for name, model in (("cnn", CNN()), ("snn", LIFSNN())):
        model.eval()
        path = os.path.join(out, name + ".pt")
        torch.jit.save(torch.jit.script(model), path + ".tmp")
        os.replace(path + ".tmp", path)
    rng = np.random.default_rng(7)
    path = os.path.join(out, "fashion_mnist_test.h5")
    with h5py.File(path + ".tmp", "w") as f:
        f.create_dataset("images", data=rng.random((images, 1, 28, 28), dtype=np.float32))
        f.create_dataset("labels", data=rng.integers(0, 10, images, dtype=np.int64))
        f.attrs["what"] = "nnfi bench smoke fixture: random images, not Fashion-MNIST"
    os.replace(path + ".tmp", path)


if __name__ == "__main__":
    main()
