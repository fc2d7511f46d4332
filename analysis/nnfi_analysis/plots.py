"""plots.py - figures of a campaign summary (matplotlib).

Figures are built as matplotlib.figure.Figure objects on an Agg canvas, never
through pyplot, so nothing here touches the global backend: the same calls
save PNGs from a headless CLI and display inline in a notebook (a Figure is
the cell's result). Every estimate is drawn with its interval: t-intervals
for means, Wilson intervals for proportions (stats.summarize).

Experiments are grouped by what they sweep, one column of panels each:
  faults  x = faults per trial (N), log scale
  rate    x = faults per parameter/element, log scale
  none    one bar per experiment (a fixed fault model, no sweep)

Use alone:

    from nnfi_analysis import load, stats, plots
    s = stats.summarize(load("out.h5"))
    fig = plots.summary_figure(s)
    plots.save(fig, "summary.png")
"""
from __future__ import annotations

import os

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = [
    "new_figure",
    "save",
    "plot_mean",
    "plot_proportions",
    "plot_exceedance",
    "summary_figure",
    "SWEEP_AXIS",
]

SWEEP_AXIS = {
    "faults": "faults per trial (N)",
    "rate": "faults per parameter (rate)",
    "none": "experiment (no sweep)",
}
_MEAN = {"accuracy": "accuracy", "drop": "accuracy drop"}
_PROPS = {
    "sdc": "P[SDC]",
    "critical_sdc": "P[critical SDC]",
    "due": "P[DUE]",
    "drop_gt": "P[drop > {t:g}]",
}


