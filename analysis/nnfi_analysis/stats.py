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
  - summarize_many: several result files at once (a `file` column).

Only done rows count. Use alone:

    from nnfi_analysis import load, stats
    s = stats.summarize(load("out.h5"), threshold=0.4)
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
    """(trials, points, golden accuracy) from a Results, a path or frames."""
    from .load import Results, load

    if isinstance(data, (str, os.PathLike)):
        data = load(data)
    if isinstance(data, Results):
        return data.trials, data.points
    if points is None:
        raise TypeError("summarize(trials_frame) needs points= (the /points table: nnfi_analysis.points(path))")
    return data, points


def _event(trials: pd.DataFrame, name: str, threshold: float, relative: bool) -> np.ndarray:
    if name == "drop_gt":
        col = "relative_drop" if relative else "accuracy_drop"
        return trials[col].to_numpy(dtype=float) > threshold
    if name == "due":
        return trials["due"].to_numpy() != 0
    return trials[name].to_numpy() > 0


def _groups(trials: pd.DataFrame, keys: list[str]) -> dict:
    """{(key values): row positions} of a trials frame, by one sort (no
    per-group scan: files hold millions of rows)."""
    groups = {}
    key_cols = [trials[k].to_numpy().astype(np.int64) for k in keys]
    if len(trials):
        order = np.lexsort(key_cols[::-1])
        sk = np.stack([c[order] for c in key_cols], axis=1)
        cut = np.flatnonzero(np.any(sk[1:] != sk[:-1], axis=1)) + 1
        for rows in np.split(order, cut):
            groups[tuple(int(c[rows[0]]) for c in key_cols)] = rows
    return groups


def summarize(
    data,
    points: pd.DataFrame | None = None,
    threshold: float = 0.4,
    confidence: float = 0.95,
    by: str = "point",
    relative: bool = False,
) -> pd.DataFrame:
    """One row per point (by='point') or per experiment (by='experiment'),
    every planned one even with no trial done yet.

    data: a Results, a result file path, or a trials frame (then points= the
    /points table). Columns: ids and sweep (experiment, experiment_name, model,
    point, point_label, sweep, x, is_rate), trials (planned), trials_done,
    accuracy_mean/_hw/_lo/_hi, drop_mean/_hw/_lo/_hi (t-intervals),
    relative_drop_mean, n_faults_mean, critical_sdc_per_trial, and for each
    of sdc, critical_sdc, due, drop_gt: _k (trials with the outcome), _p,
    _lo, _hi (Wilson), _cp_lo, _cp_hi (Clopper-Pearson). threshold, confidence, relative go to .attrs."""
    trials, pts = _frames(data, points)
    if "done" in trials:
        trials = trials[trials["done"] != 0]
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

    events = {name: _event(trials, name, threshold, relative) for name in PROPORTIONS}
    groups = _groups(trials, keys)

    acc = trials["accuracy"].to_numpy(dtype=float)
    drop = trials["accuracy_drop"].to_numpy(dtype=float)
    rel = trials["relative_drop"].to_numpy(dtype=float) if "relative_drop" in trials else np.full(len(trials), np.nan)
    nf = trials["n_faults"].to_numpy(dtype=float)
    crit = trials["critical_sdc"].to_numpy(dtype=float)
    out = []
    for _, row in base.iterrows():
        key = tuple(int(row[k]) for k in keys)
        rows = groups.get(key, np.empty(0, dtype=np.int64))
        n = rows.size
        r = {"trials_done": n}
        for name, v in (("accuracy", acc), ("drop", drop)):
            m, hw = t_interval(v[rows], confidence)
            r.update({f"{name}_mean": m, f"{name}_hw": hw, f"{name}_lo": m - hw, f"{name}_hi": m + hw})
        r["relative_drop_mean"] = float(rel[rows].mean()) if n else math.nan
        r["n_faults_mean"] = float(nf[rows].mean()) if n else math.nan
        r["critical_sdc_per_trial"] = float(crit[rows].mean()) if n else math.nan
        for name, ev in events.items():
            k = int(ev[rows].sum())
            lo, hi = wilson_interval(k, n, confidence)
            clo, chi = clopper_pearson_interval(k, n, confidence)
            r.update({f"{name}_k": k, f"{name}_p": k / n if n else math.nan,
                      f"{name}_lo": lo if n else math.nan, f"{name}_hi": hi if n else math.nan,
                      f"{name}_cp_lo": clo if n else math.nan, f"{name}_cp_hi": chi if n else math.nan})
        out.append(r)
    res = pd.concat([base.reset_index(drop=True), pd.DataFrame(out, index=range(len(base)))], axis=1)
    res["trials_done"] = res["trials_done"].astype(np.int64)
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
    if "done" in trials:
        trials = trials[trials["done"] != 0]
    th = np.linspace(0, 1, 21) if thresholds is None else np.asarray(thresholds, dtype=float)
    col = "relative_drop" if relative else "accuracy_drop"
    rows = []
    groups = _groups(trials, ["experiment", "point"])
    d_all = trials[col].to_numpy(dtype=float)
    for _, pt in pts.iterrows():
        d = d_all[groups.get((int(pt["experiment"]), int(pt["point"])), np.empty(0, dtype=np.int64))]
        n = d.size
        d = np.sort(d[~np.isnan(d)])  # a NaN drop exceeds nothing
        k = d.size - np.searchsorted(d, th, side="right")  # how many exceed each threshold
        lo, hi = wilson_interval(k, np.full(th.shape, n), confidence)
        for t, kk, l, h in zip(th, k, np.atleast_1d(lo), np.atleast_1d(hi)):
            rows.append({
                "experiment": int(pt["experiment"]), "experiment_name": pt["experiment_name"],
                "point": int(pt["point"]), "point_label": pt["point_label"], "sweep": pt["sweep"], "x": pt["x"],
                "threshold": float(t), "k": int(kk), "n": n,
                "p": kk / n if n else math.nan, "lo": l if n else math.nan, "hi": h if n else math.nan,
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


def summarize_many(paths, **kw) -> pd.DataFrame:
    """summarize() of several result files (paths or Results), concatenated
    with a `file` column in front (e.g. shards of one study run as separate
    campaigns, or one campaign per model)."""
    from .load import Results, load

    frames = []
    for p in ([paths] if isinstance(paths, (str, os.PathLike, Results)) else list(paths)):
        res = p if isinstance(p, Results) else load(p)
        s = summarize(res, **kw)
        s.insert(0, "file", res.path)
        frames.append(s)
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if frames:
        out.attrs.update(frames[0].attrs)
    return out
