"""stats.py - per-point statistics of a campaign, with confidence intervals.

The same definitions as the C side, so numbers agree with `nnfi inspect` and
with the trial budgets `nnfi plan` derives (src/plan/plan.c):

  - mean accuracy and mean accuracy drop with a two-sided Student-t interval
    (half-width t_{(1+c)/2, n-1} * s / sqrt(n); NaN for fewer than 2 trials);
  - proportions of trials with an outcome, each with a Wilson score interval:
      sdc           P[SDC]           trials with sdc > 0 (any top-1 changed)
      critical_sdc  P[critical SDC]  trials with critical_sdc > 0 (a right answer
                                     became wrong)
      due           P[DUE]           trials with due != 0 (NaN/Inf or failed)
      drop_gt       P[drop > thr]    trials with accuracy_drop > threshold
                                     (relative=True: relative_drop > threshold)
  - leveugle_sample_size: Leveugle et al. (DATE 2009), as nnfi_leveugle_sample_size;
  - wilson_interval: as nnfi_wilson_interval (n = 0 gives [0, 1]);
  - clopper_pearson_interval: the exact (beta) interval, also in summaries
    as <name>_cp_lo / <name>_cp_hi;
  - group_summary: all of the above per group of a trials frame (one pandas
    groupby); summarize (per point/experiment), strata.stratify (per stratum),
    the CLI, the plots and the notebooks all go through it;
  - summarize_many: several loaded results at once (a `file` column).

Only done rows count. This module takes tables and arrays only: it reads no
file and does not depend on load.py (the loader depends on nothing here
either). Use alone:

    import nnfi_analysis as na
    s = na.stats.summarize(na.load("out.h5"), threshold=0.4)   # the Results' tables
    stats.wilson_interval(3, 60)           # (lo, hi)
    stats.leveugle_sample_size(0.01)       # 9604
"""
from __future__ import annotations

import math
import os
from statistics import NormalDist

import numpy as np
import pandas as pd

__all__ = [
    "normal_quantile",
    "t_quantile",
    "wilson_interval",
    "clopper_pearson_interval",
    "proportion_interval",
    "leveugle_sample_size",
    "t_interval",
    "group_summary",
    "proportion_columns",
    "summarize",
    "exceedance",
    "crossing",
    "summarize_many",
    "PROPORTIONS",
]

# name -> (column, test on it, what it means)
PROPORTIONS = {
    "sdc": ("sdc", "> 0", "P[SDC]: trials where some eval sample's top-1 differs from golden"),
    "critical_sdc": ("critical_sdc", "> 0", "P[critical SDC]: trials where a correct answer became wrong"),
    "due": ("due", "!= 0", "P[DUE]: trials with a NaN/Inf logit or a failure"),
    "drop_gt": ("accuracy_drop", "> threshold", "P[accuracy drop > threshold]"),
}