def new_figure(nrows: int = 1, ncols: int = 1, size=None, **kw):
    """A Figure on an Agg canvas and its axes array (squeeze=False)."""
    fig = Figure(figsize=size or (5.0 * ncols, 3.6 * nrows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    return fig, axes


def save(fig: Figure, path: str | os.PathLike, dpi: int = 120) -> str:
    """Write the figure (format from the extension, e.g. .png, .pdf)."""
    fig.savefig(os.fspath(path), dpi=dpi)
    return os.fspath(path)


def _sweeps(summary: pd.DataFrame) -> list[str]:
    return [k for k in ("faults", "rate", "none") if (summary["sweep"] == k).any()]


def _xscale(ax, x: np.ndarray):
    x = x[np.isfinite(x)]
    if x.size and (x > 0).all():  # counts and rates span decades
        ax.set_xscale("log")


def _bars_x(summary: pd.DataFrame, sweep: str, ax):
    """x positions for one sweep kind: the swept value, or experiment slots."""
    s = summary[summary["sweep"] == sweep]
    if sweep != "none":
        return s, s["x"].to_numpy(dtype=float)
    names = list(dict.fromkeys(s["experiment_name"]))
    ax.set_xticks(range(len(names)), names, rotation=20)
    ax.set_xlim(-0.6, len(names) - 0.4)
    return s, np.array([names.index(n) for n in s["experiment_name"]], dtype=float)


def plot_mean(ax, summary: pd.DataFrame, sweep: str = "faults", metric: str = "drop", x=None, label_prefix=""):
    """Mean accuracy (metric='accuracy') or accuracy drop ('drop') with its
    t-interval against the swept value, one line per experiment. `x`
    (optional, same length as the sweep's rows) replaces the x values, e.g.
    faults per parameter for a count sweep."""
    s, xs = _bars_x(summary, sweep, ax)
    if x is not None:
        xs = np.asarray(x, dtype=float)
    for name in dict.fromkeys(s["experiment_name"]):
        m = (s["experiment_name"] == name).to_numpy()
        o = np.argsort(xs[m], kind="stable")
        y = s[f"{metric}_mean"].to_numpy(dtype=float)[m][o]
        hw = np.nan_to_num(s[f"{metric}_hw"].to_numpy(dtype=float)[m][o])
        ax.errorbar(xs[m][o], y, yerr=hw, marker="o", capsize=3, label=f"{label_prefix}{name}",
                    linestyle="-" if sweep != "none" else "none")
    if sweep != "none" and x is None:
        _xscale(ax, xs)
    ax.set_ylabel(f"{_MEAN[metric]} (mean, {_ci(summary)} t-CI)")
    ax.set_xlabel(SWEEP_AXIS[sweep])
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    return ax


def _ci(summary: pd.DataFrame) -> str:
    return f"{100 * summary.attrs.get('confidence', 0.95):g}%"


def plot_proportions(ax, summary: pd.DataFrame, sweep: str = "faults", which=("sdc", "due", "drop_gt"), x=None,
                     label_prefix=""):
    """Proportions of trials (P[SDC], P[DUE], P[drop > threshold], ...) with
    Wilson intervals against the swept value; one line per experiment and
    outcome. `x` as in plot_mean; label_prefix (or several experiments) puts
    the experiment name in the legend."""
    s, xs = _bars_x(summary, sweep, ax)
    if x is not None:
        xs = np.asarray(x, dtype=float)
    t = summary.attrs.get("threshold", 0.4)
    names = list(dict.fromkeys(s["experiment_name"]))
    nw = len(which)
    for name in names:
        m = (s["experiment_name"] == name).to_numpy()
        o = np.argsort(xs[m], kind="stable")
        for j, w in enumerate(which):
            p = s[f"{w}_p"].to_numpy(dtype=float)[m][o]
            lo = s[f"{w}_lo"].to_numpy(dtype=float)[m][o]
            hi = s[f"{w}_hi"].to_numpy(dtype=float)[m][o]
            xx = xs[m][o] + ((j - (nw - 1) / 2) * 0.12 if sweep == "none" else 0)
            lab = _PROPS[w].format(t=t)
            err = [np.maximum(np.nan_to_num(p - lo), 0), np.maximum(np.nan_to_num(hi - p), 0)]
            ax.errorbar(xx, p, yerr=err, marker="os^dv"[j % 5],
                        capsize=3, linestyle="-" if sweep != "none" else "none",
                        label=lab if len(names) == 1 and not label_prefix else f"{label_prefix}{name}: {lab}")
    if sweep != "none" and x is None:
        _xscale(ax, xs)
    ax.set_ylim(-0.03, 1.03)
    ax.set_ylabel(f"fraction of trials ({_ci(summary)} Wilson CI)")
    ax.set_xlabel(SWEEP_AXIS[sweep])
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    return ax


def plot_exceedance(ax, exc: pd.DataFrame, band: bool = True):
    """P[drop > t] against t, one curve per point (stats.exceedance output),
    with the Wilson band shaded."""
    for (_, _), g in exc.groupby(["experiment", "point"], sort=True):
        lab = f"{g['experiment_name'].iloc[0]} {g['point_label'].iloc[0]}".rstrip(" -")
        (line,) = ax.plot(g["threshold"], g["p"], marker=".", label=lab)
        if band:
            ax.fill_between(g["threshold"], g["lo"], g["hi"], color=line.get_color(), alpha=0.15)
    ax.set_xlabel("relative accuracy drop threshold t" if exc.attrs.get("relative") else "accuracy drop threshold t")
    ax.set_ylabel("P[drop > t]")
    ax.set_ylim(-0.03, 1.03)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    return ax


def summary_figure(summary: pd.DataFrame, metric: str = "drop", which=("sdc", "due", "drop_gt"), title=None):
    """Two rows (the mean `metric` with t-intervals; proportions with Wilson
    intervals) and one column per sweep kind present in the summary."""
    if summary.attrs.get("by", "point") != "point":
        raise ValueError("summary_figure needs a per-point summary (stats.summarize(..., by='point'))")
    kinds = _sweeps(summary)
    if not kinds:
        raise ValueError("the summary has no points to plot")
    fig, axes = new_figure(2, len(kinds))
    for c, k in enumerate(kinds):
        plot_mean(axes[0, c], summary, k, metric)
        plot_proportions(axes[1, c], summary, k, which)
    if title:
        fig.suptitle(title)
    return fig
