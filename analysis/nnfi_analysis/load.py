"""load.py - read an nnfi result file (HDF5) into pandas and xarray.

The file layout is documented in include/nnfi/h5_results.h:

    /                 provenance attributes (schema_version, seed, config, ...)
    /trials/<col>     one 1-D dataset per column of NNFI_TRIAL_COLUMNS
                      (include/nnfi/results.h), sharing the dimension scale
                      /trials/trial; attributes unit, description and, for
                      categorical columns, flag_values / flag_meanings
    /experiments      name, model, first_trial, trials, n_points
    /points           experiment, point, x, is_rate, first_trial, trials
    /sites/<model>    name, kind, dtype, numel, shape
    /golden/<model>   logits [samples, classes] (or [samples, positions, classes] with
                      attribute outcome_unit "position"), labels; attribute accuracy
    /faults           fault lists of trials with few faults
    /progress         attributes trials_done, checkpoints, last_checkpoint

Nothing about the columns is copied from the C code: names, dtypes, units,
descriptions and the meanings of categorical codes are read from the file
itself (the C writer generates them from the X-macro), so a column added on
the C side shows up here without an edit. `check_schema` compares a file with
the schema JSON the C side writes (`nnfi_write_schema_json`).

Files are opened read-only and without HDF5 file locking, and closed before
any function returns: a running `nnfi run` keeps its file closed between
checkpoints and must be able to reopen it, so never hold it open here.

Use alone:

    import nnfi_analysis as na
    res = na.load("out.h5")            # a Results bundle
    res.trials                         # DataFrame, one row per done trial
    res.points, res.experiments, res.provenance, res.columns
    na.dataset("out.h5")               # xarray.Dataset of /trials
"""
from __future__ import annotations

import glob
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd

from . import journal as _journal

__all__ = [
    "NnfiFileError",
    "Results",
    "Golden",
    "open_file",
    "load",
    "load_many",
    "trials",
    "columns",
    "provenance",
    "experiments",
    "points",
    "golden",
    "sites",
    "faults",
    "dataset",
    "read_schema",
    "check_schema",
    "default_results_path",
]

# Flag columns whose meanings are exactly this pair are booleans: they stay
# 0/1 integers (easy to sum) and get no label column.
_BOOLEAN_FLAGS = ("no", "yes")
# /trials columns the loader joins on (and shows first)
_ID_COLUMNS = ("done", "experiment", "point", "trial_in_point")


class NnfiFileError(Exception):
    """The file is missing, not HDF5, or not an nnfi result file. The message
    names the file and ends with a hint."""


# ---------------------------------------------------------------- opening --


def open_file(path: str | os.PathLike) -> h5py.File:
    """Open a result file read-only without taking HDF5's file lock (so a
    writer is never blocked). Use as a context manager and close it soon."""
    p = Path(path)
    if not p.exists():
        raise NnfiFileError(
            f"{p}: no such file\n  hint: give the result file 'nnfi run' wrote (-o, or output.path of the campaign)"
        )
    if not h5py.is_hdf5(p):
        raise NnfiFileError(f"{p}: not an HDF5 file\n  hint: nnfi_analysis reads the .h5 files 'nnfi run' writes")
    try:
        f = h5py.File(p, "r", locking=False)
    except (TypeError, ValueError):  # an HDF5 too old for the locking switch
        f = h5py.File(p, "r")
    if "schema_version" not in f.attrs or "trials" not in f or "done" not in f["trials"]:
        f.close()
        raise NnfiFileError(
            f"{p}: not an nnfi result file (no schema_version attribute or /trials/done)\n"
            f"  hint: 'h5ls -r {p}' shows what it holds; 'nnfi inspect {p}' checks it"
        )
    return f


def _py(v: Any) -> Any:
    """An HDF5 attribute value as plain Python (str, int, float, list)."""
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, np.ndarray):
        return [_py(x) for x in v.tolist()] if v.dtype.kind in "OSU" else v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    return v


def _strings(ds: h5py.Dataset) -> np.ndarray:
    if ds.dtype.kind in "OSU" or h5py.check_string_dtype(ds.dtype) is not None:
        return np.asarray(ds.asstr()[()], dtype=object)
    return ds[()]


