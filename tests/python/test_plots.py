"""test_plots.py - the figures render, with one error bar per estimate."""
import numpy as np
import pandas as pd
import pytest

import nnfi_analysis as na
from nnfi_analysis import plots


@pytest.fixture(scope="module")
def summary(res):
    return na.summarize(res, threshold=0.4)


def panels(fig):
    """The data panels of a figure (not the legend row)."""
    return [a for a in fig.axes if a.get_label() != "legend"]


def test_summary_figure(summary, tmp_path):
    fig = plots.summary_figure(summary, title="small")
    axes = panels(fig)
    # small multiples: one panel per swept experiment (weights, rate), one for the unswept ones
    assert [a.get_label() for a in axes] == ["weights", "rate", "unswept"]
    w = axes[0]
    assert w.get_xscale() == "log" and w.get_xlabel() == plots.SWEEP_AXIS["faults"]
    # each panel: the mean (black) and one errorbar series per outcome; no legend over the data
    assert len(w.containers) == 4 and all(a.get_legend() is None for a in axes)
    xs = w.containers[0].lines[0].get_xdata()
    np.testing.assert_array_equal(xs, [1, 10, 100])
    ys = w.containers[0].lines[0].get_ydata()
    np.testing.assert_allclose(ys, summary.loc[summary["experiment_name"] == "weights", "drop_mean"])
    sdc = w.containers[1].lines[0].get_ydata()
    np.testing.assert_allclose(sdc, summary.loc[summary["experiment_name"] == "weights", "sdc_p"])
    # one shared y axis; the one legend (4 entries) sits in its own row
    assert len({a.get_ylim() for a in axes}) == 1
    legend = [a for a in fig.axes if a.get_label() == "legend"][0].get_legend()
    assert [t.get_text().split(" (")[0] for t in legend.get_texts()] == [
        "mean accuracy drop", "P[SDC]", "P[DUE]", "P[drop > 0.4]"]
    out = plots.save(fig, tmp_path / "summary.png")
    assert open(out, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    pdf = plots.save(fig, tmp_path / "summary.pdf")
    assert open(pdf, "rb").read(4) == b"%PDF"


def test_summary_figure_many_experiments(summary, tmp_path):
    """18 experiments stay 18 small panels of 4 series each, not 54 series under one legend."""
    parts = []
    for i in range(6):
        s = summary.copy()
        s["experiment_name"] = s["experiment_name"].astype(str) + f"-{i}"
        s["experiment"] = s["experiment"] + 10 * i
        parts.append(s)
    many = pd.concat(parts, ignore_index=True)
    many.attrs.update(summary.attrs)
    fig = plots.summary_figure(many, ncols=4)
    axes = panels(fig)
    assert len(axes) == 6 * 2 + 1  # 12 swept experiments + the unswept panel
    assert all(len(a.containers) == 4 and a.get_legend() is None for a in axes)
    assert len({a.get_ylim() for a in axes}) == 1
    faults = [a for a in axes if a.get_xlabel() == plots.SWEEP_AXIS["faults"]]
    assert len(faults) == 6 and len({a.get_xlim() for a in faults}) == 1  # shared x per sweep kind
    unswept = axes[-1]
    assert len(unswept.get_xticklabels()) == 6
    plots.save(fig, tmp_path / "many.png")


def test_only_one_sweep_kind(res, tmp_path):
    s = na.summarize(res)
    sub = s[s["sweep"] == "faults"].copy()
    sub.attrs.update(s.attrs)
    fig = plots.summary_figure(sub, metric="accuracy")
    assert len(panels(fig)) == 1
    assert "accuracy" in panels(fig)[0].get_ylabel()
    np.testing.assert_allclose(panels(fig)[0].containers[0].lines[0].get_ydata(), sub["accuracy_mean"])
    plots.save(fig, tmp_path / "acc.png")


def test_exceedance_and_custom_axes(res, summary, tmp_path):
    fig, ax = plots.new_figure(1, 2)
    plots.plot_exceedance(ax[0, 0], na.exceedance(res))
    assert len(ax[0, 0].lines) == len(summary)
    # proportions against a caller's x (e.g. faults per parameter)
    w = summary[summary["sweep"] == "faults"]
    plots.plot_proportions(ax[0, 1], summary, "faults", which=("drop_gt",), x=w["x"] / 1000.0)
    np.testing.assert_allclose(ax[0, 1].containers[0].lines[0].get_xdata(), [0.001, 0.01, 0.1])
    plots.save(fig, tmp_path / "exc.png")


def test_errors(res):
    with pytest.raises(ValueError, match="per-point"):
        plots.summary_figure(na.summarize(res, by="experiment"))
    s = na.summarize(res)
    with pytest.raises(ValueError, match="no points"):
        plots.summary_figure(s[s["trials"] < 0])
