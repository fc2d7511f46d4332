"""strata.py - stratified estimates: trials joined to their faults (/faults)
and grouped by site, layer, bit, op or SNN time step.

/faults holds one row per fault for the trials with at most
output.faults_max_n faults (columns trial, group, site, element, mask, value,
op, transient, scope, when, t_first, t_last). `fault_table` adds, per fault:

  site_name  the site's name from /sites/<model>
  kind       the site's kind (param, activation, input, state)
  layer      the module the site belongs to: the site name without its last
             component ('fc1.weight' -> 'fc1', 'conv1.conv2d#0' -> 'conv1',
             'loop0.mem1' -> 'loop0'); quantized '<m>.weight.scale' and
             '.weight.zero_point' -> '<m>'
  bit        the bit position of the mask when exactly one bit is set, else -1
             (op set/random or several bits at once)
  n_bits     bits set in the mask
  time_step  t_first for faults with a time-step window (SNN activation,
             input and state sites; when t_last is not the 'to the end'
             sentinel 2^32-1 or the site is state), else -1

The stratum of a trial (`trial_strata`) -- THE RULE:

  * a done trial with exactly one fault stored (n_faults == 1) takes that
    fault's site, layer, bit, op and time step: these strata are the
    single-fault vulnerability estimates;
  * a trial with no fault (n_faults == 0, e.g. a Poisson draw of zero) has no
    stratum and is left out;
  * a trial with several faults (multi='exclude', the default) is left out:
    its outcome cannot be attributed to one of its faults;
    multi='first' gives it the stratum of its first fault (fault 0 in /faults
    order); multi='each' counts it once in every distinct stratum its faults
    touch (a proportion then reads "P[outcome | at least one fault in the
    stratum]", and the strata are no longer disjoint);
  * a trial whose faults were not stored (n_faults > faults_max_n) is left
    out whatever `multi` says.

`stratify` then gives, per stratum (and experiment), n, mean accuracy drop
with a t-interval, and P[SDC], P[critical SDC], P[DUE], P[drop > threshold]
each with Wilson and Clopper-Pearson intervals.

    import nnfi_analysis as na
    res = na.load("out.h5")
    by_layer = na.stratify(res, by="layer")
    grid = na.stratify(res, by=["layer", "bit"])
"""
from __future__ import annotations

import math
import os

import numpy as np
import pandas as pd

from .load import load
from .stats import group_summary

__all__ = ["layer_of", "fault_table", "trial_strata", "stratify", "STRATA", "MULTI_RULES"]

STRATA = ("site_name", "layer", "bit", "op_label", "time_step", "kind", "group")
MULTI_RULES = ("exclude", "first", "each")
_OPEN_END = 2**32 - 1  # t_last of a fault that lasts to the end of the window


def layer_of(site_name) -> str:
    """The module a site belongs to (see the module docstring)."""
    if site_name is None or (isinstance(site_name, float) and math.isnan(site_name)):
        return "?"
    s = str(site_name)
    for suffix in (".weight.scale", ".weight.zero_point"):
        if s.endswith(suffix):
            return s[: -len(suffix)]
    return s.rsplit(".", 1)[0] if "." in s else s


def _results(data):
    if isinstance(data, (str, os.PathLike)):
        return load(data)
    if not all(hasattr(data, a) for a in ("trials", "faults", "sites")):
        raise TypeError("expected a Results (nnfi_analysis.load) or a result file path")
    return data


def fault_table(data) -> pd.DataFrame:
    """/faults of a Results or file with site_name, kind, layer, bit, n_bits,
    time_step added (empty frame when the file holds no fault lists)."""
    res = _results(data)
    f = res.faults()
    if f.empty:
        return f
    sites = res.sites()
    kinds = {(m, int(i)): k for m, i, k in zip(sites["model"], sites.index, sites["kind"])}
    f["kind"] = [kinds.get((m, int(s)), "?") for m, s in zip(f["model"], f["site"])]
    f["layer"] = [layer_of(n) for n in f["site_name"]]
    mask = f["mask"].to_numpy().astype(np.uint64)
    nb = np.array([bin(int(m)).count("1") for m in mask], dtype=np.int64)
    bit = np.array([int(m).bit_length() - 1 for m in mask], dtype=np.int64)
    f["n_bits"] = nb
    f["bit"] = np.where(nb == 1, bit, -1)
    tf = f["t_first"].to_numpy().astype(np.int64)
    tl = f["t_last"].to_numpy().astype(np.int64)
    timed = (f["kind"].to_numpy() == "state") | (tl != _OPEN_END)
    f["time_step"] = np.where(timed, tf, -1)
    return f


