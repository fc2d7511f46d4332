"""conftest.py - fixtures of the analysis/ tests (tests/python).

CTest (tests/python/CMakeLists.txt) sets the environment:
  NNFI_FIXTURE   result file of `nnfi run tests/campaign/small.yaml` (null model)
  NNFI_SCHEMA    schema JSON written by the C side (nnfi_write_schema_json)
  NNFI_BIN       the nnfi binary (for `nnfi inspect --format json`)
  NNFI_CREF      tests/python/c_reference (the C Leveugle/Wilson/quantile)
  PYTHONPATH     analysis/

Run by hand: build, then
  NNFI_BIN=build/src/nnfi NNFI_CREF=build/tests/python/c_reference \\
  PYTHONPATH=analysis /usr/bin/python3 -m pytest tests/python -q
(without NNFI_FIXTURE/NNFI_SCHEMA they are made from NNFI_BIN/NNFI_CREF in a
temporary directory). Tests needing a missing input are skipped with the name
of the variable; under CTest nothing is missing.
"""
import os
import shutil
import subprocess
from pathlib import Path

import h5py
import numpy as np
import pytest

import nnfi_analysis as na

ROOT = Path(__file__).resolve().parents[2]
CAMPAIGN = "tests/campaign/small.yaml"


def _env_path(name):
    v = os.environ.get(name)
    return Path(v) if v else None


@pytest.fixture(scope="session")
def nnfi_bin():
    p = _env_path("NNFI_BIN")
    if p is None or not p.exists():
        pytest.skip("NNFI_BIN (the nnfi binary) is not set")
    return p


@pytest.fixture(scope="session")
def cref():
    p = _env_path("NNFI_CREF")
    if p is None or not p.exists():
        pytest.skip("NNFI_CREF (tests/python/c_reference) is not set")
    return p


@pytest.fixture(scope="session")
def fixture_path(tmp_path_factory):
    p = _env_path("NNFI_FIXTURE")
    if p is not None:
        assert p.exists(), f"NNFI_FIXTURE={p} does not exist (the python_fixture test writes it)"
        return p
    b = _env_path("NNFI_BIN")
    if b is None:
        pytest.skip("neither NNFI_FIXTURE nor NNFI_BIN is set")
    out = tmp_path_factory.mktemp("fixture") / "fixture.h5"
    subprocess.run([str(b), "run", CAMPAIGN, "-o", str(out), "--force", "--progress", "off", "--quiet"],
                   cwd=ROOT, check=True)
    return out


@pytest.fixture(scope="session")
def schema_path(tmp_path_factory):
    p = _env_path("NNFI_SCHEMA")
    if p is not None:
        assert p.exists(), f"NNFI_SCHEMA={p} does not exist (the python_schema test writes it)"
        return p
    c = _env_path("NNFI_CREF")
    if c is None:
        pytest.skip("neither NNFI_SCHEMA nor NNFI_CREF is set")
    out = tmp_path_factory.mktemp("schema") / "schema.json"
    subprocess.run([str(c), "schema", str(out)], check=True)
    return out


@pytest.fixture(scope="session")
def h5(fixture_path):
    """The fixture opened with plain h5py (the independent reading)."""
    with h5py.File(fixture_path, "r", locking=False) as f:
        yield f


@pytest.fixture(scope="session")
def res(fixture_path):
    return na.load(fixture_path)


# Trials of the partial file: point (0, 2) entirely not done, and every third
# trial of the others.
def partial_done(trial, experiment, point):
    return not (experiment == 0 and point == 2) and trial % 3 != 1


@pytest.fixture(scope="session")
def partial_path(fixture_path, tmp_path_factory):
    """A copy of the fixture as an interrupted run leaves it: some rows not
    done (done = 0 and every other column 0, as the writer's fill value)."""
    out = tmp_path_factory.mktemp("partial") / "partial.h5"
    shutil.copyfile(fixture_path, out)
    with h5py.File(out, "r+", locking=False) as f:
        tr = f["trials"]
        t = tr["trial"][()]
        keep = np.array([partial_done(int(a), int(e), int(p))
                         for a, e, p in zip(t, tr["experiment"][()], tr["point"][()])])
        for k in tr:
            if k == "trial":
                continue
            v = tr[k][()]
            v[~keep] = 0
            tr[k][...] = v
        f["progress"].attrs["trials_done"] = np.uint64(keep.sum())
    return out


@pytest.fixture(scope="session")
def inspect_json(nnfi_bin):
    """inspect_json(path) -> the parsed `nnfi inspect PATH --format json`."""
    import json

    def run(path):
        out = subprocess.run([str(nnfi_bin), "inspect", str(path), "--format", "json"], check=True,
                             capture_output=True, text=True)
        return json.loads(out.stdout)

    return run
