"""conftest.py - fixtures of the analysis/ tests (tests/python).

CTest (tests/python/CMakeLists.txt) sets the environment:
  NNFI_FIXTURE   result file of `nnfi run tests/campaign/small.yaml` (null model)
  NNFI_SCHEMA    schema JSON written by the C side (nnfi_write_schema_json)
  NNFI_BIN       the nnfi binary (for `nnfi inspect --format json`)
  NNFI_CREF      tests/python/c_reference (the C Leveugle/Wilson/quantile)
  PYTHONPATH     analysis/

Run by hand: build (cmake -S . -B build && cmake --build build --target nnfi
c_reference), then from the checkout
  /usr/bin/python3 -m pytest tests/python
The binaries are found through NNFI_BIN / NNFI_CREF, else $NNFI_BUILD_DIR,
else build/ (then the other build*/ directories); the package through
PYTHONPATH or analysis/ of this checkout. Without NNFI_FIXTURE/NNFI_SCHEMA
the fixtures are made with the binaries in a temporary directory. The report
header names what was found; tests needing a missing input are skipped with
a one-line reason saying what to build. Under CTest nothing is missing.
"""
import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

sys.dont_write_bytecode = True  # keep the source tree free of __pycache__
ROOT = Path(__file__).resolve().parents[2]
try:
    import nnfi_analysis as na
except ImportError:  # plain `python3 -m pytest tests/python` without PYTHONPATH=analysis
    sys.path.insert(0, str(ROOT / "analysis"))
    import nnfi_analysis as na

import h5py
import numpy as np
import pytest

CAMPAIGN = "tests/campaign/small.yaml"
BUILD_HINT = ("build it first: cmake -S . -B build -G Ninja && cmake --build build --target nnfi c_reference "
              "(or point NNFI_BUILD_DIR at your build directory, or set NNFI_BIN / NNFI_CREF)")


def _env_path(name):
    v = os.environ.get(name)
    return Path(v) if v else None


def build_dirs():
    """Where to look for the C build: $NNFI_BUILD_DIR, else build/ of the
    checkout, else the other build*/ directories (newest first)."""
    d = _env_path("NNFI_BUILD_DIR")
    if d is not None:
        return [d]
    others = sorted((Path(p) for p in glob.glob(str(ROOT / "build*")) if Path(p).is_dir()),
                    key=os.path.getmtime, reverse=True)
    return [ROOT / "build"] + [p for p in others if p != ROOT / "build"]


def find_built(env, rel):
    """$env if set, else <build dir>/rel from build_dirs(); None if absent."""
    p = _env_path(env)
    if p is not None:
        return p if p.exists() else None
    for d in build_dirs():
        if (d / rel).exists():
            return d / rel
    return None


NNFI_BIN = find_built("NNFI_BIN", "src/nnfi")
NNFI_CREF = find_built("NNFI_CREF", "tests/python/c_reference")


def _missing(what, env):
    where = os.environ.get(env) or ", ".join(str(d) for d in build_dirs())
    return f"{what} not found ({env} or {where}): {BUILD_HINT}"


def pytest_report_header(config):
    return [f"nnfi binary: {NNFI_BIN or 'NOT FOUND - tests on result files skip; ' + BUILD_HINT}",
            f"c_reference: {NNFI_CREF or 'NOT FOUND - C comparisons skip'}"]


@pytest.fixture(scope="session")
def nnfi_bin():
    if NNFI_BIN is None:
        pytest.skip(_missing("the nnfi binary", "NNFI_BIN"))
    return NNFI_BIN


@pytest.fixture(scope="session")
def cref():
    if NNFI_CREF is None:
        pytest.skip(_missing("tests/python/c_reference", "NNFI_CREF"))
    return NNFI_CREF


@pytest.fixture(scope="session")
def fixture_path(tmp_path_factory):
    p = _env_path("NNFI_FIXTURE")
    if p is not None:
        assert p.exists(), f"NNFI_FIXTURE={p} does not exist (the python_fixture test writes it)"
        return p
    b = NNFI_BIN
    if b is None:
        pytest.skip(_missing("the nnfi binary (to write the fixture; or set NNFI_FIXTURE)", "NNFI_BIN"))
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
    c = NNFI_CREF
    if c is None:
        pytest.skip(_missing("tests/python/c_reference (to write the schema; or set NNFI_SCHEMA)", "NNFI_CREF"))
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


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """One line at the end when tests skipped for want of the C build."""
    skipped = terminalreporter.stats.get("skipped", [])
    n = sum(1 for r in skipped if BUILD_HINT in str(r.longrepr))
    if n:
        terminalreporter.write_line(f"{n} test(s) skipped: no nnfi binary / c_reference found; {BUILD_HINT}",
                                    yellow=True, bold=True)
