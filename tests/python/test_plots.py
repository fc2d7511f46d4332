"""test_plots.py - the figures render, with one error bar per estimate."""
import numpy as np
import pytest

import nnfi_analysis as na
from nnfi_analysis import plots


@pytest.fixture(scope="module")
def summary(res):
    return na.summarize(res, threshold=0.4)


def test_summary_figure(summary, tmp_path):
    fig = plots.summary_figure(summary, title="small")
    axes = fig.axes
    assert len(axes) == 6  # 2 rows x (faults, rate, none)
    assert axes[0].get_xscale() == "log" and axes[0].get_xlabel() == plots.SWEEP_AXIS["faults"]
    # top row: one errorbar line per experiment; bottom row: one per outcome
    assert len(axes[0].containers) == 1 and len(axes[3].containers) == 3
    xs = axes[0].containers[0].lines[0].get_xdata()
    np.testing.assert_array_equal(xs, [1, 10, 100])
    ys = axes[0].containers[0].lines[0].get_ydata()
    np.testing.assert_allclose(ys, summary.loc[summary["experiment_name"] == "weights", "drop_mean"])
    out = plots.save(fig, tmp_path / "summary.png")
    assert open(out, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    pdf = plots.save(fig, tmp_path / "summary.pdf")
    assert open(pdf, "rb").read(4) == b"%PDF"


def test_only_one_sweep_kind(res, tmp_path):
    s = na.summarize(res)
    sub = s[s["sweep"] == "faults"].copy()
    sub.attrs.update(s.attrs)
    fig = plots.summary_figure(sub, metric="accuracy")
    assert len(fig.axes) == 2
    assert "accuracy (mean" in fig.axes[0].get_ylabel()
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
