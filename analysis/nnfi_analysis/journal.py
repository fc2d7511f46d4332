"""The checkpoint journal of a result file, read in Python.

``nnfi run`` appends every checkpoint to ``PATH.journal`` beside the result
file ``PATH`` and folds the journal into ``PATH`` only at the end, at resume
and at coarse intervals, so the rows of a running or killed campaign are in
the file *plus* its journal. This module reads the journal (format:
``src/plugins/results_h5/h5_journal.h``) and lays it over columns read from
the file; ``nnfi_analysis.load`` uses it for every /trials and /faults read.

Needs only numpy and h5py (for the file's ``/progress`` attributes).

    j = read_journal(h5_file)          # None when nothing is pending
    col = overlay_trials(h5_file, "accuracy")
    faults = fault_columns(h5_file)    # {name: array}: the file's rows, then the journal's
"""
from __future__ import annotations

import os
import zlib
from dataclasses import dataclass, field

import numpy as np

HEAD_MAGIC = b"NNFIJNL1"
REC_MAGIC = 0x31524A4E  # "NJR1"
REC_HEAD = 64


def _pad8(n: int) -> int:
    return (n + 7) & ~7


@dataclass
class Record:
    seq: int
    n_done: int
    time: float
    trial: np.ndarray
    trials: dict = field(default_factory=dict)  # column name -> values (n_rows)
    faults: dict = field(default_factory=dict)  # column name -> values (n_faults)


@dataclass
class Journal:
    path: str
    journal_id: int
    base_seq: int
    trial_cols: list  # [(name, dtype)]
    fault_cols: list
    records: list  # Records with seq beyond the file's folded checkpoints
    valid_end: int
    damaged: bool  # a bad record with whole records after it (not a torn tail)

    @property
    def checkpoints(self) -> int:
        return self.records[-1].seq if self.records else self.base_seq

    @property
    def rows(self) -> int:
        return sum(len(r.trial) for r in self.records)


def _progress(f) -> tuple[int, int]:
    if "progress" not in f:
        return 0, 0
    a = f["progress"].attrs
    return int(a.get("journal_id", 0)), int(a.get("checkpoints", 0))


