"""test_stats.py - nnfi_analysis.stats: the formulas on known values, against
the C functions (c_reference), against a direct numpy computation on the
fixture, and against `nnfi inspect --format json`."""
import math
import subprocess

import numpy as np
import pytest
from scipy import stats as sps

import nnfi_analysis as na
from nnfi_analysis import stats


# ------------------------------------------------------ known values --


def test_leveugle_known_values():
    # the textbook numbers: e = 1% at 95%, p = 0.5 -> 9604; e = 5% -> 385
    assert stats.leveugle_sample_size(0.01, 0.95, 0.5, 0) == 9604
    assert stats.leveugle_sample_size(0.05) == 385
    assert stats.leveugle_sample_size(0.01, 0.99) == 16588
    # finite population: 9603.65 / (1 + 9603.65 / N) roughly; N = 10000 -> 4900
    assert stats.leveugle_sample_size(0.01, 0.95, 0.5, 10000) == 4900
    assert stats.leveugle_sample_size(0.01, 0.95, 0.5, 1) == 1
    assert stats.leveugle_sample_size(0.01, 0.95, 0.0, 0) == 1  # degenerate p
    assert stats.leveugle_sample_size(0.01, 0.95, 0.1) < stats.leveugle_sample_size(0.01, 0.95, 0.5)


def test_wilson_known_values():
    z = 1.959963984540054
    assert stats.normal_quantile(0.95) == pytest.approx(z, abs=1e-13)
    lo, hi = stats.wilson_interval(0, 60)
    assert lo == 0 and hi == pytest.approx(z * z / (60 + z * z), rel=1e-12)  # 0.0601718...
    lo, hi = stats.wilson_interval(5, 10)
    assert (lo, hi) == (pytest.approx(0.2365931, abs=1e-7), pytest.approx(0.7634069, abs=1e-7))
    lo, hi = stats.wilson_interval(60, 60)
    assert hi == 1 and lo == pytest.approx(60 / (60 + z * z), rel=1e-12)
    assert stats.wilson_interval(0, 0) == (0.0, 1.0)  # as the C side
    lo, hi = stats.wilson_interval(np.array([0, 3, 10]), np.array([10, 10, 10]))
    assert lo.shape == (3,) and (lo <= np.array([0, 0.3, 1])).all() and (hi >= np.array([0, 0.3, 1])).all()


