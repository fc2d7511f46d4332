# Fashion-MNIST loading for the nnfi model zoo: reads the gzip'd IDX files that
# Debian ships (/usr/share/datasets/fashion-mnist) into numpy / torch tensors,
# and writes the evaluation set (fashion_mnist_test.h5) the C side feeds models.
"""IDX loader for Fashion-MNIST.

Images come back as float32 [N, 1, 28, 28] in [0, 1] (raw byte / 255, no
normalisation: each model normalises inside its own forward), labels as int64
[N].  No randomness here: the order is the order of the IDX files.
"""
import gzip
import os
import struct

import numpy as np

DATA_DIR = os.environ.get("NNFI_FASHION_MNIST", "/usr/share/datasets/fashion-mnist")
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def read_idx(path):
    """Read one (optionally gzip'd) IDX file into a numpy array."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path}: expected {dims}, got {data.size} bytes")
    return data.reshape(dims)


def load_numpy(split):
    """(images float32 [N,1,28,28] in [0,1], labels int64 [N]) for 'train' or 'test'."""
    img_name, lbl_name = FILES[split]
    images = read_idx(os.path.join(DATA_DIR, img_name))
    labels = read_idx(os.path.join(DATA_DIR, lbl_name))
    x = (images.astype(np.float32) / np.float32(255.0))[:, None, :, :]
    return np.ascontiguousarray(x), labels.astype(np.int64)


def load(split):
    """Same as load_numpy, as torch tensors."""
    import torch
    x, y = load_numpy(split)
    return torch.from_numpy(x), torch.from_numpy(y)


def write_test_h5(path):
    """Write the 10,000-image evaluation set as HDF5 (datasets images, labels)."""
    import h5py
    x, y = load_numpy("test")
    tmp = path + ".tmp"
    with h5py.File(tmp, "w") as f:
        d = f.create_dataset("images", data=x, dtype="float32")
        d.attrs["layout"] = "NCHW"
        d.attrs["range"] = "[0, 1] = raw uint8 / 255, not normalised"
        f.create_dataset("labels", data=y, dtype="int64")
        f.attrs["dataset"] = "Fashion-MNIST"
        f.attrs["split"] = "test (t10k), original file order"
        f.attrs["source_dir"] = DATA_DIR
        f.attrs["source_files"] = ", ".join(FILES["test"])
        f.attrs["classes"] = ", ".join(CLASSES)
        f.attrs["count"] = x.shape[0]
        f.attrs["url"] = "https://github.com/zalandoresearch/fashion-mnist"
    os.replace(tmp, path)


if __name__ == "__main__":
    import sys
    for s in ("train", "test"):
        x, y = load_numpy(s)
        print(s, x.shape, x.dtype, float(x.min()), float(x.max()), y.shape, np.bincount(y))
    if len(sys.argv) > 1:
        write_test_h5(sys.argv[1])
        print("wrote", sys.argv[1])
