"""make_eval_fixtures.py - tiny HDF5 eval sets for test_eval_h5: a good one
(uint8 images, int64 labels), one with a label count that does not match, one
without labels, and a file that is not HDF5; and the input dtypes: int64
token ids with labels per position [N, T], fp16 images, a dtype attribute
(bfloat16 over fp32 values), a bad dtype attribute, token ids past 2^24, and
labels [N, 0]. Usage: make_eval_fixtures.py DIR"""
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
tokens = (np.arange(4 * 6) * 7 % 97).astype(np.int64).reshape(4, 6)
with h5py.File(os.path.join(out, "tokens.h5"), "w") as f:
    f["images"] = tokens
    f["labels"] = (tokens + 1) % 97
with h5py.File(os.path.join(out, "half.h5"), "w") as f:
    f["images"] = (np.arange(3 * 5) / 7.0).astype(np.float16).reshape(3, 5)
    f["labels"] = np.array([0, 1, 2], dtype=np.int64)
with h5py.File(os.path.join(out, "bf16_attr.h5"), "w") as f:
    f["images"] = np.array([[1.0, 0.5], [2.0, -3.0]], dtype=np.float32)
    f["images"].attrs["dtype"] = "bfloat16"
    f["labels"] = np.array([0, 1], dtype=np.int64)
with h5py.File(os.path.join(out, "bad_dtype_attr.h5"), "w") as f:
    f["images"] = np.zeros((2, 2), dtype=np.float32)
    f["images"].attrs["dtype"] = "complex64"
    f["labels"] = np.array([0, 1], dtype=np.int64)
big = tokens.copy()
big[2, 3] = (1 << 24) + 3
with h5py.File(os.path.join(out, "big_ids.h5"), "w") as f:
    f["images"] = big
    f["labels"] = np.zeros((4, 6), dtype=np.int64)
with h5py.File(os.path.join(out, "no_positions.h5"), "w") as f:
    f["images"] = tokens
    f["labels"] = np.zeros((4, 0), dtype=np.int64)
