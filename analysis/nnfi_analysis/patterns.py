"""patterns.py - hardware fault models in a result file: outcomes broken down
by /trials/pattern (the pattern of each trial's first occurrence) and the FIT
contribution raw FIT x P(outcome) of experiments whose groups carry `fit:`
(FIdelity's application FIT), with 95% Wilson intervals scaled by the raw FIT.
The same numbers `nnfi inspect` prints (src/cli/inspect_patterns.c).

    from nnfi_analysis import patterns
    patterns.outcomes_by_pattern("out.h5")   # experiment, pattern, trials, sdc, ..., *_lo, *_hi
    patterns.fit_contribution("out.h5")      # one row per experiment with fit, and a 'total' row
"""
from __future__ import annotations

import os

import numpy as np
import pandas as pd
import yaml

from .load import experiments as _experiments
from .load import open_file as _open
from .load import provenance as _provenance
from .load import trials as _trials
from .stats import wilson_interval

OUTCOMES = ("sdc", "critical_sdc", "due")


def _pattern_names(path) -> list[str]:
    """The codes' names: the column's flag_meanings (from the one schema)."""
    with _open(path) as f:
        m = f["trials"]["pattern"].attrs["flag_meanings"]
    return (m.decode() if isinstance(m, bytes) else str(m)).split()


def _flags(path) -> pd.DataFrame:
    """Per done trial: experiment, pattern name, and 0/1 sdc, critical_sdc, due."""
    t = _trials(path)
    pat = t["pattern"]
    if isinstance(pat.dtype, pd.CategoricalDtype):
        names = pat.astype(str)
    else:
        table = np.array(_pattern_names(path), dtype=object)
        names = pd.Series(table[pat.to_numpy().astype(int)], index=pat.index)
    return pd.DataFrame({
        "experiment": t["experiment"].to_numpy(),
        "pattern": names.to_numpy(),
        "sdc": (t["sdc"].to_numpy() > 0).astype(int),
        "critical_sdc": (t["critical_sdc"].to_numpy() > 0).astype(int),
        "due": (t["due"].astype(str).to_numpy() == "yes").astype(int)
        if isinstance(t["due"].dtype, pd.CategoricalDtype) else (t["due"].to_numpy() != 0).astype(int),
    })


def outcomes_by_pattern(path: str | os.PathLike, confidence: float = 0.95) -> pd.DataFrame:
    """Trials and SDC / critical-SDC / DUE counts and rates (with Wilson
    intervals) per (experiment, pattern), for experiments with a fault model
    (trials whose pattern is 'none' are left out)."""
    f = _flags(path)
    f = f[f["pattern"] != "none"]
    g = f.groupby(["experiment", "pattern"], sort=True)
    out = g[list(OUTCOMES)].sum()
    out.insert(0, "trials", g.size())
    for o in OUTCOMES:
        lo, hi = wilson_interval(out[o].to_numpy(), out["trials"].to_numpy(), confidence)
        out[o + "_rate"] = out[o] / out["trials"]
        out[o + "_lo"], out[o + "_hi"] = lo, hi
    return out.reset_index()


def _fits(path) -> dict[int, float]:
    """Experiment index -> sum of its groups' `fit` (campaign text in the file)."""
    cfg = yaml.safe_load(_provenance(path).get("config") or "") or {}
    out = {}
    for i, x in enumerate(cfg.get("experiments") or []):
        fits = [g["fit"] for g in x.get("groups") or [] if isinstance(g, dict) and "fit" in g]
        if fits:
            out[i] = float(sum(fits))
    return out


def fit_contribution(path: str | os.PathLike, confidence: float = 0.95) -> pd.DataFrame:
    """Per experiment with fit: raw_fit, trials, and for each outcome the FIT
    contribution raw_fit x P(outcome) with its Wilson interval (x raw_fit); a
    last row 'total' sums them (its interval: the sum of the bounds)."""
    fits = _fits(path)
    f = _flags(path)
    names = _experiments(path)["name"]
    rows = []
    for e, fit in sorted(fits.items()):
        sel = f[f["experiment"] == e]
        n = len(sel)
        if not n:
            continue
        row = {"experiment": names.get(e, str(e)), "raw_fit": fit, "trials": n}
        for o in OUTCOMES:
            k = int(sel[o].sum())
            lo, hi = wilson_interval(k, n, confidence)
            row["fit_" + o], row["fit_" + o + "_lo"], row["fit_" + o + "_hi"] = fit * k / n, fit * float(lo), fit * float(hi)
        rows.append(row)
    df = pd.DataFrame(rows)
    if len(df):
        total = {"experiment": "total", "raw_fit": df["raw_fit"].sum(), "trials": int(df["trials"].sum())}
        for c in df.columns[3:]:
            total[c] = df[c].sum()
        df = pd.concat([df, pd.DataFrame([total])], ignore_index=True)
    return df
