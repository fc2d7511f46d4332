"""test_cli.py - `python3 -m nnfi_analysis ...` in a subprocess, as a user runs it."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ANALYSIS = Path(__file__).resolve().parents[2] / "analysis"


def cli(*args, check=True):
    env = dict(os.environ, PYTHONPATH=str(ANALYSIS), PYTHONDONTWRITEBYTECODE="1")
    r = subprocess.run([sys.executable, "-m", "nnfi_analysis", *map(str, args)], capture_output=True, text=True,
                       env=env)
    if check:
        assert r.returncode == 0, r.stderr
    return r


def test_summary_table(fixture_path, res):
    out = cli("summary", fixture_path).stdout
    assert "campaign  small  seed 7" in out
    assert f"config hash {res.provenance['config_hash_hex']}" in out
    assert "270 / 270 trials done" in out
    for label in ("weights", "rate 0.001", "activations", "N 100", "P[SDC]", "P[DUE]", "P[drop > 0.4]",
                  "P[crit SDC]"):
        assert label in out, label
    # the weights N 1 row: 60/60 trials, P[SDC] = 30/60 with its Wilson interval
    line = next(l for l in out.splitlines() if "N 1 " in l or l.rstrip().endswith("N 1"))
    assert "60/60" in line and "0.500 [0.377, 0.623]" in line


def test_summary_json_and_csv(fixture_path, res):
    doc = json.loads(cli("summary", fixture_path, "--format", "json", "--threshold", "0.2").stdout)
    assert doc["threshold"] == 0.2 and doc["trials_done"] == 270 and len(doc["rows"]) == 5
    r0 = doc["rows"][0]
    assert r0["experiment_name"] == "weights" and r0["sdc_k"] == 30
    drop = res.trials.loc[(res.trials["experiment"] == 0) & (res.trials["point"] == 0), "accuracy_drop"]
    assert r0["drop_gt_k"] == int((drop > 0.2).sum())
    by_exp = json.loads(cli("summary", fixture_path, "--format", "json", "--by", "experiment").stdout)
    assert [r["experiment_name"] for r in by_exp["rows"]] == ["weights", "rate", "activations"]
    import io

    csv = pd.read_csv(io.StringIO(cli("summary", fixture_path, "--format", "csv").stdout))
    assert len(csv) == 5 and {"accuracy_mean", "due_lo", "drop_gt_hi"} <= set(csv.columns)


def test_csv(fixture_path, tmp_path, res):
    out = tmp_path / "trials.csv"
    r = cli("csv", fixture_path, "-o", out)
    assert "270 rows" in r.stderr
    df = pd.read_csv(out, index_col="trial")
    assert len(df) == 270 and list(df.index) == list(res.trials.index)
    assert (df["sdc"].to_numpy() == res.trials["sdc"].to_numpy()).all()
    assert df["accuracy"].to_numpy() == pytest.approx(res.trials["accuracy"].to_numpy(), rel=1e-15)
    assert list(df["experiment_name"]) == list(res.trials["experiment_name"].astype(str))
    stdout = cli("csv", fixture_path, "-o", "-").stdout
    assert stdout.splitlines()[0].startswith("trial,") and len(stdout.splitlines()) == 271


def test_csv_all_rows(partial_path, tmp_path):
    out = tmp_path / "all.csv"
    cli("csv", partial_path, "-o", out, "--all")
    df = pd.read_csv(out)
    assert len(df) == 270 and (df["done"] == 0).sum() > 0


def test_plot(fixture_path, tmp_path):
    out = tmp_path / "fig.png"
    cli("plot", fixture_path, "-o", out, "--metric", "accuracy")
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10000


def test_columns(fixture_path):
    out = cli("columns", fixture_path).stdout
    assert "accuracy_drop" in out and "golden accuracy minus faulty accuracy" in out
    assert "0=ok 1=failed 2=timeout" in out


def test_errors(tmp_path, fixture_path):
    r = cli("summary", tmp_path / "missing.h5", check=False)
    assert r.returncode == 1 and "no such file" in r.stderr and "hint:" in r.stderr
    r = cli("plot", fixture_path, "-o", tmp_path / "no" / "dir" / "fig.png", check=False)
    assert r.returncode == 1 and "hint:" in r.stderr
    r = cli("summary", fixture_path, "--confidence", "95", check=False)
    assert r.returncode == 2 and "--confidence" in r.stderr
    assert cli("bogus", check=False).returncode == 2
    assert cli(check=False).returncode == 2
    assert "summary" in cli("--help").stdout
