"""test_analysis_ext.py - Clopper-Pearson, several files, the fault strata
(trials joined to /faults) on the single-fault fixture, the new figures and
`plot -o DIR`, and the loader against `nnfi schema`."""
import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from scipy.stats import beta

import nnfi_analysis as na
from conftest import BUILD_HINT, NNFI_BIN
from nnfi_analysis import plots, stats, strata

ROOT = Path(__file__).resolve().parents[2]
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="session")
def analysis_path(tmp_path_factory):
    """The second fixture: campaigns/fixture-analysis.yaml (single-fault trials)."""
    p = os.environ.get("NNFI_FIXTURE_ANALYSIS")
    if p:
        assert Path(p).exists(), f"NNFI_FIXTURE_ANALYSIS={p} does not exist (python_fixture_analysis writes it)"
        return Path(p)
    if NNFI_BIN is None:
        pytest.skip(f"the nnfi binary not found (to write the single-fault fixture; or set NNFI_FIXTURE_ANALYSIS): "
                    f"{BUILD_HINT}")
    out = tmp_path_factory.mktemp("fa") / "fixture-analysis.h5"
    subprocess.run([str(NNFI_BIN), "run", "campaigns/fixture-analysis.yaml", "-o", str(out), "--force", "--progress", "off"],
                   cwd=ROOT, check=True)
    return out


@pytest.fixture(scope="session")
def ares(analysis_path):
    return na.load(analysis_path)


def _png(path):
    data = Path(path).read_bytes()
    assert data[:8] == PNG and len(data) > 5000, path


# ------------------------------------------------------------ intervals --

@pytest.mark.parametrize("k,n,lo,hi", [(0, 10, 0.0, 0.3085), (5, 10, 0.1871, 0.8129), (10, 10, 0.6915, 1.0),
                                       (1, 10, 0.0025, 0.4450), (3, 60, 0.0104, 0.1392)])
def test_clopper_pearson_known(k, n, lo, hi):
    l, h = na.clopper_pearson_interval(k, n)
    assert l == pytest.approx(lo, abs=1e-4) and h == pytest.approx(hi, abs=1e-4)


def test_clopper_pearson_grid():
    k = np.arange(0, 41)
    lo, hi = na.clopper_pearson_interval(k, 40, 0.9)
    assert na.clopper_pearson_interval(0, 0) == (0.0, 1.0)
    for kk, l, h in zip(k, lo, hi):
        el = 0.0 if kk == 0 else beta.ppf(0.05, kk, 40 - kk + 1)
        eh = 1.0 if kk == 40 else beta.ppf(0.95, kk + 1, 40 - kk)
        assert l == pytest.approx(el, abs=1e-12) and h == pytest.approx(eh, abs=1e-12)
    # Clopper-Pearson contains Wilson's interval on this grid (it is conservative)
    wl, wh = na.wilson_interval(k, 40, 0.9)
    assert (lo <= wl + 1e-12).all() and (hi >= wh - 1e-12).all()
    assert na.proportion_interval(5, 10, method="cp") == na.clopper_pearson_interval(5, 10)
    assert na.proportion_interval(5, 10) == na.wilson_interval(5, 10)
    with pytest.raises(ValueError):
        na.proportion_interval(1, 2, method="bogus")


def test_leveugle_still():
    assert na.leveugle_sample_size(0.01, 0.95, 0.5) == 9604


def test_summary_has_cp(res):
    s = na.summarize(res)
    for name in ("sdc", "due", "drop_gt"):
        lo, hi = na.clopper_pearson_interval(s[f"{name}_k"], s["trials_done"])
        np.testing.assert_allclose(s[f"{name}_cp_lo"], lo)
        np.testing.assert_allclose(s[f"{name}_cp_hi"], hi)


# ------------------------------------------------------- loader / schema --

def test_schema_from_nnfi(nnfi_bin, fixture_path, analysis_path, tmp_path):
    out = tmp_path / "schema.json"
    subprocess.run([str(nnfi_bin), "schema", str(out)], check=True)
    schema = na.read_schema(out)
    assert na.check_schema(fixture_path, schema) == []
    assert na.check_schema(analysis_path, schema) == []
    res = na.load(analysis_path)
    cols = [c["name"] for c in schema["columns"]]
    assert set(cols) <= set(res.trials.columns)
    for c in schema["columns"]:
        assert str(res.trials[c["name"]].dtype) == c["dtype"], c["name"]


def test_categorical_decoding(analysis_path):
    res = na.load(analysis_path)
    f = na.faults(analysis_path)
    with h5py.File(analysis_path, "r", locking=False) as h:
        st = h["trials/status"]
        meanings = st.attrs["flag_meanings"]
        meanings = (meanings.decode() if isinstance(meanings, bytes) else str(meanings)).split()
        values = list(np.atleast_1d(st.attrs["flag_values"]))
        assert list(res.trials["status_label"].cat.categories) == meanings
        code = dict(zip(values, meanings))
        assert [code[v] for v in res.trials["status"]] == list(res.trials["status_label"].astype(str))
        for col in ("op", "transient", "scope"):
            ds = h[f"faults/{col}"]
            m = ds.attrs["flag_meanings"]
            m = (m.decode() if isinstance(m, bytes) else str(m)).split()
            lut = dict(zip(np.atleast_1d(ds.attrs["flag_values"]).tolist(), m))
            assert [lut[int(v)] for v in f[col]] == list(f[f"{col}_label"].astype(str))
    assert set(f["op_label"].astype(str)) >= {"flip", "stuck1"}