def normal_quantile(confidence: float = 0.95) -> float:
    """Two-sided standard-normal quantile: 0.95 -> 1.959963984540054."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), not {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def t_quantile(df, confidence: float = 0.95):
    """Two-sided Student-t quantile for df degrees of freedom (NaN for df < 1)."""
    from scipy.stats import t

    df = np.asarray(df, dtype=float)
    with np.errstate(invalid="ignore"):
        q = t.ppf(0.5 + confidence / 2, np.where(df >= 1, df, np.nan))
    return q if q.ndim else float(q)


def wilson_interval(k, n, confidence: float = 0.95):
    """Wilson score interval of k successes in n trials, clipped to [0, 1];
    (0, 1) where n == 0, as the C side. Scalars or arrays (broadcast)."""
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    z = normal_quantile(confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        ph = k / n
        den = 1 + z * z / n
        ctr = (ph + z * z / (2 * n)) / den
        half = z * np.sqrt(ph * (1 - ph) / n + z * z / (4 * n * n)) / den
        # k = 0 and k = n give exactly 0 and 1 (rounding would leave 1e-17 off)
        lo = np.where((n > 0) & (k > 0), np.maximum(ctr - half, 0.0), 0.0)
        hi = np.where((n > 0) & (k < n), np.minimum(ctr + half, 1.0), 1.0)
    if lo.ndim == 0:
        return float(lo), float(hi)
    return lo, hi


def clopper_pearson_interval(k, n, confidence: float = 0.95):
    """Clopper-Pearson ("exact") interval of k successes in n trials: the
    beta quantiles B(a/2; k, n-k+1) and B(1-a/2; k+1, n-k), with 0 for k = 0
    and 1 for k = n; (0, 1) where n == 0. Scalars or arrays (broadcast).
    k=0, n=10 at 95%: (0, 0.3085); k=5, n=10: (0.1871, 0.8129). Never
    narrower than the nominal coverage (conservative), unlike Wilson."""
    from scipy.stats import beta

    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    a = 1 - confidence
    if not 0 < a < 1:
        raise ValueError(f"confidence must be in (0, 1), not {confidence}")
    k, n = np.broadcast_arrays(k, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        lo = np.where((n > 0) & (k > 0), beta.ppf(a / 2, np.maximum(k, 1e-300), n - k + 1), 0.0)
        hi = np.where((n > 0) & (k < n), beta.ppf(1 - a / 2, k + 1, np.maximum(n - k, 1e-300)), 1.0)
    lo = np.nan_to_num(lo, nan=0.0)
    hi = np.nan_to_num(hi, nan=1.0)
    if lo.ndim == 0:
        return float(lo), float(hi)
    return lo, hi


def proportion_interval(k, n, confidence: float = 0.95, method: str = "wilson"):
    """wilson_interval or clopper_pearson_interval by name ('wilson', 'cp' /
    'clopper-pearson')."""
    m = method.lower().replace("_", "-")
    if m == "wilson":
        return wilson_interval(k, n, confidence)
    if m in ("cp", "clopper-pearson", "exact"):
        return clopper_pearson_interval(k, n, confidence)
    raise ValueError(f"method must be 'wilson' or 'clopper-pearson', not {method!r}")


def leveugle_sample_size(margin: float, confidence: float = 0.95, p: float = 0.5, population: float = 0) -> int:
    """Trials for a proportion estimate with error margin `margin` at
    `confidence`, expected proportion p, over a population of N distinct
    faults (N <= 0: infinite). Leveugle et al., DATE 2009:

        n = N / (1 + e^2 (N - 1) / (t^2 p (1 - p)))      (N -> inf: t^2 p (1-p) / e^2)

    rounded up, at least 1 (as nnfi_leveugle_sample_size)."""
    t = normal_quantile(confidence)
    v = p * (1 - p)
    if v <= 0:
        return 1
    n = population / (1 + margin * margin * (population - 1) / (t * t * v)) if population > 0 else t * t * v / margin**2
    return max(1, int(math.ceil(n - 1e-9)))


def t_interval(values, confidence: float = 0.95):
    """(mean, half-width) of the Student-t interval of the mean; half-width
    NaN for fewer than 2 values, mean NaN for none."""
    v = np.asarray(values, dtype=float)
    n = v.size
    if n == 0:
        return math.nan, math.nan
    mean = float(v.mean())
    if n < 2:
        return mean, math.nan
    return mean, float(t_quantile(n - 1, confidence) * v.std(ddof=1) / math.sqrt(n))


# ----------------------------------------------------------- summaries --


def _frames(data, points):
    """(trials, points) from a Results-like object (anything with .trials and
    .points tables) or a trials frame and points=. No file I/O here."""
    if isinstance(data, (str, os.PathLike)):
        raise TypeError(f"nnfi_analysis.stats works on tables, not files: load {os.fspath(data)!r} first "
                        "(nnfi_analysis.load(path)) and pass the Results")
    if hasattr(data, "trials") and hasattr(data, "points"):
        return data.trials, data.points
    if points is None:
        raise TypeError("summarize(trials_frame) needs points= (the /points table: nnfi_analysis.points(path))")
    return data, points


def _done(trials: pd.DataFrame) -> pd.DataFrame:
    return trials[trials["done"] != 0] if "done" in trials else trials


def _event(trials: pd.DataFrame, name: str, threshold: float, relative: bool) -> np.ndarray:
    if name == "drop_gt":
        col = "relative_drop" if relative else "accuracy_drop"
        return trials[col].to_numpy(dtype=float) > threshold
    if name == "due":
        return trials["due"].to_numpy() != 0
    return trials[name].to_numpy() > 0


# value columns of group_summary: output name -> trials column; a mean with a
# t-interval (_mean/_hw/_lo/_hi) for the first two, a plain mean for the others
_T_MEANS = {"accuracy": "accuracy", "drop": "accuracy_drop"}
_MEANS = {"relative_drop_mean": "relative_drop", "n_faults_mean": "n_faults",
          "critical_sdc_per_trial": "critical_sdc"}


def proportion_columns(k, n, confidence: float = 0.95, name: str = "p") -> dict:
    """{name_k, name_p, name_lo, name_hi (Wilson), name_cp_lo, name_cp_hi
    (Clopper-Pearson)} for arrays of successes k in n trials; NaN where n == 0."""
    k = np.asarray(k, dtype=np.int64)
    n = np.asarray(n, dtype=np.int64)
    has = n > 0
    lo, hi = wilson_interval(k, n, confidence)
    clo, chi = clopper_pearson_interval(k, n, confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(has, k / np.where(has, n, 1), np.nan)
    return {f"{name}_k": k, f"{name}_p": p,
            f"{name}_lo": np.where(has, lo, np.nan), f"{name}_hi": np.where(has, hi, np.nan),
            f"{name}_cp_lo": np.where(has, clo, np.nan), f"{name}_cp_hi": np.where(has, chi, np.nan)}


def group_summary(
    trials: pd.DataFrame,
    by,
    base: pd.DataFrame | None = None,
    threshold: float = 0.4,
    confidence: float = 0.95,
    relative: bool = False,
) -> pd.DataFrame:
    """THE group-wise summary: one pandas groupby of a trials frame by the
    columns `by`, every statistic of the package per group.

    Columns: the keys, n (trials in the group), accuracy_mean/_hw/_lo/_hi and
    drop_mean/_hw/_lo/_hi (mean and Student-t interval of accuracy and
    accuracy_drop; _hw NaN for n < 2), relative_drop_mean, n_faults_mean,
    critical_sdc_per_trial (where the trials frame has those columns), and for
    each outcome of PROPORTIONS (sdc, critical_sdc, due, drop_gt): _k, _p,
    _lo/_hi (Wilson), _cp_lo/_cp_hi (Clopper-Pearson). The drop event is
    accuracy_drop > threshold (relative=True: relative_drop > threshold).

    base: a table holding the key columns (e.g. the /points table): the result
    is base with the statistics joined, one row per base row in base's order,
    n = 0 and NaN estimates where no trial falls in a group. Without base:
    one row per group that has trials, sorted by the keys.

    summarize (per point / experiment) and strata.stratify (per stratum) are
    this function with their keys; only rows with done != 0 count."""
    keys = [by] if isinstance(by, str) else list(by)
    trials = _done(trials)
    cols = {}
    for out, col in list(_T_MEANS.items()) + list(_MEANS.items()):
        if col in trials:
            cols[out] = trials[col].to_numpy(dtype=float)
    for name in PROPORTIONS:
        cols[f"{name}_k"] = _event(trials, name, threshold, relative).astype(np.int64)
    # NaN propagates into a group's mean (as numpy's mean would), not skipped
    nan = {out: np.isnan(v).astype(np.int64) for out, v in cols.items() if out in _T_MEANS or out in _MEANS}
    frame = trials[keys].reset_index(drop=True)  # keys keep their dtype (categorical order)
    frame = frame.assign(**cols, **{f"{o}__nan": v for o, v in nan.items()})
    g = frame.groupby(keys, sort=True, observed=True, dropna=False)
    out = pd.DataFrame({"n": g.size()})
    for o in nan:
        bad = g[f"{o}__nan"].sum() > 0
        col = o if o in _MEANS else f"{o}_mean"
        out[col] = g[o].mean().mask(bad)
        if o in _T_MEANS:
            out[f"{o}__std"] = g[o].std(ddof=1).mask(bad)
    for name in PROPORTIONS:
        out[f"{name}_k"] = g[f"{name}_k"].sum()
    out = out.reset_index()

    if base is not None:
        b = base.reset_index(drop=True)
        left = b[keys].copy()
        right = out.copy()
        for k in keys:  # ids of different integer widths (uint32 in the file, int64 in a table) join as int64
            if left[k].dtype.kind in "iub" and right[k].dtype.kind in "iub":
                left[k] = left[k].astype(np.int64)
                right[k] = right[k].astype(np.int64)
            elif isinstance(right[k].dtype, pd.CategoricalDtype) or isinstance(left[k].dtype, pd.CategoricalDtype):
                left[k] = left[k].astype(object)
                right[k] = right[k].astype(object)
        stats_ = left.merge(right, on=keys, how="left", sort=False).drop(columns=keys)
        stats_["n"] = stats_["n"].fillna(0).astype(np.int64)
        for name in PROPORTIONS:
            stats_[f"{name}_k"] = stats_[f"{name}_k"].fillna(0).astype(np.int64)
        out = pd.concat([b, stats_], axis=1)

    n = out["n"].to_numpy(dtype=np.int64)
    res = {}
    for o in _T_MEANS:
        if f"{o}_mean" not in out:
            continue
        m = out[f"{o}_mean"].to_numpy(dtype=float)
        sd = out.pop(f"{o}__std").to_numpy(dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            hw = np.where(n >= 2, t_quantile(n - 1, confidence) * sd / np.sqrt(np.maximum(n, 1)), np.nan)
        res.update({f"{o}_mean": m, f"{o}_hw": hw, f"{o}_lo": m - hw, f"{o}_hi": m + hw})
    for o in _MEANS:
        if o in out:
            res[o] = out[o].to_numpy(dtype=float)
    for name in PROPORTIONS:
        res.update(proportion_columns(out[f"{name}_k"].to_numpy(), n, confidence, name))
    front = out.drop(columns=[c for c in out.columns if c in res or c == "n"])
    front = front.drop(columns=[c for c in front.columns if c.endswith("__std")])
    result = pd.concat([front, pd.DataFrame({"n": n, **res}, index=front.index)], axis=1)
    result.attrs.update({"threshold": threshold, "confidence": confidence, "relative": relative, "by": keys})
    return result


def summarize(
    data,
    points: pd.DataFrame | None = None,
    threshold: float = 0.4,
    confidence: float = 0.95,
    by: str = "point",
    relative: bool = False,
) -> pd.DataFrame:
    """One row per point (by='point') or per experiment (by='experiment'),
    every planned one even with no trial done yet: group_summary with the
    keys (experiment, point) or (experiment) on the /points table.

    data: a Results (anything with .trials and .points) or a trials frame
    (then points= the /points table). Columns: ids and sweep (experiment,
    experiment_name, model, point, point_label, sweep, x, is_rate), trials
    (planned), trials_done, accuracy_mean/_hw/_lo/_hi, drop_mean/_hw/_lo/_hi
    (t-intervals), relative_drop_mean, n_faults_mean, critical_sdc_per_trial,
    and for each of sdc, critical_sdc, due, drop_gt: _k (trials with the
    outcome), _p, _lo, _hi (Wilson), _cp_lo, _cp_hi (Clopper-Pearson).
    threshold, confidence, relative, by go to .attrs."""
    trials, pts = _frames(data, points)
    if by == "point":
        keys = ["experiment", "point"]
        base = pts.copy()
    elif by == "experiment":
        keys = ["experiment"]
        base = (
            pts.groupby("experiment", sort=True)
            .agg(experiment_name=("experiment_name", "first"), model=("model", "first"), trials=("trials", "sum"),
                 n_points=("point", "size"))
            .reset_index()
        )
    else:
        raise ValueError(f"by must be 'point' or 'experiment', not {by!r}")
    res = group_summary(trials, keys, base=base, threshold=threshold, confidence=confidence, relative=relative)
    res = res.rename(columns={"n": "trials_done"})
    res.attrs.update({"threshold": threshold, "confidence": confidence, "relative": relative, "by": by})
    return res


def exceedance(
    data,
    thresholds=None,
    points: pd.DataFrame | None = None,
    confidence: float = 0.95,
    relative: bool = False,
) -> pd.DataFrame:
    """P[accuracy drop > t] for each point and each threshold t (default
    0, 0.05, ..., 1), with Wilson intervals: the complementary CDF of the drop
    per point. Long format: experiment, experiment_name, point, point_label,
    sweep, x, threshold, k, n, p, lo, hi."""
    trials, pts = _frames(data, points)
    trials = _done(trials)
    th = np.linspace(0, 1, 21) if thresholds is None else np.asarray(thresholds, dtype=float)
    col = "relative_drop" if relative else "accuracy_drop"
    d_all = trials[col].to_numpy(dtype=float)
    keys = pd.MultiIndex.from_arrays([trials["experiment"].to_numpy().astype(np.int64),
                                      trials["point"].to_numpy().astype(np.int64)])
    groups = pd.Series(np.arange(len(trials))).groupby(keys).indices if len(trials) else {}
    rows = []
    for _, pt in pts.iterrows():
        d = d_all[groups.get((int(pt["experiment"]), int(pt["point"])), np.empty(0, dtype=np.int64))]
        n = d.size
        d = np.sort(d[~np.isnan(d)])  # a NaN drop exceeds nothing
        k = d.size - np.searchsorted(d, th, side="right")  # how many exceed each threshold
        pc = proportion_columns(k, np.full(th.shape, n), confidence)
        for t, kk, p, l, h in zip(th, k, pc["p_p"], pc["p_lo"], pc["p_hi"]):
            rows.append({
                "experiment": int(pt["experiment"]), "experiment_name": pt["experiment_name"],
                "point": int(pt["point"]), "point_label": pt["point_label"], "sweep": pt["sweep"], "x": pt["x"],
                "threshold": float(t), "k": int(kk), "n": n, "p": p, "lo": l, "hi": h,
            })
    out = pd.DataFrame(rows)
    out.attrs.update({"confidence": confidence, "relative": relative})
    return out


def crossing(x, p, level: float = 0.5, log: bool = True) -> float:
    """The x at which the curve p(x) first reaches `level` (rising), by linear
    interpolation in log10(x) (log=True) or x; NaN when it never does within
    the data, x[0] when it starts at or above level. Sorts by x. Apply it to
    the _lo and _hi columns too for a bracket of the crossing."""
    x = np.asarray(x, dtype=float)
    p = np.asarray(p, dtype=float)
    keep = np.isfinite(x) & np.isfinite(p) & ((x > 0) if log else True)
    x, p = x[keep], p[keep]
    if x.size == 0:
        return math.nan
    o = np.argsort(x, kind="stable")
    x, p = x[o], p[o]
    if p[0] >= level:
        return float(x[0])
    u = np.log10(x) if log else x
    for i in range(1, x.size):
        if p[i] >= level:
            f = (level - p[i - 1]) / (p[i] - p[i - 1])
            v = u[i - 1] + f * (u[i] - u[i - 1])
            return float(10**v) if log else float(v)
    return math.nan


def summarize_many(results, **kw) -> pd.DataFrame:
    """summarize() of several loaded results (Results-like objects with
    .trials, .points and .path), concatenated with a `file` column in front
    (e.g. shards of one study run as separate campaigns, or one campaign per
    model). nnfi_analysis.summarize_many also takes file paths."""
    frames = []
    for res in list(results):
        s = summarize(res, **kw)
        s.insert(0, "file", getattr(res, "path", ""))
        frames.append(s)
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if frames:
        out.attrs.update(frames[0].attrs)
    return out
