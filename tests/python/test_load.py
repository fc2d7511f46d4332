"""test_load.py - nnfi_analysis.load against the file read with plain h5py and
against the schema the C side writes from NNFI_TRIAL_COLUMNS."""
import numpy as np
import pytest

import nnfi_analysis as na
from conftest import partial_done


def trial_columns(h5):
    """The /trials data columns: every dataset except the dimension scale."""
    tr = h5["trials"]
    return sorted(k for k in tr if tr[k].attrs.get("CLASS", b"") not in (b"DIMENSION_SCALE", "DIMENSION_SCALE"))


def test_file_matches_c_schema(fixture_path, schema_path, h5):
    schema = na.read_schema(schema_path)
    assert schema["group"] == "/trials" and schema["index"] == "trial"
    assert na.check_schema(fixture_path, schema) == []
    assert sorted(c["name"] for c in schema["columns"]) == trial_columns(h5)
    assert int(h5.attrs["schema_version"]) == schema["schema_version"]


def test_check_schema_reports_differences(fixture_path, schema_path):
    schema = na.read_schema(schema_path)
    schema["columns"] = schema["columns"][1:] + [dict(schema["columns"][0], name="bogus")]
    schema["columns"][0] = dict(schema["columns"][0], unit="furlongs")
    problems = na.check_schema(fixture_path, schema)
    first = na.read_schema(schema_path)["columns"][0]["name"]
    assert f"column {first}: in the file, not in the schema" in problems
    assert "column bogus: in the schema, not in the file" in problems
    assert any("unit file" in p and "furlongs" in p for p in problems)


def test_columns_metadata_from_file(fixture_path, schema_path, h5):
    cols = na.columns(fixture_path)
    assert sorted(cols.index) == trial_columns(h5)
    by_name = {c["name"]: c for c in na.read_schema(schema_path)["columns"]}
    for name, row in cols.iterrows():
        ds = h5["trials"][name]
        assert row["dtype"] == ds.dtype.name == by_name[name]["dtype"]
        assert row["unit"] == ds.attrs["unit"] == by_name[name]["unit"]
        assert row["description"] == ds.attrs["description"] == by_name[name]["description"]
        assert row["volatile"] == by_name[name]["volatile"]
        if "flag_values" in ds.attrs:
            assert row["flag_values"] == [int(v) for v in ds.attrs["flag_values"]]
            assert row["flag_meanings"] == str(ds.attrs["flag_meanings"]).split()
        else:
            assert row["flag_values"] is None and row["flag_meanings"] is None
    assert set(cols.index[cols["volatile"]]) == {"rank", "device", "wall_s"}
    assert cols.loc["status", "flag_meanings"] == ["ok", "failed", "timeout"]


def test_every_column_dtype_length_values(fixture_path, h5):
    tr = h5["trials"]
    n = tr["done"].shape[0]
    assert n == 270 and int(tr["done"][()].sum()) == n  # the fixture is complete
    df = na.trials(fixture_path)
    assert len(df) == n
    for name in trial_columns(h5):
        assert name in df.columns, name
        assert df[name].dtype == tr[name].dtype, (name, df[name].dtype, tr[name].dtype)
        np.testing.assert_array_equal(df[name].to_numpy(), tr[name][()], err_msg=name)
    np.testing.assert_array_equal(df.index.to_numpy(), tr["trial"][()])
    assert df.index.name == "trial" and df.index.dtype == tr["trial"].dtype


def test_joins(res, h5):
    df = res.trials
    names = h5["experiments/name"].asstr()[()]
    models = h5["experiments/model"].asstr()[()]
    e = h5["trials/experiment"][()]
    assert list(df["experiment_name"].astype(str)) == list(names[e])
    assert list(df["model"]) == list(models[e])
    pts = {(int(a), int(b)): (x, bool(r), int(f), int(t)) for a, b, x, r, f, t in zip(
        h5["points/experiment"][()], h5["points/point"][()], h5["points/x"][()], h5["points/is_rate"][()],
        h5["points/first_trial"][()], h5["points/trials"][()])}
    for trial, row in df.iterrows():
        x, is_rate, first, count = pts[(int(row["experiment"]), int(row["point"]))]
        assert row["x"] == x and row["is_rate"] == is_rate
        assert first <= trial < first + count and row["trial_in_point"] == trial - first
    # the fixture's campaign: weights N 1/10/100, rate 1e-3, activations unswept
    got = res.points[["experiment_name", "point", "point_label", "sweep", "trials"]].values.tolist()
    assert got == [["weights", 0, "N 1", "faults", 60], ["weights", 1, "N 10", "faults", 60],
                   ["weights", 2, "N 100", "faults", 60], ["rate", 0, "rate 0.001", "rate", 40],
                   ["activations", 0, "-", "none", 50]]
    assert (df.loc[df["experiment_name"] == "weights", "n_faults"].to_numpy() == df.loc[
        df["experiment_name"] == "weights", "x"].to_numpy()).all()
    assert list(res.experiments["name"]) == ["weights", "rate", "activations"]
    assert res.experiments["trials"].tolist() == [180, 40, 50]