def trial_strata(data, multi: str = "exclude") -> pd.DataFrame:
    """Done trials joined to the stratum columns of their faults, by THE RULE
    in the module docstring: one row per (trial, stratum) with every trials
    column plus site_name, kind, layer, bit, n_bits, op_label, time_step,
    group, and n_faults_stored. Index: the global trial index (repeated for
    multi='each')."""
    if multi not in MULTI_RULES:
        raise ValueError(f"multi must be one of {MULTI_RULES}, not {multi!r}")
    res = _results(data)
    tr = res.trials
    tr = tr[tr["done"] != 0]
    f = fault_table(res)
    cols = ["site_name", "kind", "layer", "bit", "n_bits", "op_label", "time_step", "group"]
    if f.empty:
        out = tr.iloc[0:0].copy()
        for c in cols + ["n_faults_stored"]:
            out[c] = pd.Series(dtype=object)
        return out
    stored = f.groupby("trial").size()
    nstored = stored.reindex(tr.index.to_numpy().astype(np.uint64)).fillna(0).to_numpy().astype(np.int64)
    nf = tr["n_faults"].to_numpy().astype(np.int64)
    complete = (nstored == nf) & (nf > 0)
    if multi == "exclude":
        keep = complete & (nf == 1)
    else:
        keep = complete
    ff = f[cols + ["trial"]].copy()
    ff["op_label"] = ff["op_label"].astype(str)
    if multi in ("exclude", "first"):
        ff = ff.drop_duplicates("trial", keep="first")
    else:
        ff = ff.drop_duplicates(["trial"] + cols, keep="first")
    t = tr[keep].copy()
    t["n_faults_stored"] = nstored[keep]
    t["_trial"] = t.index.to_numpy().astype(np.uint64)
    ff["trial"] = ff["trial"].astype(np.uint64)
    out = t.merge(ff, left_on="_trial", right_on="trial", how="inner", suffixes=("", "_fault"))
    out.index = pd.Index(out.pop("_trial").to_numpy(), name=tr.index.name)
    out = out.drop(columns=[c for c in ("trial",) if c in out.columns and c not in tr.columns])
    out.attrs["multi"] = multi
    return out


def stratify(data, by="layer", per: str | None = "experiment", multi: str = "exclude", threshold: float = 0.4,
             confidence: float = 0.95, relative: bool = False) -> pd.DataFrame:
    """Estimates per stratum: `by` one of STRATA (or 'site' for site_name,
    'op' for op_label, or a list of them); `per` 'experiment' (default),
    'point' or None (pool every experiment). stats.group_summary of the
    trial_strata frame by those keys: the keys, n (trials), accuracy_ and
    drop_mean/_hw/_lo/_hi, and for sdc, critical_sdc, due, drop_gt: _k, _p,
    _lo/_hi (Wilson), _cp_lo/_cp_hi (Clopper-Pearson). `data` is a Results,
    a path, or a trial_strata frame."""
    alias = {"site": "site_name", "op": "op_label", "t_first": "time_step", "time": "time_step"}
    keys = [alias.get(b, b) for b in ([by] if isinstance(by, str) else list(by))]
    for k in keys:
        if k not in STRATA:
            raise ValueError(f"cannot stratify by {k!r}; use one of {STRATA} (or site, op, t_first)")
    st = data if isinstance(data, pd.DataFrame) else trial_strata(data, multi=multi)
    front = {"experiment": ["experiment", "experiment_name", "model"],
             "point": ["experiment", "experiment_name", "model", "point", "point_label", "x"], None: []}[per]
    gkeys = front + keys
    if len(st):
        out = group_summary(st, gkeys, threshold=threshold, confidence=confidence, relative=relative)
    else:
        out = pd.DataFrame(columns=gkeys + ["n"])
    out.attrs.update({"by": keys, "per": per, "multi": getattr(st, "attrs", {}).get("multi", multi),
                      "threshold": threshold, "confidence": confidence, "relative": relative})
    return out