def test_load_many(fixture_path, analysis_path):
    t = na.load_many([fixture_path, analysis_path])
    a, b = na.load(fixture_path).trials, na.load(analysis_path).trials
    assert len(t) == len(a) + len(b)
    assert list(t.index.names) == ["file", a.index.name]
    assert set(t["campaign"]) == {"small", "fixture-analysis"}
    s = na.summarize_many([fixture_path, analysis_path])
    assert len(s) == len(na.load(fixture_path).points) + len(na.load(analysis_path).points)
    assert s["file"].nunique() == 2


# ---------------------------------------------------------------- strata --

def test_layer_of():
    assert na.layer_of("fc1.weight") == "fc1"
    assert na.layer_of("conv1.conv2d#0") == "conv1"
    assert na.layer_of("loop0.mem1") == "loop0"
    assert na.layer_of("fc2.weight.scale") == "fc2"
    assert na.layer_of("input") == "input"


def test_fault_table(ares, analysis_path):
    f = na.fault_table(ares)
    with h5py.File(analysis_path, "r", locking=False) as h:
        assert len(f) == h["faults/trial"].shape[0]
        mask = h["faults/mask"][()]
    # single-bit masks give their bit; the bit of a flip is what the mask says
    one = f["n_bits"] == 1
    assert one.any()
    assert (np.left_shift(np.uint64(1), f.loc[one, "bit"].to_numpy().astype(np.uint64))
            == f.loc[one, "mask"].to_numpy().astype(np.uint64)).all()
    assert (f.loc[~one, "bit"] == -1).all()
    assert sorted(np.unique(mask)) == sorted(np.unique(f["mask"]))
    assert set(f["kind"]) <= {"param", "activation", "input", "state"}


def test_trial_strata_rule(ares):
    tr = ares.trials
    f = na.fault_table(ares)
    st = na.trial_strata(ares)
    # exclude: exactly the done trials with one stored fault, each once
    per = f.groupby("trial").size()
    want = sorted(int(t) for t in tr.index if tr.loc[t, "n_faults"] == 1 and per.get(t, 0) == 1)
    assert sorted(int(t) for t in st.index) == want
    assert st.index.is_unique
    # and each takes its fault's site/bit/op
    f1 = f.set_index("trial")
    for t in want[:50]:
        assert st.loc[t, "site_name"] == f1.loc[t, "site_name"]
        assert st.loc[t, "bit"] == f1.loc[t, "bit"]
        assert st.loc[t, "op_label"] == str(f1.loc[t, "op_label"])
    # the single-fault experiments are entirely in the strata
    for name in ("weights-1", "activations-1", "stuck1-1"):
        assert (st["experiment_name"] == name).sum() == (tr["experiment_name"] == name).sum()
    # multi-fault rules
    first = na.trial_strata(ares, multi="first")
    each = na.trial_strata(ares, multi="each")
    assert first.index.is_unique and len(first) >= len(st)
    assert len(each) >= len(first)
    multi_trials = set(int(t) for t in tr.index if tr.loc[t, "n_faults"] > 1 and per.get(t, 0) == tr.loc[t, "n_faults"])
    assert multi_trials and multi_trials <= set(int(t) for t in first.index)
    with pytest.raises(ValueError):
        na.trial_strata(ares, multi="bogus")


def test_stratify_counts(ares):
    st = na.trial_strata(ares)
    s = na.stratify(st, by="layer")
    direct = st.groupby(["experiment", "layer"]).agg(n=("sdc", "size"), k=("sdc", lambda v: int((v > 0).sum())))
    for _, r in s.iterrows():
        d = direct.loc[(r["experiment"], r["layer"])]
        assert r["n"] == d["n"] and r["sdc_k"] == d["k"]
        lo, hi = na.wilson_interval(r["sdc_k"], r["n"])
        clo, chi = na.clopper_pearson_interval(r["sdc_k"], r["n"])
        assert (r["sdc_lo"], r["sdc_hi"], r["sdc_cp_lo"], r["sdc_cp_hi"]) == pytest.approx((lo, hi, clo, chi))
    assert s.groupby("experiment")["n"].sum().sum() == len(st)
    lb = na.stratify(ares, by=["layer", "bit"])
    assert lb["n"].sum() == len(st)
    assert set(na.stratify(ares, by="op")["op_label"]) >= {"flip", "stuck1"}
    pooled = na.stratify(ares, by="site", per=None)
    assert pooled["n"].sum() == len(st) and "experiment" not in pooled
    with pytest.raises(ValueError):
        na.stratify(ares, by="colour")


