#!/usr/bin/python3
"""zoo_fixture.py - the CTest fixture `zoo` (test zoo_build): builds the model
zoo and the small files the zoo tests need.

Usage: /usr/bin/python3 tests/zoo/zoo_fixture.py BUILD_ZOO_PY MODELS_DIR FIXTURE_DIR

  1. runs campaigns/models/build_zoo.py MODELS_DIR with this interpreter (the
     driver skips models that are up to date: a second run takes a second; a
     first one about ten minutes on two cores);
  2. writes FIXTURE_DIR/bad_eval_14x14.h5: an eval set whose images are
     float32 [16, 1, 14, 14] (196 values per sample, the zoo models take 784),
     labels int64 [16], for the worker's refusal of a mismatched eval set.
"""
import os
import subprocess
import sys


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    build_zoo, models, fixtures = sys.argv[1:]
    rc = subprocess.call([sys.executable, build_zoo, models])
    if rc != 0:
        sys.exit(f"zoo_fixture: {build_zoo} {models} failed with status {rc}")
    for f in ("cnn.pt", "snn.pt", "qcnn.pt", "pcnn.pt", "vit.pt", "charlm.pt",
              "fashion_mnist_test.h5", "fortunes_test.h5",
              "cnn.json", "snn.json", "qcnn.json", "pcnn.json", "vit.json", "charlm.json"):
        if not os.path.exists(os.path.join(models, f)):
            sys.exit(f"zoo_fixture: the driver did not write {os.path.join(models, f)}")

    import h5py
    import numpy as np
    os.makedirs(fixtures, exist_ok=True)
    path = os.path.join(fixtures, "bad_eval_14x14.h5")
    tmp = path + ".tmp"
    rng = np.random.default_rng(5)
    with h5py.File(tmp, "w") as f:
        f.create_dataset("images", data=rng.random((16, 1, 14, 14), dtype=np.float32))
        f.create_dataset("labels", data=rng.integers(0, 10, 16, dtype=np.int64))
        f.attrs["what"] = "nnfi zoo test: a 14x14 eval set that does not fit the 28x28 zoo models"
    os.replace(tmp, path)
    print(f"zoo_fixture: models in {models}, {path} written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