def _is_scale(ds: h5py.Dataset) -> bool:
    return _py(ds.attrs.get("CLASS", "")) == "DIMENSION_SCALE"


# --------------------------------------------------------- column metadata --


def _column_info(ds: h5py.Dataset) -> dict:
    desc = _py(ds.attrs.get("description", ""))
    info = {
        "name": ds.name.rsplit("/", 1)[-1],
        "dtype": ds.dtype.name,
        "unit": _py(ds.attrs.get("unit", "")),
        "description": desc,
        # the rule results.h states and src/results/columns.c applies
        "volatile": "(volatile)" in desc,
        "flag_values": None,
        "flag_meanings": None,
    }
    if "flag_values" in ds.attrs and "flag_meanings" in ds.attrs:
        info["flag_values"] = [int(v) for v in np.atleast_1d(ds.attrs["flag_values"])]
        info["flag_meanings"] = _py(ds.attrs["flag_meanings"]).split()
    return info


def _columns(f: h5py.File) -> pd.DataFrame:
    tr = f["trials"]
    rows = [_column_info(tr[k]) for k in tr if isinstance(tr[k], h5py.Dataset) and not _is_scale(tr[k])]
    return pd.DataFrame(rows).set_index("name")


def columns(path: str | os.PathLike) -> pd.DataFrame:
    """Metadata of every /trials column (not the trial dimension scale): dtype,
    unit, description, volatile, flag_values, flag_meanings; indexed by name."""
    with open_file(path) as f:
        return _columns(f)


def _flag_labels(values: np.ndarray, info: dict) -> pd.Categorical:
    """Codes -> categorical labels from the column's flag_values/flag_meanings
    (unknown codes become NaN)."""
    meanings = info["flag_meanings"]
    fv = np.asarray(info["flag_values"], dtype=np.int64)
    v = np.asarray(values).astype(np.int64)
    lut = np.full(max(int(fv.max(initial=0)), int(v.max(initial=0))) + 1, -1, dtype=np.int64)
    lut[fv[fv >= 0]] = np.flatnonzero(fv >= 0)
    codes = np.where(v >= 0, lut[np.maximum(v, 0)], -1)
    return pd.Categorical.from_codes(codes, categories=meanings)


# ------------------------------------------------------------ small tables --


def _provenance(f: h5py.File) -> dict:
    prov = {k: _py(v) for k, v in f.attrs.items()}
    if "config_hash" in prov:
        prov["config_hash_hex"] = f"{int(prov['config_hash']):016x}"
    prov["progress"] = {k: _py(v) for k, v in _journal.progress(f).items()}
    prov["trials"] = int(f["trials/done"].shape[0])
    return prov


def provenance(path: str | os.PathLike) -> dict:
    """Root attributes as plain Python (config is the full campaign text),
    plus config_hash_hex (as `nnfi inspect` prints it), progress (the
    /progress attributes) and trials (planned rows)."""
    with open_file(path) as f:
        return _provenance(f)


def _table(g: h5py.Group) -> pd.DataFrame:
    return pd.DataFrame({k: _strings(g[k]) for k in g if isinstance(g[k], h5py.Dataset)})


