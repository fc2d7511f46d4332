"""make_eval_fixtures.py - tiny HDF5 eval sets for test_eval_h5: a good one
(uint8 images, int64 labels), one with a label count that does not match, one
without labels, and a file that is not HDF5. Usage: make_eval_fixtures.py DIR"""
import sys
import os
import h5py
import numpy as np

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
images = (np.arange(5 * 1 * 4 * 3) % 251).astype(np.uint8).reshape(5, 1, 4, 3)
labels = np.array([3, 1, 4, 1, 5], dtype=np.int64)
with h5py.File(os.path.join(out, "good.h5"), "w") as f:
    f["images"] = images
    f["labels"] = labels
with h5py.File(os.path.join(out, "mismatch.h5"), "w") as f:
    f["images"] = images
    f["labels"] = labels[:4]
with h5py.File(os.path.join(out, "nolabels.h5"), "w") as f:
    f["images"] = images
with open(os.path.join(out, "notes.h5"), "w") as f:
    f.write("not an HDF5 file\n")