def test_wilson_formula_grid():
    """The closed form, written out independently, on a grid."""
    for conf in (0.9, 0.95, 0.99):
        z = sps.norm.ppf(0.5 + conf / 2)
        for n in (1, 2, 7, 60, 1000):
            for k in sorted({0, 1, n // 3, n // 2, n - 1, n}):
                p = k / n
                c = (p + z * z / (2 * n)) / (1 + z * z / n)
                h = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
                lo, hi = stats.wilson_interval(k, n, conf)
                assert lo == pytest.approx(max(0, c - h), abs=1e-12)
                assert hi == pytest.approx(min(1, c + h), abs=1e-12)


def test_t_interval_against_scipy():
    rng = np.random.default_rng(1)
    for n in (2, 5, 31, 200):
        v = rng.normal(0.5, 0.1, n)
        mean, hw = stats.t_interval(v, 0.95)
        lo, hi = sps.t.interval(0.95, n - 1, loc=v.mean(), scale=sps.sem(v))
        assert mean == pytest.approx(v.mean(), rel=1e-14)
        assert (mean - hw, mean + hw) == (pytest.approx(lo, rel=1e-12), pytest.approx(hi, rel=1e-12))
    assert math.isnan(stats.t_interval([0.3])[1]) and stats.t_interval([0.3])[0] == 0.3
    assert all(math.isnan(x) for x in stats.t_interval([]))


def test_crossing():
    x = [1e-7, 1e-6, 1e-5]
    assert stats.crossing(x, [0.0, 0.4, 0.8], 0.5) == pytest.approx(10 ** (-6 + 0.25))
    assert stats.crossing(x, [0.0, 0.4, 0.8], 0.5, log=False) == pytest.approx(1e-6 + 0.25 * 9e-6)
    assert math.isnan(stats.crossing(x, [0.0, 0.1, 0.2], 0.5))
    assert stats.crossing(x, [0.6, 0.7, 0.9], 0.5) == 1e-7
    assert stats.crossing([1e-5, 1e-7, 1e-6], [0.8, 0.0, 0.4], 0.5) == pytest.approx(10 ** (-5.75))  # unsorted


# ------------------------------------------------------- the C side --


def c(cref, *args):
    return subprocess.run([str(cref), *map(str, args)], check=True, capture_output=True, text=True).stdout.split()


def test_leveugle_matches_c(cref):
    for e in (0.001, 0.01, 0.02, 0.05):
        for conf in (0.9, 0.95, 0.99):
            for p in (0.01, 0.1, 0.5):
                for N in (0, 100, 12345, 1e9):
                    want = int(c(cref, "leveugle", e, conf, p, N)[0])
                    assert stats.leveugle_sample_size(e, conf, p, N) == want, (e, conf, p, N)


def test_wilson_and_quantile_match_c(cref):
    for conf in (0.9, 0.95, 0.99):
        assert stats.normal_quantile(conf) == pytest.approx(float(c(cref, "quantile", conf)[0]), abs=1e-11)
        for n in (0, 1, 10, 60, 997):
            for k in sorted({0, n // 4, n // 2, n}):
                lo, hi = map(float, c(cref, "wilson", k, n, conf))
                got = stats.wilson_interval(k, n, conf)
                assert got == (pytest.approx(lo, abs=1e-11), pytest.approx(hi, abs=1e-11)), (k, n, conf)


# ------------------------------------------------- summaries on files --


def direct_summary(trials, threshold):
    """Per (experiment, point), computed straight from the h5py arrays."""
    out = {}
    for (e, p), g in trials.groupby(["experiment", "point"]):
        n = len(g)
        acc = g["accuracy"].to_numpy()
        drop = g["accuracy_drop"].to_numpy()
        tq = sps.t.ppf(0.975, n - 1)
        out[(e, p)] = {
            "trials_done": n,
            "accuracy_mean": acc.mean(), "accuracy_hw": tq * acc.std(ddof=1) / math.sqrt(n),
            "drop_mean": drop.mean(), "drop_hw": tq * drop.std(ddof=1) / math.sqrt(n),
            "sdc_k": int((g["sdc"] > 0).sum()), "critical_sdc_k": int((g["critical_sdc"] > 0).sum()),
            "due_k": int((g["due"] != 0).sum()), "drop_gt_k": int((drop > threshold).sum()),
            "critical_sdc_per_trial": g["critical_sdc"].mean(), "n_faults_mean": g["n_faults"].mean(),
        }
    return out


def h5_trials(path):
    import h5py
    import pandas as pd

    with h5py.File(path, "r", locking=False) as f:
        df = pd.DataFrame({k: f["trials"][k][()] for k in f["trials"]})
    return df[df["done"] != 0]


@pytest.mark.parametrize("threshold", [0.4, 0.1])
def test_summary_matches_numpy(fixture_path, threshold):
    s = na.summarize(na.load(fixture_path), threshold=threshold)
    want = direct_summary(h5_trials(fixture_path), threshold)
    assert len(s) == len(want) == 5
    for _, r in s.iterrows():
        w = want[(r["experiment"], r["point"])]
        for k, v in w.items():
            assert r[k] == pytest.approx(v, rel=1e-12, abs=1e-15), k
        for name in ("sdc", "critical_sdc", "due", "drop_gt"):
            lo, hi = stats.wilson_interval(w[f"{name}_k"], w["trials_done"])
            assert r[f"{name}_p"] == w[f"{name}_k"] / w["trials_done"]
            assert (r[f"{name}_lo"], r[f"{name}_hi"]) == (lo, hi)
        assert r["accuracy_lo"] == pytest.approx(w["accuracy_mean"] - w["accuracy_hw"])
    assert s.attrs["threshold"] == threshold


def test_summary_per_experiment(res):
    s = na.summarize(res, by="experiment")
    assert list(s["experiment_name"]) == ["weights", "rate", "activations"]
    assert s["trials_done"].tolist() == s["trials"].tolist() == [180, 40, 50]
    w = res.trials[res.trials["experiment"] == 0]
    assert s.loc[0, "accuracy_mean"] == pytest.approx(w["accuracy"].mean())
    assert s.loc[0, "due_k"] == int((w["due"] != 0).sum())


def test_summary_relative_and_exceedance(res):
    s = na.summarize(res, threshold=0.4, relative=True)
    rel = res.trials["accuracy_drop"] / res.golden("mlp").accuracy
    for _, r in s.iterrows():
        g = (res.trials["experiment"] == r["experiment"]) & (res.trials["point"] == r["point"])
        assert r["drop_gt_k"] == int((rel[g] > 0.4).sum())
    ex = na.exceedance(res, thresholds=[0.0, 0.4, 1.0])
    s = na.summarize(res, threshold=0.4)
    assert len(ex) == 3 * len(s)
    at = ex[ex["threshold"] == 0.4].reset_index(drop=True)
    np.testing.assert_array_equal(at["k"], s["drop_gt_k"])
    np.testing.assert_allclose(at["lo"], s["drop_gt_lo"])
    assert (ex[ex["threshold"] == 1.0]["k"] == 0).all()  # a drop never exceeds 1
    # P[drop > t] never rises with t
    for _, g in ex.groupby(["experiment", "point"]):
        assert (np.diff(g["p"].to_numpy()) <= 0).all()


def check_against_inspect(summary, doc, res):
    assert doc["trials_done"] == int(summary["trials_done"].sum())
    assert doc["trials"] == res.provenance["trials"]
    assert doc["config_hash"] == res.provenance["config_hash_hex"]
    assert doc["seed"] == res.provenance["seed"] and doc["campaign"] == res.provenance["campaign"]
    rows = {(r["experiment"], r["point"]): r for _, r in summary.iterrows()}
    n_points = 0
    for e in doc["experiments"]:
        assert e["name"] == res.experiments.loc[e["index"], "name"]
        for p in e["points"]:
            n_points += 1
            r = rows[(e["index"], p["point"])]
            assert p["trials_done"] == r["trials_done"] and p["trials"] == r["trials"]
            assert p["x"] == pytest.approx(r["x"]) and p["is_rate"] == r["is_rate"]
            n = r["trials_done"]
            for key, col in (("accuracy", "accuracy"), ("accuracy_drop", "drop")):
                if n == 0:
                    assert p[key]["mean"] is None
                    continue
                assert p[key]["mean"] == pytest.approx(r[f"{col}_mean"], rel=1e-9, abs=1e-12)
                if n < 2:
                    assert p[key]["half_width"] is None and math.isnan(r[f"{col}_hw"])
                else:  # the C side's t quantile is a table + Cornish-Fisher (< 2e-6)
                    assert p[key]["half_width"] == pytest.approx(r[f"{col}_hw"], rel=2e-6)
            for key, col in (("sdc_rate", "sdc"), ("due_rate", "due")):
                assert p[key]["k"] == r[f"{col}_k"]
                if n == 0:
                    assert p[key]["p"] is None and p[key]["lo"] is None
                    continue
                for f in ("p", "lo", "hi"):
                    assert p[key][f] == pytest.approx(r[f"{col}_{f}"], rel=1e-9, abs=1e-9), (key, f)
            if n:
                assert p["critical_sdc_per_trial"] == pytest.approx(r["critical_sdc_per_trial"], rel=1e-9)
    assert n_points == len(summary)


def test_agrees_with_inspect(fixture_path, res, inspect_json):
    check_against_inspect(na.summarize(res), inspect_json(fixture_path), res)


def test_agrees_with_inspect_on_partial_file(partial_path, inspect_json):
    res = na.load(partial_path)
    s = na.summarize(res)
    none = s[(s["experiment"] == 0) & (s["point"] == 2)].iloc[0]
    assert none["trials_done"] == 0 and math.isnan(none["accuracy_mean"]) and math.isnan(none["sdc_p"])
    assert s["trials_done"].sum() == len(res.trials) < 270
    check_against_inspect(s, inspect_json(partial_path), res)


# ------------------------------------------- the one group-wise summary --


def test_stats_module_has_no_file_io_or_loader():
    """stats takes tables only: no import of the loader (or h5py) at any level."""
    import ast

    tree = ast.parse(open(stats.__file__, encoding="utf-8").read())
    mods = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            mods |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            mods.add("." * node.level + (node.module or ""))
            mods |= {a.name for a in node.names}
    assert not any("load" in m or "h5py" in m or m.startswith(".") for m in mods), mods
    with pytest.raises(TypeError, match="load"):
        stats.summarize("out.h5")


def synthetic_trials(seed=3):
    rng = np.random.default_rng(seed)
    n = 400
    import pandas as pd

    return pd.DataFrame({
        "done": np.r_[np.ones(n - 20, dtype=np.uint8), np.zeros(20, dtype=np.uint8)],
        "experiment": rng.integers(0, 3, n).astype(np.uint32),
        "point": rng.integers(0, 2, n).astype(np.uint32),
        "layer": rng.choice(["fc1", "fc2"], n),
        "accuracy": rng.uniform(0, 1, n),
        "accuracy_drop": rng.uniform(-0.1, 0.9, n),
        "sdc": rng.integers(0, 3, n),
        "critical_sdc": rng.integers(0, 2, n),
        "due": rng.integers(0, 2, n) * rng.integers(0, 2, n),
        "n_faults": rng.integers(1, 5, n),
    })


def test_group_summary_against_direct_computation():
    t = synthetic_trials()
    g = stats.group_summary(t, ["experiment", "layer"], threshold=0.3, confidence=0.9)
    done = t[t["done"] != 0]
    assert g["n"].sum() == len(done) and g.attrs["by"] == ["experiment", "layer"]
    for _, r in g.iterrows():
        sub = done[(done["experiment"] == r["experiment"]) & (done["layer"] == r["layer"])]
        assert r["n"] == len(sub)
        m, hw = stats.t_interval(sub["accuracy_drop"], 0.9)
        assert r["drop_mean"] == pytest.approx(m, rel=1e-12) and r["drop_hw"] == pytest.approx(hw, rel=1e-10)
        assert r["n_faults_mean"] == pytest.approx(sub["n_faults"].mean())
        for name, k in (("sdc", (sub["sdc"] > 0).sum()), ("due", (sub["due"] != 0).sum()),
                        ("critical_sdc", (sub["critical_sdc"] > 0).sum()),
                        ("drop_gt", (sub["accuracy_drop"] > 0.3).sum())):
            assert r[f"{name}_k"] == k
            assert (r[f"{name}_lo"], r[f"{name}_hi"]) == stats.wilson_interval(k, len(sub), 0.9)
            assert (r[f"{name}_cp_lo"], r[f"{name}_cp_hi"]) == pytest.approx(
                stats.clopper_pearson_interval(k, len(sub), 0.9))


def test_group_summary_base_keeps_empty_groups():
    import pandas as pd

    t = synthetic_trials()
    t = t[t["experiment"] != 2]
    base = pd.DataFrame({"experiment": np.array([2, 0, 1], dtype=np.int64), "label": ["c", "a", "b"]})
    g = stats.group_summary(t, "experiment", base=base)
    assert list(g["label"]) == ["c", "a", "b"]  # base's rows, base's order
    assert g["n"].tolist()[0] == 0 and g["n"].tolist()[1:] == [
        int(((t["experiment"] == e) & (t["done"] != 0)).sum()) for e in (0, 1)]
    empty = g.iloc[0]
    assert math.isnan(empty["accuracy_mean"]) and math.isnan(empty["sdc_p"]) and empty["sdc_k"] == 0


def test_summarize_and_stratify_are_the_group_summary(res):
    """summarize is group_summary by (experiment, point) on /points; strata by their keys."""
    s = na.summarize(res, threshold=0.2)
    g = stats.group_summary(res.trials, ["experiment", "point"], base=res.points, threshold=0.2)
    cols = [c for c in g.columns if c != "n"]
    import pandas as pd

    pd.testing.assert_frame_equal(s[cols], g[cols])
    assert (s["trials_done"] == g["n"]).all()
    st = na.trial_strata(res)
    by = na.stratify(st, by="bit", threshold=0.2)
    direct = stats.group_summary(st, ["experiment", "experiment_name", "model", "bit"], threshold=0.2)
    pd.testing.assert_frame_equal(by.reset_index(drop=True), direct.reset_index(drop=True), check_like=True)