def test_derived_columns(res):
    df = res.trials
    g = res.golden("mlp")
    np.testing.assert_allclose(df["relative_drop"], df["accuracy_drop"] / g.accuracy)
    codes = res.columns.loc["status"]
    want = [dict(zip(codes["flag_values"], codes["flag_meanings"]))[int(s)] for s in df["status"]]
    assert list(df["status_label"].astype(str)) == want
    assert "done_label" not in df and "due_label" not in df  # boolean flags stay 0/1


def test_provenance(res, h5):
    p = res.provenance
    assert p["campaign"] == "small" and p["seed"] == 7 and p["schema_version"] == 1
    assert p["config_path"] == "tests/campaign/small.yaml"
    assert p["config"] == h5.attrs["config"] and "name: small" in p["config"]
    assert p["config_hash"] == int(h5.attrs["config_hash"])
    assert p["config_hash_hex"] == f"{int(h5.attrs['config_hash']):016x}"
    assert p["progress"]["trials_done"] == 270 and p["trials"] == 270
    assert isinstance(p["world_size"], int) and p["world_size"] >= 1


def test_golden_sites_faults(res, h5):
    g = res.golden()
    assert list(g) == ["mlp"]
    g = g["mlp"]
    assert g.logits.shape == (256, 10) and g.logits.dtype == np.float32 and g.labels.dtype == np.int32
    assert g.accuracy == pytest.approx(float(np.mean(g.predictions == g.labels)))
    # accuracy + drop == golden accuracy for every trial
    np.testing.assert_allclose(res.trials["accuracy"] + res.trials["accuracy_drop"], g.accuracy, atol=1e-12)

    s = res.sites("mlp")
    assert list(s["name"]) == list(h5["sites/mlp/name"].asstr()[()])
    assert s["numel"].dtype == np.uint64 and (s["model"] == "mlp").all()

    fl = res.faults()
    assert len(fl) == h5["faults/trial"].shape[0] > 0
    assert (np.diff(fl["trial"].to_numpy().astype(np.int64)) >= 0).all()
    # every trial with at most faults_max_n (10) faults has its list, whole
    t = res.trials
    small = t[t["n_faults"] <= 10]
    counts = fl.groupby("trial").size()
    assert set(counts.index) == set(small.index)
    np.testing.assert_array_equal(counts.reindex(small.index).to_numpy(), small["n_faults"].to_numpy())
    names = list(s["name"])
    assert list(fl["site_name"]) == [names[i] for i in fl["site"]]
    assert set(fl["op_label"].astype(str)) <= set(str(h5["faults/op"].attrs["flag_meanings"]).split())
    # the activations experiment: transient activation flips and one bias set to NaN
    act = fl[fl["experiment"] == 2]
    assert set(act["site_name"]) <= {"fc1.out", "fc2.out", "fc1.bias", "fc2.bias", "fc3.bias"}
    assert set(act["op_label"].astype(str)) == {"flip", "set"}
    assert set(act.loc[act["op_label"] == "flip", "transient_label"].astype(str)) == {"transient"}


