"""compare_h5.py OLD.h5 NEW.h5 - two nnfi result files hold the same results:
every group, dataset (values, dtype, shape) and attribute, except the
volatile /trials columns (rank, device, wall_s) and run-specific provenance
(times, git sha, software version, campaign path, timings). Exit 1 and print
each difference otherwise."""
import sys

import h5py
import numpy as np

VOLATILE = {"/trials/rank", "/trials/device", "/trials/wall_s"}
RUN_ATTRS = {"git_sha", "nnfi_version", "created", "last_checkpoint", "checkpoints", "journal_id", "created_utc", "updated_utc", "hostname", "campaign_path",
             "golden_seconds", "output_path", "software_version", "time", "start_time", "end_time"}


def walk(f):
    out = {}
    f.visititems(lambda name, obj: out.__setitem__("/" + name, obj))
    out["/"] = f
    return out


def resolve(f, v):
    """An attribute value with object references (dimension scales'
    DIMENSION_LIST / REFERENCE_LIST) as the names they point at."""
    if isinstance(v, h5py.Reference):
        return f[v].name if v else None
    if isinstance(v, np.void):
        return tuple(resolve(f, x) for x in v)
    if isinstance(v, np.ndarray) and (v.dtype.kind == "O" or v.dtype.names):
        return [resolve(f, x) for x in v.tolist()] if v.dtype.kind == "O" else [resolve(f, x) for x in v]
    if isinstance(v, (list, tuple)):
        return [resolve(f, x) for x in v]
    return v


def same_attr(fa, a, fb, b):
    a, b = resolve(fa, a), resolve(fb, b)
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(np.asarray(a), np.asarray(b))
    return a == b


def compare(old, new):
    """The differences between two result files, as lines (empty: the same)."""
    diffs = []
    with h5py.File(old, "r") as fo, h5py.File(new, "r") as fn:
        a, b = walk(fo), walk(fn)
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                diffs.append(f"{k}: only in {'new' if k in b else 'old'}")
                continue
            oa, ob = a[k], b[k]
            for name in sorted(set(oa.attrs) | set(ob.attrs)):
                if name in RUN_ATTRS:
                    continue
                if name not in oa.attrs or name not in ob.attrs:
                    diffs.append(f"{k} @{name}: only in {'new' if name in ob.attrs else 'old'}")
                elif not same_attr(fo, oa.attrs[name], fn, ob.attrs[name]):
                    diffs.append(f"{k} @{name}: {oa.attrs[name]!r} != {ob.attrs[name]!r}")
            if isinstance(oa, h5py.Dataset) and k not in VOLATILE:
                if oa.dtype != ob.dtype or oa.shape != ob.shape:
                    diffs.append(f"{k}: {oa.dtype}{oa.shape} != {ob.dtype}{ob.shape}")
                elif oa.dtype.kind == "O" or oa.dtype.kind == "S" or oa.dtype.names:
                    if not all(x == y for x, y in zip(oa[()].ravel() if oa.shape else [oa[()]],
                                                      ob[()].ravel() if ob.shape else [ob[()]])):
                        diffs.append(f"{k}: values differ")
                elif not np.array_equal(oa[()], ob[()], equal_nan=oa.dtype.kind == "f"):
                    diffs.append(f"{k}: values differ")
    return diffs


def main(old, new):
    diffs = compare(old, new)
    for d in diffs:
        print("  " + d)
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
