"""conftest.py - fixtures and hooks shared by the pytest files of tests/
(campaign, drills, slurm, containers; tests/python adds its own conftest).

CTest runs each file through nnfi_pytest() (tests/CMakeLists.txt), which sets
the environment described in tests/common/nnfitest.py. Fixtures:
  nnfi_bin       the nnfi binary (NNFI_BIN)
  source_dir     the repository root
  work_dir       NNFI_WORK, or a temporary directory when run by hand
  mpi_env        os.environ + the Open MPI settings, without SLURM_NTASKS/JOB_ID
  mpiexec        the MPI launcher (nnfitest.MpiLauncher) built from FindMPI's
                 MPIEXEC_* variables; a test that needs it is skipped without
Hook: a run in which nothing failed, nothing passed and something was skipped
exits 77, the SKIP_RETURN_CODE of every nnfi_pytest() test, so that CTest
reports a skip instead of a pass.

By hand: NNFI_BIN=build/src/nnfi /usr/bin/python3 -m pytest tests/campaign -q
"""
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "common"))
import nnfitest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def nnfi_bin():
    p = os.environ.get("NNFI_BIN")
    if not p or not Path(p).exists():
        pytest.skip("NNFI_BIN (the nnfi binary) is not set")
    return Path(p)


@pytest.fixture(scope="session")
def source_dir():
    return Path(os.environ.get("NNFI_SOURCE_DIR") or ROOT)


@pytest.fixture(scope="session")
def work_dir(tmp_path_factory):
    w = os.environ.get("NNFI_WORK")
    if not w:
        return tmp_path_factory.mktemp("work")
    os.makedirs(w, exist_ok=True)
    return Path(w)


@pytest.fixture(scope="session")
def mpi_env():
    return nnfitest.mpi_env()


@pytest.fixture(scope="session")
def mpiexec():
    launcher = nnfitest.MpiLauncher.from_env()
    if launcher is None:
        pytest.skip("no MPI launcher (NNFI_MPIEXEC is empty: built without MPI)")
    return launcher


_outcomes = {"passed": 0, "failed": 0, "skipped": 0}


def pytest_runtest_logreport(report):
    if report.when == "call" or report.outcome != "passed":
        if report.outcome in _outcomes:
            _outcomes[report.outcome] += 1


def pytest_sessionfinish(session, exitstatus):
    if exitstatus == 0 and _outcomes["skipped"] and not _outcomes["passed"] and not _outcomes["failed"]:
        session.exitstatus = nnfitest.SKIP


class Checks:
    """check(cond, what): prints "ok: what" or "FAIL: what" and goes on, so
    that one test reports every failed check of a list, not only the first;
    the test fails at its end (check.done(), or the fixture's teardown)."""

    def __init__(self):
        self.failures = []

    def __call__(self, cond, what):
        print(("ok: " if cond else "FAIL: ") + what, flush=True)
        if not cond:
            self.failures.append(what)
        return bool(cond)

    def done(self):
        failures, self.failures = self.failures, []
        if failures:
            pytest.fail(f"{len(failures)} failed check(s):\n  " + "\n  ".join(failures), pytrace=False)


@pytest.fixture
def check():
    c = Checks()
    yield c
    c.done()