def test_stratify_small_fixture(res):
    # the first fixture: 'weights' N=1 trials are single-fault strata, the
    # activation experiment has 4 faults per trial and is excluded
    st = na.trial_strata(res)
    assert set(st["experiment_name"]) == {"weights"} or "activations" not in set(st["experiment_name"])
    assert (st["n_faults"] == 1).all()


# ---------------------------------------------------------------- plots --

def test_model_comparison_png(ares, tmp_path):
    s = na.summarize(ares)
    fig = plots.model_comparison_figure(s, ares.sites())
    data = [a for a in fig.axes if a.get_label() != "legend"]
    assert len(data) == 4 and data[0].get_xscale() == "log"
    assert all(a.get_legend() is None for a in data)  # the legend has its own row
    plots.save(fig, tmp_path / "m.png")
    _png(tmp_path / "m.png")
    fig = plots.model_comparison_figure(s, ares.sites(), interval="cp", which=("drop_gt",))
    plots.save(fig, tmp_path / "m2.png")
    _png(tmp_path / "m2.png")
    x = plots.faults_per_parameter(s, ares.sites())
    assert np.isnan(x[s["sweep"].to_numpy() == "none"]).all()


def test_heatmaps_and_bars_png(ares, tmp_path):
    lb = na.stratify(ares, by=["layer", "bit"])
    fig = plots.vulnerability_figure(lb[lb["bit"] >= 0])
    plots.save(fig, tmp_path / "h.png")
    _png(tmp_path / "h.png")
    fig, ax = plots.new_figure(1, 2)
    plots.plot_strata_bars(ax[0, 0], na.stratify(ares, by="bit"), "bit", "sdc")
    plots.plot_strata_bars(ax[0, 1], na.stratify(ares, by="layer"), "layer", "drop_gt", interval="cp")
    plots.save(fig, tmp_path / "b.png")
    _png(tmp_path / "b.png")


def test_time_steps_png(tmp_path):
    # the null model has no time steps: a hand-made stratum table as
    # stratify(res, by='time_step') returns it for an SNN
    rows = []
    for t in range(-1, 8):
        n, k = 40, max(0, 20 - 3 * t)
        r = {"experiment": 0, "experiment_name": "snn-state", "model": "snn", "time_step": t, "n": n}
        for w in ("sdc", "drop_gt"):
            lo, hi = na.wilson_interval(k, n)
            clo, chi = na.clopper_pearson_interval(k, n)
            r.update({f"{w}_k": k, f"{w}_p": k / n, f"{w}_lo": lo, f"{w}_hi": hi, f"{w}_cp_lo": clo, f"{w}_cp_hi": chi})
        rows.append(r)
    fig, ax = plots.new_figure()
    plots.plot_time_steps(ax[0, 0], pd.DataFrame(rows))
    assert ax[0, 0].get_xlim()[0] > -1
    plots.save(fig, tmp_path / "t.png")
    _png(tmp_path / "t.png")
    with pytest.raises(ValueError):
        plots.plot_time_steps(ax[0, 0], pd.DataFrame(rows[:1]))


@pytest.mark.parametrize("text", [
    "faults,overhead\n1,1.01\n100,1.2\n10000,2.5\n",
    "# bench\nfaults overhead series\n1 1.02 weights\n100 1.05 weights\n1 1.1 act\n100 1.3 act\n",
    "1 1.0\n10 1.1\n100 1.7\n",
    "n_faults,ratio,target\n1,1.0,w\n10,1.2,w\n",
])
def test_overhead(text, tmp_path):
    p = tmp_path / "bench.txt"
    p.write_text(text)
    t = plots.read_overhead(p)
    assert list(t.columns) == ["faults", "overhead", "series"] and len(t) >= 2
    fig, ax = plots.new_figure()
    plots.plot_overhead(ax[0, 0], t)
    plots.save(fig, tmp_path / "o.png")
    _png(tmp_path / "o.png")


def test_all_figures(ares, res, tmp_path):
    bench = tmp_path / "bench.csv"
    bench.write_text("faults,overhead\n1,1.01\n100,1.2\n")
    out = plots.all_figures(ares, tmp_path / "a", overhead=bench)
    names = {Path(p).name for p in out}
    assert {"summary.png", "models.png", "layer_bit.png", "layers.png", "bits.png", "overhead.png"} <= names
    for p in out:
        _png(p)
    out = plots.all_figures(res, tmp_path / "b")
    assert "summary.png" in {Path(p).name for p in out}


def test_cli_plot_dir(analysis_path, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT / "analysis"), PYTHONDONTWRITEBYTECODE="1")
    d = tmp_path / "figs"
    r = subprocess.run([sys.executable, "-m", "nnfi_analysis", "plot", str(analysis_path), "-o", str(d),
                        "--multi", "first"], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    files = sorted(p.name for p in d.iterdir())
    assert "summary.png" in files and "layer_bit.png" in files and "models.png" in files
    assert r.stderr.count("wrote ") == len(files)
