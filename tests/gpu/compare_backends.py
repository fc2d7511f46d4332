#!/usr/bin/env python3
"""compare_backends.py - are two nnfi result files (the same campaign run with
the cpu and the cuda backend) identical in every outcome column?

Usage: compare_backends.py CPU.h5 CUDA.h5
Prints one line per /trials column: identical, or how many rows differ and the
largest difference; the volatile columns (rank, device, wall_s) are skipped.
Exit 0 when every outcome column is identical, 1 otherwise.
"""
import sys

import h5py
import numpy as np

VOLATILE = {"rank", "device", "wall_s"}


def main(a_path, b_path):
    bad = 0
    with h5py.File(a_path, "r") as a, h5py.File(b_path, "r") as b:
        ta, tb = a["trials"], b["trials"]
        cols = sorted(set(ta.keys()) | set(tb.keys()))
        for c in cols:
            if c in VOLATILE:
                continue
            if c not in ta or c not in tb:
                print(f"{c:>16}: only in {'cpu' if c in ta else 'cuda'} file")
                bad += 1
                continue
            x, y = ta[c][()], tb[c][()]
            if x.shape != y.shape:
                print(f"{c:>16}: shapes differ {x.shape} vs {y.shape}")
                bad += 1
                continue
            if x.dtype.kind == "f":
                same = (x == y) | (np.isnan(x) & np.isnan(y))
            else:
                same = x == y
            n = int((~same).sum())
            if n == 0:
                print(f"{c:>16}: identical ({len(x)} rows)")
            else:
                bad += 1
                d = ""
                if x.dtype.kind in "fiu":
                    d = f", largest |difference| {np.nanmax(np.abs(x.astype(float) - y.astype(float))):.3g}"
                print(f"{c:>16}: {n} of {len(x)} rows differ{d}")
    print("all outcome columns identical" if bad == 0 else f"{bad} column(s) differ")
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2]))