def _first(df: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """The columns `names` (those present) first, the others after in their order."""
    front = [n for n in names if n in df.columns]
    return df[front + [c for c in df.columns if c not in front]]


def _experiments(f: h5py.File) -> pd.DataFrame:
    df = _first(_table(f["experiments"]), ["name", "model"])
    df.index.name = "experiment"
    return df


def experiments(path: str | os.PathLike) -> pd.DataFrame:
    """/experiments, indexed by experiment index: name, model, first_trial,
    trials (planned, all points), n_points."""
    with open_file(path) as f:
        return _experiments(f)


def _sweep_kind(x: float, is_rate: bool) -> str:
    # the rule `nnfi inspect` uses for its "swept" column
    if is_rate:
        return "rate"
    return "faults" if x != 0 else "none"


def _point_label(x: float, kind: str) -> str:
    if kind == "rate":
        return f"rate {x:g}"
    if kind == "faults":
        return f"N {x:.0f}"
    return "-"


def _points(f: h5py.File, exps: pd.DataFrame) -> pd.DataFrame:
    df = _table(f["points"])
    df["is_rate"] = df["is_rate"].astype(bool)
    df.insert(1, "experiment_name", exps["name"].to_numpy()[df["experiment"].to_numpy()])
    df.insert(2, "model", exps["model"].to_numpy()[df["experiment"].to_numpy()])
    df["sweep"] = [_sweep_kind(x, r) for x, r in zip(df["x"], df["is_rate"])]
    df["point_label"] = [_point_label(x, k) for x, k in zip(df["x"], df["sweep"])]
    return _first(df, ["experiment", "experiment_name", "model", "point", "point_label", "sweep", "x", "is_rate"])


def points(path: str | os.PathLike) -> pd.DataFrame:
    """/points with the experiment name and model joined: experiment,
    experiment_name, model, point, x (swept value), is_rate, first_trial,
    trials (planned), sweep ('faults', 'rate' or 'none') and point_label
    ('N 10', 'rate 0.001', '-')."""
    with open_file(path) as f:
        return _points(f, _experiments(f))


# ------------------------------------------------------------------ trials --


def _golden_accuracy(f: h5py.File) -> dict:
    out = {}
    for m in f.get("golden", {}):
        if "accuracy" in f["golden"][m].attrs:
            out[m] = float(f["golden"][m].attrs["accuracy"])
    return out


def _row_points(t: np.ndarray, pts: pd.DataFrame):
    """(row of /points planning each global trial index in t, mask of the
    indices no point plans)."""
    first = pts["first_trial"].to_numpy().astype(np.int64)
    count = pts["trials"].to_numpy().astype(np.int64)
    if not len(first):
        return np.zeros(len(t), dtype=np.int64), np.ones(len(t), dtype=bool)
    order = np.argsort(first, kind="stable")
    j = np.searchsorted(first[order], t, side="right") - 1
    pos = order[np.maximum(j, 0)]
    return pos, (j < 0) | (t >= first[pos] + count[pos])


def _trials(
    f: h5py.File, done_only: bool, which: list[str] | None, cols: pd.DataFrame, exps: pd.DataFrame, pts: pd.DataFrame
) -> pd.DataFrame:
    tr = f["trials"]
    names = list(cols.index) if which is None else list(which)
    for n in ("done", "experiment", "point"):  # needed for the filter and the joins
        if n not in names:
            names.append(n)
    unknown = [n for n in names if n not in cols.index]
    if unknown:
        raise KeyError(f"no /trials column {unknown}; the file has {list(cols.index)}")
    jn = _journal.read_journal(f)  # checkpoints of a running or killed campaign not yet folded into the file
    done = _journal.overlay(jn, "done", tr["done"][()])
    sel = np.flatnonzero(done) if done_only else slice(None)
    scale = [k for k in tr if isinstance(tr[k], h5py.Dataset) and _is_scale(tr[k])]
    index = tr[scale[0]][()][sel] if scale else np.arange(done.shape[0], dtype=np.uint64)[sel]
    # the id columns first, the others in file order (h5py lists them by name)
    names = [n for n in _ID_COLUMNS if n in names] + [n for n in names if n not in _ID_COLUMNS]
    data = {n: _journal.overlay(jn, n, tr[n][()])[sel] for n in names}
    df = pd.DataFrame(data, index=pd.Index(index, name=scale[0] if scale else "trial"))

    # joins, by position: row t belongs to the point whose planned range
    # [first_trial, first_trial + trials) holds t (rows not run yet too, whose
    # experiment/point columns are still the fill value 0); a done row must
    # name that same experiment and point
    t = df.index.to_numpy().astype(np.int64)
    pos, outside = _row_points(t, pts)
    e = pts["experiment"].to_numpy().astype(np.int64)[pos] if len(pts) else np.zeros(len(t), dtype=np.int64)
    isdone = df["done"].to_numpy() != 0
    wrong = isdone & ((df["experiment"].to_numpy().astype(np.int64) != e)
                      | (df["point"].to_numpy().astype(np.int64) != pts["point"].to_numpy().astype(np.int64)[pos]))
    if outside.any() or wrong.any() or (e >= len(exps)).any():
        bad = t[outside | wrong][:5].tolist() or t[e >= len(exps)][:5].tolist()
        raise NnfiFileError(
            f"{f.filename}: /trials rows {bad} disagree with the plan in /points and /experiments\n"
            f"  hint: the file is damaged; 'nnfi inspect {f.filename}' reports what it can read"
        )
    front = {
        "experiment_name": pd.Categorical.from_codes(e, categories=pd.Index(exps["name"]).unique())
        if exps["name"].is_unique
        else exps["name"].to_numpy()[e],
        "model": exps["model"].to_numpy()[e],
        "point_label": pts["point_label"].to_numpy()[pos],
        "sweep": pts["sweep"].to_numpy()[pos],
        "x": pts["x"].to_numpy()[pos],
        "is_rate": pts["is_rate"].to_numpy()[pos],
    }
    for i, (k, v) in enumerate(front.items()):
        df.insert(i, k, v)

    # relative drop: accuracy_drop over the model's golden accuracy
    if "accuracy_drop" in df:
        gacc = _golden_accuracy(f)
        g = np.array([gacc.get(m, np.nan) for m in exps["model"]], dtype=float)[e]
        with np.errstate(divide="ignore", invalid="ignore"):
            df["relative_drop"] = df["accuracy_drop"].to_numpy() / g

    # categorical codes with named meanings (status) get a label column
    for n in names:
        info = cols.loc[n]
        if info["flag_meanings"] is not None and tuple(info["flag_meanings"]) != _BOOLEAN_FLAGS:
            df[f"{n}_label"] = _flag_labels(df[n].to_numpy(), info)
    return df


def trials(path: str | os.PathLike, done_only: bool = True, which: list[str] | None = None) -> pd.DataFrame:
    """/trials as a DataFrame indexed by the global trial index.

    Every /trials column keeps its file dtype. Joined in front: experiment_name,
    model, point_label, sweep, x (the point's swept value), is_rate. Added:
    relative_drop (accuracy_drop / the model's golden accuracy) and a
    categorical `<col>_label` for categorical columns with named codes
    (status -> ok / failed / timeout). done_only=False keeps rows not run yet
    (all zeros). `which` reads only those columns (plus done, experiment, point)."""
    with open_file(path) as f:
        cols = _columns(f)
        exps = _experiments(f)
        return _trials(f, done_only, which, cols, exps, _points(f, exps))


# ---------------------------------------------------- golden, sites, faults --


@dataclass
class Golden:
    """Fault-free reference of one model: logits [samples, classes] and labels
    [samples], or for a model with a class per position (attribute
    outcome_unit "position") logits [samples, positions, classes] and labels
    [samples, positions]; the accuracy the C side recorded (over every
    compared row) and the other /golden/<model> attributes."""

    model: str
    logits: np.ndarray
    labels: np.ndarray
    accuracy: float
    attrs: dict

    @property
    def positions(self) -> int:
        return int(self.attrs.get("positions", 1))

    @property
    def predictions(self) -> np.ndarray:
        return np.argmax(self.logits, axis=-1)


def _golden(f: h5py.File) -> dict[str, Golden]:
    g = f.get("golden")
    out = {}
    for m in list(g) if g is not None else []:
        grp = g[m]
        attrs = {k: _py(v) for k, v in grp.attrs.items()}
        labels = grp["labels"][()]
        positions = int(attrs.get("positions", 1))
        if positions > 1:  # stored flat, [samples x positions]
            labels = labels.reshape(-1, positions)
        out[m] = Golden(m, grp["logits"][()], labels, float(attrs.get("accuracy", np.nan)), attrs)
    return out


def _pick_golden(gold: dict[str, Golden], model: str | None, where: str):
    if model is None:
        return gold
    if model not in gold:
        raise KeyError(f"{where}: no golden data for model '{model}'; the file has {list(gold)}")
    return gold[model]


def golden(path: str | os.PathLike, model: str | None = None) -> dict[str, Golden] | Golden:
    """/golden: one Golden per model (a dict), or the one named."""
    with open_file(path) as f:
        return _pick_golden(_golden(f), model, str(path))


def _sites(f: h5py.File, model: str | None) -> pd.DataFrame:
    g = f.get("sites")
    names = list(g) if g is not None else []
    if model is not None and model not in names:
        raise KeyError(f"{f.filename}: no site table for model '{model}'; the file has {names}")
    frames = []
    for m in names if model is None else [model]:
        df = _table(g[m])
        df.index.name = "site"
        df.insert(0, "model", m)
        frames.append(df)
    if not frames:
        return _pick_sites_empty()
    return pd.concat(frames)


def _pick_sites(table: pd.DataFrame, model: str | None, where: str) -> pd.DataFrame:
    if model is None:
        return table
    names = list(dict.fromkeys(table["model"]))
    if model not in names:
        raise KeyError(f"{where}: no site table for model '{model}'; the file has {names}")
    return table[table["model"] == model]


def sites(path: str | os.PathLike, model: str | None = None) -> pd.DataFrame:
    """/sites/<model> (every model, or the one named): model, name, kind,
    dtype, numel, shape; indexed by site index (the /faults `site` value)."""
    with open_file(path) as f:
        return _sites(f, model)


def faults(path: str | os.PathLike) -> pd.DataFrame:
    """/faults (stored for trials with at most output.faults_max_n faults),
    sorted by trial, with experiment, point, model and site_name joined and a
    `<col>_label` for each categorical column (op, transient, scope).
    An empty frame when the file holds no fault lists."""
    with open_file(path) as f:
        jn = _journal.read_journal(f)
        if "faults" not in f and jn is None:
            return pd.DataFrame()
        g = f["faults"] if "faults" in f else {}
        df = pd.DataFrame(_journal.fault_columns(f, jn))
        if df.empty:
            return df
        df = df.sort_values("trial", kind="stable").reset_index(drop=True)
        t = df["trial"].to_numpy()
        e = _journal.overlay(jn, "experiment", f["trials/experiment"][()])[t]
        exps = _experiments(f)
        df.insert(1, "experiment", e)
        df.insert(2, "point", _journal.overlay(jn, "point", f["trials/point"][()])[t])
        df.insert(3, "model", exps["model"].to_numpy()[e.astype(np.int64)])
        sites_ = _sites(f, None)
        key = pd.MultiIndex.from_arrays([sites_["model"].to_numpy(), sites_.index.to_numpy().astype(np.int64)])
        pos = key.get_indexer(pd.MultiIndex.from_arrays([df["model"].to_numpy(), df["site"].to_numpy().astype(np.int64)]))
        df["site_name"] = np.where(pos >= 0, sites_["name"].to_numpy(dtype=object)[np.maximum(pos, 0)], None)
        df = _first(df, ["trial", "experiment", "point", "model", "group", "site", "site_name", "element", "mask",
                         "value", "op", "transient", "scope", "when", "t_first", "t_last"])
        for k in g:
            info = _column_info(g[k])
            if info["flag_meanings"] is not None:
                df[f"{k}_label"] = _flag_labels(df[k].to_numpy(), info)
        return df


# ----------------------------------------------------------------- xarray --


def dataset(path: str | os.PathLike, group: str = "trials", done_only: bool = False):
    """An xarray.Dataset of one group, read with h5netcdf (phony_dims='sort'
    names dimensions without a scale) and loaded into memory, so the file is
    closed on return. For /trials the dimension is the scale `trial`;
    experiment_name and x are added as coordinates, the provenance as
    attributes, and done_only=True keeps finished rows only."""
    import h5netcdf
    import xarray as xr

    p = str(path)
    with open_file(p) as f:  # validates the file and reads the joins
        exps = _experiments(f)
        pts = _points(f, exps)
        prov = _provenance(f)
        jn = _journal.read_journal(f)
    # h5netcdf opened here, not by xarray, to pass locking=False: HDF5 refuses
    # a second open of a file with another locking setting than the first
    try:
        nf = h5netcdf.File(p, "r", phony_dims="sort", locking=False)
    except (TypeError, ValueError):
        nf = h5netcdf.File(p, "r", phony_dims="sort")
    try:
        ds = xr.open_dataset(xr.backends.H5NetCDFStore(nf, group=group), mask_and_scale=False).load()
        ds.close()
    finally:
        nf.close()
    # name the anonymous dimensions: golden logits are [sample, class], a
    # table's rows are `row`
    phony = [d for d in ds.dims if str(d).startswith("phony_dim")]
    if "logits" in ds and ds["logits"].ndim == 2 and all(d in phony for d in ds["logits"].dims):
        ds = ds.rename_dims(dict(zip(ds["logits"].dims, ("sample", "class"))))
    elif len(phony) == 1:
        ds = ds.rename_dims({phony[0]: "row"})
    if group.strip("/") == "trials" and jn is not None:  # lay the unfolded checkpoints over the file's rows
        for name in list(ds.data_vars):
            if any(name == n for n, _ in jn.trial_cols):
                ds[name] = (ds[name].dims, _journal.overlay(jn, name, ds[name].values), ds[name].attrs)
    if group.strip("/") == "trials":
        dim = ds["done"].dims[0]
        pos, outside = _row_points(ds[dim].values.astype(np.int64), pts)
        names = pts["experiment_name"].to_numpy(dtype=object)
        ds = ds.assign_coords(
            experiment_name=(dim, np.where(outside, None, names[pos] if len(pts) else None)),
            x=(dim, np.where(outside, np.nan, pts["x"].to_numpy()[pos] if len(pts) else np.nan)),
        )
        if done_only:
            ds = ds.isel({dim: np.flatnonzero(ds["done"].values)})
        ds.attrs.update({k: v for k, v in prov.items() if isinstance(v, (str, int, float))})
    return ds


# ----------------------------------------------------------------- schema --


def read_schema(path: str | os.PathLike) -> dict:
    """The schema JSON the C side writes (nnfi_write_schema_json): schema
    version, group, index and the columns in X-macro order."""
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def check_schema(results: str | os.PathLike, schema: dict | str | os.PathLike) -> list[str]:
    """Compare a result file's /trials with a schema (dict or JSON path):
    same columns, dtypes, units, descriptions, schema version. Returns the
    differences (empty when they agree)."""
    if not isinstance(schema, dict):
        schema = read_schema(schema)
    problems = []
    with open_file(results) as f:
        cols = _columns(f)
        version = _py(f.attrs["schema_version"])
    if version != schema.get("schema_version"):
        problems.append(f"schema_version: file {version}, schema {schema.get('schema_version')}")
    want = {c["name"]: c for c in schema["columns"]}
    for n in sorted(set(want) - set(cols.index)):
        problems.append(f"column {n}: in the schema, not in the file")
    for n in sorted(set(cols.index) - set(want)):
        problems.append(f"column {n}: in the file, not in the schema")
    for n in [c for c in want if c in cols.index]:
        for k in ("dtype", "unit", "description", "volatile"):
            if cols.loc[n, k] != want[n][k]:
                problems.append(f"column {n}: {k} file {cols.loc[n, k]!r}, schema {want[n][k]!r}")
    return problems


# ----------------------------------------------------------------- bundle --


@dataclass
class Results:
    """One result file, read at once into plain tables (load() makes it; the
    file is closed again). Nothing here computes statistics: hand the tables
    to nnfi_analysis.stats (na.summarize(res) reads res.trials and res.points).

      path              the file
      provenance        root attributes, progress, planned trials (provenance())
      columns           /trials column metadata (columns())
      experiments       /experiments (experiments())
      points            /points with names and sweep labels (points())
      trials            the trials frame (trials())
      site_table        /sites of every model (sites()); res.sites(model) selects one
      golden_models     {model: Golden} (golden()); res.golden(model) selects one
      golden_accuracy   {model: golden accuracy}
      done_only         whether trials holds done rows only

    Only the bulky, optional parts are read on demand from `path`:
    res.faults() (/faults) and res.dataset() (the xarray view)."""

    path: str
    provenance: dict
    columns: pd.DataFrame
    experiments: pd.DataFrame
    points: pd.DataFrame
    trials: pd.DataFrame
    done_only: bool = True
    golden_accuracy: dict = field(default_factory=dict)
    site_table: pd.DataFrame = field(default_factory=lambda: _pick_sites_empty())
    golden_models: dict = field(default_factory=dict)

    def golden(self, model: str | None = None):
        """{model: Golden}, or the Golden of the model named."""
        return _pick_golden(self.golden_models, model, self.path)

    def sites(self, model: str | None = None) -> pd.DataFrame:
        """The site table of every model, or of the one named."""
        return _pick_sites(self.site_table, model, self.path)

    def faults(self) -> pd.DataFrame:
        """/faults, read from the file now (see faults())."""
        return faults(self.path)

    def dataset(self, group: str = "trials", done_only: bool | None = None):
        """The xarray view, read from the file now (see dataset())."""
        return dataset(self.path, group, self.done_only if done_only is None else done_only)

    def __repr__(self) -> str:
        p = self.provenance
        return (
            f"<nnfi Results {self.path!r}: campaign {p.get('campaign', '?')!r}, seed {p.get('seed')}, "
            f"{len(self.experiments)} experiment(s), {len(self.points)} point(s), "
            f"{int((self.trials['done'] != 0).sum())}/{p.get('trials')} trials done>"
        )


def _pick_sites_empty() -> pd.DataFrame:
    return pd.DataFrame(columns=["model", "name", "kind", "dtype", "numel", "shape"])


def load(path: str | os.PathLike, done_only: bool = True, which: list[str] | None = None) -> Results:
    """Read a result file into a Results (see `trials` for the frame)."""
    p = str(path)
    with open_file(p) as f:
        cols = _columns(f)
        exps = _experiments(f)
        pts = _points(f, exps)
        return Results(
            path=p,
            provenance=_provenance(f),
            columns=cols,
            experiments=exps,
            points=pts,
            trials=_trials(f, done_only, which, cols, exps, pts),
            done_only=done_only,
            golden_accuracy=_golden_accuracy(f),
            site_table=_sites(f, None),
            golden_models=_golden(f),
        )


def load_many(paths, done_only: bool = True) -> pd.DataFrame:
    """The trials frames of several result files, concatenated, with `file`
    (the path) and `campaign` in front and a (file, trial) MultiIndex; the
    experiment_name column becomes plain strings (categories differ between
    files). For per-file statistics use stats.summarize_many."""
    frames = []
    for p in [paths] if isinstance(paths, (str, os.PathLike)) else list(paths):
        r = load(p, done_only=done_only)
        t = r.trials.copy()
        t["experiment_name"] = t["experiment_name"].astype(str)
        t.insert(0, "campaign", r.provenance.get("campaign", ""))
        t.insert(0, "file", str(p))
        t = t.set_index("file", append=True).reorder_levels(["file", t.index.name])
        frames.append(t)
    if not frames:
        raise ValueError("load_many: no files given")
    return pd.concat(frames)


def default_results_path() -> str:
    """The result file notebooks read: $NNFI_RESULTS, else $NNFI_FIXTURE, else
    the newest build*/tests/python/fixture.h5 of this checkout (the CTest
    fixture: `ctest -L python` writes it)."""
    for var in ("NNFI_RESULTS", "NNFI_FIXTURE"):
        if os.environ.get(var):
            return os.environ[var]
    root = Path(__file__).resolve().parents[2]
    found = sorted(glob.glob(str(root / "build*" / "tests" / "python" / "fixture.h5")), key=os.path.getmtime)
    if found:
        return found[-1]
    raise NnfiFileError(
        "no result file: NNFI_RESULTS is not set and no build*/tests/python/fixture.h5 exists\n"
        "  hint: export NNFI_RESULTS=out.h5, or build and run 'ctest -L python' to write the fixture"
    )