def test_partial_file(partial_path, fixture_path, h5):
    done = na.trials(partial_path)
    every = na.trials(partial_path, done_only=False)
    tr = h5["trials"]
    want = [t for t, e, p in zip(tr["trial"][()], tr["experiment"][()], tr["point"][()]) if partial_done(t, e, p)]
    assert list(done.index) == want
    assert len(every) == tr["done"].shape[0]
    assert (every.loc[~every.index.isin(want), "done"] == 0).all()
    # rows not run yet still join to the point that plans them (their own
    # experiment/point columns are the fill value 0)
    planned = na.trials(fixture_path, done_only=False)
    for c in ("experiment_name", "point_label", "x", "sweep"):
        assert list(every[c]) == list(planned[c]), c
    assert (every.loc[(every["done"] == 0) & (every["point_label"] == "N 100"), "point"] == 0).all()
    res = na.load(partial_path)
    assert len(res.trials) == len(want)
    assert f" {len(want)}/270 trials done" in repr(res)


def test_damaged_file(fixture_path, tmp_path):
    """A done row naming another point than the one its index belongs to."""
    import shutil

    import h5py

    p = tmp_path / "damaged.h5"
    shutil.copyfile(fixture_path, p)
    with h5py.File(p, "r+") as f:
        f["trials/point"][5] = 2  # trial 5 is in point (0, 0)
    with pytest.raises(na.NnfiFileError, match=r"rows \[5\] disagree with the plan.*\n  hint"):
        na.load(p)


def test_which_columns(fixture_path):
    df = na.trials(fixture_path, which=["accuracy"])
    assert {"accuracy", "done", "experiment", "point"} <= set(df.columns) and "sdc" not in df
    with pytest.raises(KeyError, match="no /trials column"):
        na.trials(fixture_path, which=["nope"])


def test_xarray_dataset(fixture_path, res, h5):
    ds = na.dataset(fixture_path)
    assert list(ds.dims) == ["trial"] and ds.sizes["trial"] == h5["trials/done"].shape[0]
    for name in trial_columns(h5):
        assert ds[name].dtype == h5["trials"][name].dtype, name
        np.testing.assert_array_equal(ds[name].values, h5["trials"][name][()])
        assert ds[name].attrs["unit"] == h5["trials"][name].attrs["unit"]
    assert list(ds["experiment_name"].values) == list(res.trials["experiment_name"].astype(str))
    np.testing.assert_array_equal(ds["x"].values, res.trials["x"].to_numpy())
    assert ds.attrs["campaign"] == "small"
    gold = na.dataset(fixture_path, "golden/mlp")
    assert dict(gold.sizes) == {"sample": 256, "class": 10}
    assert dict(na.dataset(fixture_path, "points").sizes) == {"row": 5}


def test_xarray_done_only(partial_path):
    ds = na.dataset(partial_path, done_only=True)
    done = na.trials(partial_path)
    assert ds.sizes["trial"] == len(done)
    assert (ds["done"].values == 1).all()
    assert list(ds["experiment_name"].values) == list(done["experiment_name"].astype(str))
    every = na.dataset(partial_path)
    np.testing.assert_array_equal(every["x"].values, na.trials(partial_path, done_only=False)["x"].to_numpy())


def test_errors(tmp_path):
    with pytest.raises(na.NnfiFileError, match="no such file"):
        na.load(tmp_path / "missing.h5")
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(na.NnfiFileError, match="not an HDF5 file"):
        na.load(tmp_path / "text.h5")
    import h5py

    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = np.arange(3)
    with pytest.raises(na.NnfiFileError, match="not an nnfi result file.*\n  hint"):
        na.load(tmp_path / "other.h5")


def test_file_left_closed(fixture_path, tmp_path):
    """The loader never keeps a file open (a running writer must reopen it):
    opening it for writing in this process fails while any handle is open."""
    import gc
    import shutil

    import h5py

    p = tmp_path / "copy.h5"
    shutil.copyfile(fixture_path, p)
    r = na.load(p)
    r.golden()
    r.sites()
    r.faults()
    r.dataset()
    na.dataset(p, "golden/mlp")
    na.columns(p)
    na.provenance(p)
    gc.collect()
    with h5py.File(p, "r+") as f:
        f.attrs["touched"] = 1


def test_default_results_path(monkeypatch, fixture_path):
    monkeypatch.setenv("NNFI_RESULTS", str(fixture_path))
    assert na.default_results_path() == str(fixture_path)
    monkeypatch.delenv("NNFI_RESULTS")
    monkeypatch.setenv("NNFI_FIXTURE", "/x/y.h5")
    assert na.default_results_path() == "/x/y.h5"
