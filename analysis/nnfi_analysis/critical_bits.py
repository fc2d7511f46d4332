"""critical_bits.py - the result file of `nnfi search` (critical-bit search):
its labels, its strata and summaries, and a figure of the fraction of
critical bits per layer and bit position.

    from nnfi_analysis import critical_bits as cb
    cb.labels("search.h5")        # one row per (experiment, site, element, bit, method)
    cb.summary("search.h5")       # one row per experiment: evaluations, recall, precision, ...
    cb.per_layer_bit("search.h5") # experiment, site, bit, elements, critical, fraction, lo, hi
    fig = cb.figure("search.h5")  # heatmap site x bit of the fraction, one panel per experiment
    cb.plots.save(fig, "critical_bits.png")

per_layer_bit reads /critical_strata: the stratified estimator's sampled
estimates (column sampled = yes, unbiased, Wilson intervals) when the search
had `strata_width`, else tallies of the search's labels of the drawn
elements. The method column of /critical_bits is categorical (search,
exhaustive) from its flag_meanings, like every categorical column.
"""
from __future__ import annotations

import os

import h5py
import numpy as np
import pandas as pd

from . import plots

__all__ = ["labels", "summary", "per_layer_bit", "figure"]


def _text(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _check(f: h5py.File, path) -> None:
    if _text(f.attrs.get("kind", "")) != "critical_bits":
        raise ValueError(f"{path}: not a file of 'nnfi search' (no kind = critical_bits attribute)")


def _site_names(f: h5py.File) -> dict[int, list[str]]:
    out = {}
    for name, g in f["search"].items():
        out[int(g.attrs["index"])] = [_text(s) for s in g["site_names"][:]]
    return out


def _experiment_names(f: h5py.File) -> dict[int, str]:
    return {int(g.attrs["index"]): name for name, g in f["search"].items()}


def labels(path: str | os.PathLike) -> pd.DataFrame:
    """Every label: experiment, site (name), element, bit, critical (bool),
    method (categorical), evaluations."""
    with h5py.File(path, "r") as f:
        _check(f, path)
        g = f["critical_bits"]
        cols = {k: g[k][:] for k in g}
        meanings = _text(g["method"].attrs["flag_meanings"]).split()
        sites, exps = _site_names(f), _experiment_names(f)
    df = pd.DataFrame({
        "experiment": [exps[int(x)] for x in cols["experiment"]],
        "site": [sites[int(x)][int(s)] for x, s in zip(cols["experiment"], cols["site"])],
        "element": cols["element"].astype(np.int64),
        "bit": cols["bit"].astype(int),
        "critical": cols["critical"].astype(bool),
        "method": pd.Categorical.from_codes(cols["method"].astype(int), meanings),
        "evaluations": cols["evaluations"].astype(int),
    })
    return df


def summary(path: str | os.PathLike) -> pd.DataFrame:
    """Per experiment: the /search/<name> attributes, and the ratio of the
    exhaustive cost of the drawn elements to the search's evaluations."""
    rows = []
    with h5py.File(path, "r") as f:
        _check(f, path)
        for name, g in f["search"].items():
            r = {"experiment": name}
            r.update({k: (_text(v) if isinstance(v, (bytes, str)) else v.item() if hasattr(v, "item") else v)
                      for k, v in g.attrs.items()})
            rows.append(r)
    df = pd.DataFrame(rows).sort_values("index").reset_index(drop=True)
    df["fewer_evaluations"] = df["bits"] / df["evaluations_search"].where(df["evaluations_search"] > 0)
    return df


def per_layer_bit(path: str | os.PathLike) -> pd.DataFrame:
    """/critical_strata with experiment and site names."""
    with h5py.File(path, "r") as f:
        _check(f, path)
        g = f["critical_strata"]
        cols = {k: g[k][:] for k in g}
        sites, exps = _site_names(f), _experiment_names(f)
    df = pd.DataFrame({
        "experiment": [exps[int(x)] for x in cols["experiment"]],
        "site": [sites[int(x)][int(s)] for x, s in zip(cols["experiment"], cols["site"])],
        "bit": cols["bit"].astype(int),
        "elements": cols["elements"].astype(np.int64),
        "critical": cols["critical"].astype(np.int64),
        "fraction": cols["fraction"],
        "lo": cols["lo"],
        "hi": cols["hi"],
        "sampled": cols["sampled"].astype(bool),
    })
    return df


def figure(path: str | os.PathLike, title: str | None = None):
    """Heatmap of the fraction of critical bits, site (layer) x bit position,
    one panel per experiment; cells without a stratum stay blank."""
    strata = per_layer_bit(path)
    exps = list(dict.fromkeys(strata["experiment"]))
    tallest = max(len(set(strata.loc[strata.experiment == e, "site"])) for e in exps)
    fig, axes = plots.new_figure(len(exps), 1, size=(9, (1.4 + 0.3 * tallest) * len(exps)))
    axes = list(axes[:, 0])
    im = None
    for ax, e in zip(axes, exps):
        s = strata[strata.experiment == e]
        rows = list(dict.fromkeys(s["site"]))
        bits = int(s["bit"].max()) + 1
        grid = np.full((len(rows), bits), np.nan)
        for site, b, v in zip(s["site"], s["bit"], s["fraction"]):
            grid[rows.index(site), b] = v
        im = ax.imshow(grid, aspect="auto", vmin=0, vmax=1, cmap="viridis", interpolation="nearest")
        ax.set_yticks(range(len(rows)), rows, fontsize=7)
        ax.set_xticks(range(0, bits, 4 if bits > 16 else 1))
        ax.set_xlabel("bit position (0 = least significant)")
        how = "sampled (Wilson)" if s["sampled"].all() else "search labels"
        ax.set_title(f"{e}: fraction of elements whose bit is critical ({how})", fontsize=9)
    if im is not None:
        fig.colorbar(im, ax=axes, shrink=0.8, label="critical fraction")
    if title:
        fig.suptitle(title)
    return fig