def read_journal(f, path: str | os.PathLike | None = None) -> Journal | None:
    """The journal of the open result file ``f`` (an h5py.File), or None when
    there is none, it belongs to another file (journal id), or it holds
    nothing beyond the file's last fold. ``path`` defaults to f.filename."""
    h5path = os.fspath(path) if path is not None else f.filename
    jid, folded = _progress(f)
    jpath = h5path + ".journal"
    if jid == 0 or not os.path.exists(jpath):
        return None
    with open(jpath, "rb") as fh:
        buf = fh.read()
    if len(buf) < 40:
        return None
    hb = int.from_bytes(buf[8:12], "little")
    crc = int.from_bytes(buf[12:16], "little")
    if buf[:8] != HEAD_MAGIC or hb < 40 or hb > len(buf) or zlib.crc32(buf[16:hb]) != crc:
        raise ValueError(f"{h5path}: the checkpoint journal {jpath} has a damaged header")
    j_id = int.from_bytes(buf[16:24], "little")
    if j_id != jid:
        return None
    base = int.from_bytes(buf[24:32], "little")
    if base > folded:
        raise ValueError(f"{h5path}: its journal starts after checkpoint {base} but the file holds {folded}; "
                         "reopen the file (a fold replaced it) or check that no older copy was put back")
    tcols, fcols = [], []
    for line in buf[40:hb].rstrip(b"\0").decode().splitlines():
        name, size, code = line.split()
        dt = np.dtype(code)
        if dt.itemsize != int(size):
            raise ValueError(f"{jpath}: column {name} of {size} bytes but type {code}")
        grp, col = name.split("/", 1)
        (tcols if grp == "trials" else fcols).append((col, dt))
    recs, off, seq = [], hb, base + 1
    while off + REC_HEAD <= len(buf):
        head = np.frombuffer(buf, dtype="<u8", count=8, offset=off)
        magic = int.from_bytes(buf[off:off + 4], "little")
        rcrc = int.from_bytes(buf[off + 4:off + 8], "little")
        rlen, rseq, nr, nf, ndone = (int(head[i]) for i in range(1, 6))
        if magic != REC_MAGIC or rlen < REC_HEAD or rlen % 8 or off + rlen > len(buf) or rseq != seq:
            break
        need = REC_HEAD + _pad8(8 * nr) + sum(_pad8(d.itemsize * nr) for _, d in tcols) \
            + sum(_pad8(d.itemsize * nf) for _, d in fcols)
        if need != rlen or zlib.crc32(buf[off + 8:off + rlen]) != rcrc:
            break
        t = float(np.frombuffer(buf, dtype="<f8", count=1, offset=off + 48)[0])
        o = off + REC_HEAD
        trial = np.frombuffer(buf, dtype="<u8", count=nr, offset=o).copy()
        o += _pad8(8 * nr)
        rec = Record(rseq, ndone, t, trial)
        for name, dt in tcols:
            rec.trials[name] = np.frombuffer(buf, dtype=dt, count=nr, offset=o).copy()
            o += _pad8(dt.itemsize * nr)
        for name, dt in fcols:
            rec.faults[name] = np.frombuffer(buf, dtype=dt, count=nf, offset=o).copy()
            o += _pad8(dt.itemsize * nf)
        if rseq > folded:
            recs.append(rec)
        off += rlen
        seq += 1
    damaged = False
    if off < len(buf) and len(buf) - off >= 16:
        rlen = int.from_bytes(buf[off + 8:off + 16], "little")
        damaged = REC_HEAD <= rlen < len(buf) - off
    if not recs:
        return None
    return Journal(jpath, j_id, base, tcols, fcols, recs, off, damaged)


def overlay(j: Journal | None, name: str, values: np.ndarray, lo: int = 0) -> np.ndarray:
    """values (rows lo.. of /trials/<name> as read from the file) with the
    journal's rows laid over them, later checkpoints winning."""
    if j is None or name not in j.records[0].trials:  # e.g. the dimension scale /trials/trial
        return values
    out = np.array(values, copy=True)
    hi = lo + len(out)
    for r in j.records:
        sel = (r.trial >= lo) & (r.trial < hi)
        out[(r.trial[sel] - lo).astype(np.int64)] = r.trials[name][sel].astype(out.dtype, copy=False)
    return out


def overlay_trials(f, name: str, j: Journal | None = None) -> np.ndarray:
    """The whole /trials/<name> column of result file f with its journal laid over it."""
    if j is None:
        j = read_journal(f)
    return overlay(j, name, f["trials"][name][()])


def fault_columns(f, j: Journal | None = None) -> dict:
    """Every /faults column: the file's rows, then the journal's (checkpoint order)."""
    if j is None:
        j = read_journal(f)
    cols = {}
    g = f["faults"] if "faults" in f else None
    names = list(g.keys()) if g is not None else [n for n, _ in (j.fault_cols if j else [])]
    for name in names:
        parts = [g[name][()]] if g is not None else []
        if j is not None:
            parts += [r.faults[name] for r in j.records]
        dt = parts[0].dtype if parts else None
        cols[name] = np.concatenate([p.astype(dt, copy=False) for p in parts]) if parts else np.zeros(0)
    return cols


def progress(f, j: Journal | None = None) -> dict:
    """/progress as the writer would write it now: trials_done and checkpoints
    counting the journal's checkpoints."""
    out = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f["progress"].attrs.items()} \
        if "progress" in f else {}
    if j is None:
        j = read_journal(f)
    if j is not None:
        last = j.records[-1]
        out["trials_done"] = last.n_done
        out["checkpoints"] = last.seq
        import time
        out["last_checkpoint"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(last.time))
        out["journal_checkpoints"] = len(j.records)
        out["journal_rows"] = j.rows
    return out
