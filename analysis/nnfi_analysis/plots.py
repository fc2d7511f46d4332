"""plots.py - figures of a campaign summary (matplotlib).

Figures are built as matplotlib.figure.Figure objects on an Agg canvas, never
through pyplot, so nothing here touches the global backend: the same calls
save PNGs from a headless CLI and display inline in a notebook (a Figure is
the cell's result). Every estimate is drawn with its interval: t-intervals
for means, Wilson intervals for proportions (stats.summarize).

summary_figure draws small multiples: one panel per swept experiment, with
the mean drop (t-interval) and P[SDC], P[DUE], P[drop > t] (Wilson) on one
shared y axis and one legend below the panels, so it stays readable with
many experiments. The x axis is what the experiment sweeps:
  faults  x = faults per trial (N), log scale
  rate    x = faults per parameter/element, log scale
  none    one slot per experiment (a fixed fault model, no sweep), one panel

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

from .stats import summarize
from .strata import stratify, trial_strata

__all__ = [
    "new_figure",
    "save",
    "plot_mean",
    "plot_proportions",
    "plot_exceedance",
    "summary_figure",
    "faults_per_parameter",
    "model_comparison_figure",
    "plot_heatmap",
    "vulnerability_figure",
    "plot_strata_bars",
    "plot_time_steps",
    "read_overhead",
    "plot_overhead",
    "all_figures",
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


_OUTCOME_MARKER = "os^dv"


def _legend_row(fig, gs, handles, labels, ncol=4):
    """The figure's one legend, in its own axes under the panels (the last
    row of the grid spec), so it never covers data."""
    lax = fig.add_subplot(gs[-1, :], label="legend")
    lax.set_axis_off()
    if handles:
        lax.legend(handles, labels, loc="center", ncol=min(ncol, len(labels)), fontsize="small", frameon=False)
    return lax


def _grid(n: int, ncols: int | None, panel=(3.7, 2.8), legend_rows: float = 0.1, nrows: int | None = None):
    """A Figure with an n-panel grid (ncols wide) and a legend row below."""
    ncols = max(1, min(ncols or 4, n))
    nrows = nrows or -(-n // ncols)
    fig = Figure(figsize=(max(panel[0] * ncols, 7.0), panel[1] * nrows + 0.7), layout="constrained")
    FigureCanvasAgg(fig)
    gs = fig.add_gridspec(nrows + 1, ncols, height_ratios=[1.0] * nrows + [legend_rows * 5 / panel[1]])
    return fig, gs, nrows, ncols


def _panels(summary: pd.DataFrame) -> list:
    """(sweep kind, experiment name or None) per small-multiple panel: one per
    swept experiment, faults before rate; the unswept experiments share one."""
    out = []
    for k in _sweeps(summary):
        if k == "none":
            out.append((k, None))
        else:
            s = summary[summary["sweep"] == k]
            out.extend((k, n) for n in dict.fromkeys(s["experiment_name"]))
    return out


def _experiment_panel(ax, s: pd.DataFrame, kind: str, metric: str, which, t: float, ci: str):
    """One panel: the mean `metric` (black, t-interval) and each outcome's
    proportion (Wilson interval) against the swept value; for kind 'none'
    one slot per experiment."""
    if kind == "none":
        names = list(dict.fromkeys(s["experiment_name"]))
        xs = np.array([names.index(n) for n in s["experiment_name"]], dtype=float)
        ax.set_xticks(range(len(names)), names, rotation=0 if len(names) <= 3 else 30,
                      ha="center" if len(names) <= 3 else "right", fontsize="small" if len(names) <= 8 else "x-small")
        ax.set_xlim(-0.6, len(names) - 0.4)
        step, ls = 0.8 / (len(which) + 1), "none"
    else:
        xs = s["x"].to_numpy(dtype=float)
        step, ls = 0.0, "-"
    o = np.argsort(xs, kind="stable")
    x = xs[o]
    off = -(len(which)) * step / 2
    m = s[f"{metric}_mean"].to_numpy(dtype=float)[o]
    hw = np.nan_to_num(s[f"{metric}_hw"].to_numpy(dtype=float)[o])
    ax.errorbar(x + off, m, yerr=hw, color="k", marker="s", ms=4, capsize=2, linestyle=ls, lw=1.2,
                label=f"mean {_MEAN[metric]} ({ci} t-CI)")
    for j, w in enumerate(which):
        p = s[f"{w}_p"].to_numpy(dtype=float)[o]
        lo = s[f"{w}_lo"].to_numpy(dtype=float)[o]
        hi = s[f"{w}_hi"].to_numpy(dtype=float)[o]
        err = [np.maximum(np.nan_to_num(p - lo), 0), np.maximum(np.nan_to_num(hi - p), 0)]
        ax.errorbar(x + off + (j + 1) * step, p, yerr=err, color=f"C{j}", marker=_OUTCOME_MARKER[j % 5], ms=4,
                    capsize=2, linestyle=ls, lw=1, label=f"{_PROPS[w].format(t=t)} ({ci} Wilson)")
    if kind != "none":
        _xscale(ax, xs)
    ax.grid(True, alpha=0.3)


def summary_figure(summary: pd.DataFrame, metric: str = "drop", which=("sdc", "due", "drop_gt"), title=None,
                   ncols: int | None = None):
    """Small multiples of a per-point summary: one panel per swept experiment
    (the unswept ones share one panel, a slot each), all panels on one shared
    y axis (0..1: the mean `metric` with its t-interval in black and P[SDC],
    P[DUE], P[drop > t] with Wilson intervals in fixed colours), panels of
    the same sweep kind on one shared x axis, and one legend in its own row
    below the panels. `ncols` panels per row (default up to 4)."""
    if summary.attrs.get("by", "point") != "point":
        raise ValueError("summary_figure needs a per-point summary (stats.summarize(..., by='point'))")
    panels = _panels(summary)
    if not panels:
        raise ValueError("the summary has no points to plot")
    # places: swept panels one cell each in reading order; the unswept panel
    # (a slot per experiment) spans the rest of the last row, or a row of its
    # own when its slots need more room than is left there
    ncols = max(1, min(ncols or 4, len(panels)))
    places, r, c = [], 0, 0
    for kind, _ in panels:
        if kind == "none":
            slots = summary.loc[summary["sweep"] == "none", "experiment_name"].nunique()
            need = min(ncols, max(1, -(-slots // 4)))
            if c + need > ncols:
                r, c = r + 1, 0
            places.append((r, slice(c, ncols)))
            r, c = r + 1, 0
        else:
            places.append((r, c))
            r, c = (r, c + 1) if c + 1 < ncols else (r + 1, 0)
    fig, gs, nrows, ncols = _grid(len(panels), ncols, nrows=r + (c > 0))
    t = summary.attrs.get("threshold", 0.4)
    ci = _ci(summary)
    first, first_of_kind = None, {}
    lo_y, hi_y = -0.03, 1.03
    for i, (kind, name) in enumerate(panels):
        ax = fig.add_subplot(gs[places[i]], label=name or "unswept")
        if first is not None:
            ax.sharey(first)
        if kind != "none" and kind in first_of_kind:
            ax.sharex(first_of_kind[kind])
        first = first or ax
        first_of_kind.setdefault(kind, ax)
        s = summary[summary["sweep"] == kind]
        if name is not None:
            s = s[s["experiment_name"] == name]
        _experiment_panel(ax, s, kind, metric, which, t, ci)
        lo = (s[f"{metric}_mean"] - s[f"{metric}_hw"].fillna(0)).min()
        hi = (s[f"{metric}_mean"] + s[f"{metric}_hw"].fillna(0)).max()
        lo_y = min(lo_y, float(lo) - 0.03) if np.isfinite(lo) else lo_y
        hi_y = max(hi_y, float(hi) + 0.03) if np.isfinite(hi) else hi_y
        model = str(s["model"].iloc[0]) if name is not None and len(s) else ""
        if name is None:
            head = "no sweep"
        else:
            head = name if not model or model == name else f"{name} ({model})"
        ax.set_title(head, fontsize="small")
        ax.set_xlabel(SWEEP_AXIS[kind] if kind != "none" else "", fontsize="small")
        if places[i][1] == 0 or (isinstance(places[i][1], slice) and places[i][1].start == 0):
            ax.set_ylabel(f"{_MEAN[metric]} / fraction of trials", fontsize="small")
        ax.tick_params(labelsize="small")
    first.set_ylim(lo_y, hi_y)
    handles, labels = first.get_legend_handles_labels()
    _legend_row(fig, gs, handles, labels, ncol=4 if ncols > 1 else 2)
    if title:
        fig.suptitle(title)
    return fig


# ------------------------------------------------- model comparison figure --

_MODEL_STYLE = {"cnn": "-", "snn": "--", "qcnn": "-.", "pcnn": ":"}
_MODEL_KIND = {"cnn": "dense (DNN)", "snn": "spiking (SNN)", "qcnn": "quantized int8", "pcnn": "pruned"}


def faults_per_parameter(summary: pd.DataFrame, sites: pd.DataFrame | None = None) -> np.ndarray:
    """x of each summary row as faults per parameter: the swept rate for rate
    sweeps; for count sweeps N / (parameter elements of the model, from
    /sites: kind 'param') when `sites` is given (NaN otherwise); NaN for
    experiments without a sweep."""
    x = summary["x"].to_numpy(dtype=float).copy()
    sw = summary["sweep"].to_numpy()
    params = {}
    if sites is not None and len(sites):
        p = sites[sites["kind"] == "param"]
        params = p.groupby("model")["numel"].apply(lambda v: float(np.sum(v.astype(float)))).to_dict()
    div = np.array([params.get(m, np.nan) for m in summary["model"]], dtype=float)
    return np.where(sw == "rate", x, np.where(sw == "faults", x / div, np.nan))


def model_comparison_figure(summary: pd.DataFrame, sites: pd.DataFrame | None = None,
                            which=("accuracy", "sdc", "due", "drop_gt"), title=None, interval: str = "wilson"):
    """Accuracy and outcome rates (P[SDC], P[DUE], P[drop > t]) against
    faults per parameter, one panel each (shared x axis, one legend in a row
    below), every experiment (DNN, SNN, quantized, pruned ...) a line with
    its interval as a shaded band: the
    t-interval for the accuracy, Wilson (interval='wilson') or
    Clopper-Pearson ('cp') for proportions. Count sweeps are converted with
    `sites` (faults_per_parameter); experiments without a sweep are left out."""
    xs = faults_per_parameter(summary, sites)
    keep = np.isfinite(xs) & (xs > 0)
    s = summary[keep].assign(_x=xs[keep])
    if s.empty:
        raise ValueError("no swept points to put on a faults-per-parameter axis")
    fig = Figure(figsize=(4.3 * len(which), 4.6), layout="constrained")
    FigureCanvasAgg(fig)
    n_series = s["experiment_name"].nunique()
    gs = fig.add_gridspec(2, len(which), height_ratios=[1.0, 0.06 + 0.05 * -(-n_series // 4)])
    axes = np.array([[fig.add_subplot(gs[0, j]) for j in range(len(which))]])
    for ax in axes[0, 1:]:
        ax.sharex(axes[0, 0])
    t = summary.attrs.get("threshold", 0.4)
    suf = ("_cp_lo", "_cp_hi") if interval in ("cp", "clopper-pearson") else ("_lo", "_hi")
    for j, w in enumerate(which):
        ax = axes[0, j]
        for name in dict.fromkeys(s["experiment_name"]):
            g = s[s["experiment_name"] == name].sort_values("_x")
            model = str(g["model"].iloc[0])
            ls = next((v for k, v in _MODEL_STYLE.items() if model.startswith(k)), "-")
            if w == "accuracy":
                y = g["accuracy_mean"].to_numpy(dtype=float)
                hw = np.nan_to_num(g["accuracy_hw"].to_numpy(dtype=float))
                lo, hi = y - hw, y + hw
            else:
                y = g[f"{w}_p"].to_numpy(dtype=float)
                lo, hi = g[f"{w}{suf[0]}"].to_numpy(dtype=float), g[f"{w}{suf[1]}"].to_numpy(dtype=float)
            (line,) = ax.plot(g["_x"], y, marker="o", linestyle=ls, label=f"{name} ({_MODEL_KIND.get(model, model)})")
            ax.fill_between(g["_x"].to_numpy(dtype=float), lo, hi, color=line.get_color(), alpha=0.15)
        ax.set_xscale("log")
        ax.set_xlabel("faults per parameter")
        if w == "accuracy":
            ax.set_ylabel(f"accuracy (mean, {_ci(summary)} t-CI)")
        else:
            ax.set_ylabel(f"{_PROPS[w].format(t=t)} ({_ci(summary)} {'CP' if suf[0] == '_cp_lo' else 'Wilson'})")
            ax.set_ylim(-0.03, 1.03)
        ax.grid(True, alpha=0.3)
    _legend_row(fig, gs, *axes[0, 0].get_legend_handles_labels())
    if title:
        fig.suptitle(title)
    return fig


# ------------------------------------------------------------ heat maps --

_VALUE_LABEL = {"sdc_p": "P[SDC]", "critical_sdc_p": "P[critical SDC]", "due_p": "P[DUE]",
                "drop_gt_p": "P[drop > t]", "drop_mean": "mean accuracy drop", "n": "trials"}


def plot_heatmap(ax, strata: pd.DataFrame, row: str = "layer", col: str = "bit", value: str = "sdc_p",
                 annotate: bool = True, vmin=0.0, vmax=1.0):
    """A heat map of one stratified estimate (strata.stratify with by=[row,
    col], one experiment or per=None): rows x columns, empty cells blank;
    annotate writes the trial count of each cell."""
    piv = strata.pivot_table(index=row, columns=col, values=value, aggfunc="mean")
    cnt = strata.pivot_table(index=row, columns=col, values="n", aggfunc="sum")
    if col == "bit":
        piv = piv[sorted(piv.columns, reverse=True)]
        cnt = cnt[piv.columns]
    im = ax.imshow(piv.to_numpy(dtype=float), aspect="auto", cmap="viridis", vmin=vmin, vmax=vmax,
                   interpolation="nearest")
    ax.set_yticks(range(len(piv.index)), [str(v) for v in piv.index])
    ax.set_xticks(range(len(piv.columns)), [str(v) for v in piv.columns], rotation=90 if len(piv.columns) > 12 else 0,
                  fontsize="small")
    ax.set_xlabel(col)
    ax.set_ylabel(row)
    if annotate and cnt.size <= 400:
        c = cnt.to_numpy(dtype=float)
        for i in range(c.shape[0]):
            for j in range(c.shape[1]):
                if np.isfinite(c[i, j]):
                    ax.text(j, i, f"{int(c[i, j])}", ha="center", va="center", fontsize=6, color="w")
    ax.figure.colorbar(im, ax=ax, label=_VALUE_LABEL.get(value, value))
    return ax


def vulnerability_figure(strata: pd.DataFrame, value: str = "sdc_p", title=None):
    """Per-layer x per-bit heat maps of `value`, one panel per experiment
    (strata.stratify(res, by=['layer', 'bit']))."""
    if strata.empty:
        raise ValueError("no single-fault strata to draw (see strata.trial_strata for the rule)")
    names = list(dict.fromkeys(strata["experiment_name"])) if "experiment_name" in strata else [None]
    fig, axes = new_figure(len(names), 1, size=(9.0, 2.2 + 0.35 * strata["layer"].nunique() * 1.0 + 0.0)
                           if len(names) == 1 else (9.0, 3.0 * len(names)))
    for i, name in enumerate(names):
        sub = strata if name is None else strata[strata["experiment_name"] == name]
        plot_heatmap(axes[i, 0], sub, "layer", "bit", value)
        if name is not None:
            axes[i, 0].set_title(f"{name}: {_VALUE_LABEL.get(value, value)} per layer and bit (single-fault trials)",
                                 fontsize="small")
    if title:
        fig.suptitle(title)
    return fig


def plot_strata_bars(ax, strata: pd.DataFrame, key: str, value: str = "sdc", interval: str = "wilson"):
    """One stratified proportion (sdc, due, drop_gt ...) per stratum with its
    interval, grouped by experiment: bars with error bars."""
    suf = ("_cp_lo", "_cp_hi") if interval in ("cp", "clopper-pearson") else ("_lo", "_hi")
    names = list(dict.fromkeys(strata["experiment_name"])) if "experiment_name" in strata else [None]
    cats = sorted(strata[key].unique(), key=lambda v: (str(type(v)), v))
    w = 0.8 / max(len(names), 1)
    for i, name in enumerate(names):
        g = strata if name is None else strata[strata["experiment_name"] == name]
        g = g.set_index(key).reindex(cats)
        p = g[f"{value}_p"].to_numpy(dtype=float)
        lo = np.nan_to_num(p - g[f"{value}{suf[0]}"].to_numpy(dtype=float))
        hi = np.nan_to_num(g[f"{value}{suf[1]}"].to_numpy(dtype=float) - p)
        ax.bar(np.arange(len(cats)) + (i - (len(names) - 1) / 2) * w, np.nan_to_num(p), width=w,
               yerr=[np.maximum(lo, 0), np.maximum(hi, 0)], capsize=2, label=name)
    ax.set_xticks(range(len(cats)), [str(c) for c in cats], rotation=90 if len(cats) > 12 else 0, fontsize="small")
    ax.set_xlabel(key)
    ax.set_ylabel(_PROPS.get(value, value).format(t=strata.attrs.get("threshold", 0.4)))
    ax.set_ylim(0, 1.03)
    ax.grid(True, axis="y", alpha=0.3)
    if names != [None]:
        ax.legend(fontsize="x-small")
    return ax


def plot_time_steps(ax, strata: pd.DataFrame, which=("sdc", "drop_gt"), interval: str = "wilson"):
    """SNN vulnerability per time step: proportions against the time step a
    fault starts in (t_first; strata.stratify(res, by='time_step')), one line
    per experiment and outcome with its interval band. Rows with time_step
    -1 (no window) are dropped."""
    suf = ("_cp_lo", "_cp_hi") if interval in ("cp", "clopper-pearson") else ("_lo", "_hi")
    s = strata[strata["time_step"] >= 0]
    if s.empty:
        raise ValueError("no faults with a time step (SNN activation/input/state sites)")
    names = list(dict.fromkeys(s["experiment_name"])) if "experiment_name" in s else [None]
    t = strata.attrs.get("threshold", 0.4)
    for name in names:
        g = (s if name is None else s[s["experiment_name"] == name]).sort_values("time_step")
        for j, w in enumerate(which):
            (line,) = ax.plot(g["time_step"], g[f"{w}_p"], marker="os^dv"[j % 5],
                              label=f"{name + ': ' if name else ''}{_PROPS[w].format(t=t)}")
            ax.fill_between(g["time_step"].to_numpy(dtype=float), g[f"{w}{suf[0]}"].to_numpy(dtype=float),
                            g[f"{w}{suf[1]}"].to_numpy(dtype=float), color=line.get_color(), alpha=0.15)
    ax.set_xlabel("time step of the fault (t_first)")
    ax.set_ylabel("fraction of single-fault trials")
    ax.set_ylim(-0.03, 1.03)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="x-small")
    return ax


# -------------------------------------------------------------- overhead --


def read_overhead(path: str | os.PathLike) -> pd.DataFrame:
    """A benchmark table of injection overhead: CSV or whitespace separated,
    '#' comments, a header naming at least a fault-count column (faults, n,
    n_faults) and an overhead column (overhead, ratio, overhead_ratio);
    optional series column (series, target, mode, device, label). Without a
    header: faults, overhead[, series]. Returns columns faults, overhead,
    series."""
    text = [ln for ln in open(path, encoding="utf-8").read().splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not text:
        raise ValueError(f"{path}: empty overhead table")
    sep = "," if "," in text[0] else r"\s+"
    import io

    first = [c.strip().lower() for c in (text[0].split(",") if sep == "," else text[0].split())]
    try:
        [float(c) for c in first[:2]]
        header = None
    except ValueError:
        header = 0
    df = pd.read_csv(io.StringIO("\n".join(text)), sep=sep, header=header, engine="python")
    if header is None:
        df.columns = ["faults", "overhead", "series"][: df.shape[1]] + [f"c{i}" for i in range(3, df.shape[1])]
    else:
        df.columns = [str(c).strip().lower() for c in df.columns]
        ren = {}
        for c in df.columns:
            if c in ("n", "n_faults", "faults_per_trial", "count"):
                ren[c] = "faults"
            elif c in ("ratio", "overhead_ratio", "slowdown"):
                ren[c] = "overhead"
            elif c in ("target", "mode", "device", "label", "name", "kind") and "series" not in df.columns \
                    and "series" not in ren.values():
                ren[c] = "series"
        df = df.rename(columns=ren)
    if "faults" not in df or "overhead" not in df:
        raise ValueError(f"{path}: needs columns faults and overhead (got {list(df.columns)})")
    if "series" not in df:
        df["series"] = "overhead"
    return df[["faults", "overhead", "series"]].astype({"faults": float, "overhead": float, "series": str})


def plot_overhead(ax, table: pd.DataFrame):
    """Overhead ratio (faulty / fault-free time) against faults per trial,
    one line per series, log-x, with the break-even line at 1."""
    for name, g in table.groupby("series", sort=False):
        g = g.sort_values("faults")
        ax.plot(g["faults"], g["overhead"], marker="o", label=str(name))
    x = table["faults"].to_numpy(dtype=float)
    if x.size and (x > 0).all():
        ax.set_xscale("log")
    ax.axhline(1.0, color="k", lw=0.8, ls=":")
    ax.set_xlabel("faults per trial")
    ax.set_ylabel("overhead ratio (time with faults / without)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    return ax


# -------------------------------------------------------------- all of it --


def all_figures(res, outdir: str | os.PathLike, threshold: float = 0.4, relative: bool = False,
                confidence: float = 0.95, overhead: str | os.PathLike | None = None, dpi: int = 120,
                multi: str = "exclude") -> list[str]:
    """Write every figure that applies to a Results into outdir (created):
    summary.png (always), models.png (faults per parameter, when some point
    is swept), layer_bit.png, layers.png, bits.png (when single-fault trials
    exist; see strata.trial_strata), time_steps.png (faults with a time
    step), overhead.png (when `overhead`, a benchmark table, is given).
    Returns the paths written."""
    os.makedirs(outdir, exist_ok=True)
    out = []

    def put(fig, name):
        out.append(save(fig, os.path.join(os.fspath(outdir), name), dpi=dpi))

    s = summarize(res, threshold=threshold, confidence=confidence, relative=relative)
    title = str(res.provenance.get("campaign", ""))
    put(summary_figure(s, title=title), "summary.png")
    sites = res.sites()
    xs = faults_per_parameter(s, sites)
    if (np.isfinite(xs) & (xs > 0)).any():
        put(model_comparison_figure(s, sites, title=title), "models.png")
    st = trial_strata(res, multi=multi)
    kw = dict(threshold=threshold, confidence=confidence, relative=relative)
    if len(st):
        lb = stratify(st, by=["layer", "bit"], **kw)
        if (st["bit"] >= 0).any():
            put(vulnerability_figure(lb[lb["bit"] >= 0], title=title), "layer_bit.png")
        for key, name in (("layer", "layers.png"), ("bit", "bits.png")):
            sk = stratify(st, by=key, **kw)
            if key == "bit":
                sk = sk[sk["bit"] >= 0]
            if sk.empty:
                continue
            fig, ax = new_figure(1, 1, size=(max(6.0, 0.3 * sk[key].nunique() * max(1, sk["experiment_name"].nunique())), 3.8))
            plot_strata_bars(ax[0, 0], sk, key, "sdc")
            ax[0, 0].set_title(f"{title}: P[SDC] per {key} (single-fault trials)", fontsize="small")
            put(fig, name)
        ts = stratify(st, by="time_step", **kw)
        if (ts["time_step"] >= 0).any():
            fig, ax = new_figure(1, 1, size=(6.5, 3.8))
            plot_time_steps(ax[0, 0], ts)
            put(fig, "time_steps.png")
    if overhead is not None:
        fig, ax = new_figure(1, 1, size=(6.0, 3.8))
        plot_overhead(ax[0, 0], read_overhead(overhead))
        put(fig, "overhead.png")
    return out
