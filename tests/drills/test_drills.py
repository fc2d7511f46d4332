"""test_drills.py - the crash and resume drills of drills.py under pytest
(CTest drill_*, labels drills;mpi; fixtures in tests/conftest.py). Each test
runs one drill in NNFI_WORK/DRILL and fails with the list of its failed
checks; a drill that cannot run here is a skip (exit 77 when all were).

Environment beyond tests/conftest.py's: NNFI_DRILL_COUNT (kill moments per
mode, default 10; 12 for ckptkill), NNFI_DRILL_SEED (kill RNG seed; default
from the clock, printed), NNFI_TORCH_FIXTURES (tests/torch fixtures for
inputs_torch).
"""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import drills  # noqa: E402


@pytest.fixture
def drill(nnfi_bin, work_dir):
    def _run(name, count=10):
        seed = os.environ.get("NNFI_DRILL_SEED")
        launcher = drills.nnfitest.MpiLauncher.from_env()
        drills.setup(name, str(nnfi_bin), str(work_dir), launcher,
                     int(os.environ.get("NNFI_DRILL_COUNT", count)), int(seed) if seed else None,
                     os.environ.get("NNFI_TORCH_FIXTURES") or None)
        try:
            drills.DRILLS[name]()
        except drills.Skip as e:
            pytest.skip(str(e))
        print("ran: " + "; ".join(f"{k} x{v}" for k, v in drills.counts.items()))
        assert not drills.failures, f"{len(drills.failures)} failed check(s):\n  " + "\n  ".join(drills.failures)
    return _run


def test_kill(drill):
    drill("kill", 10)


def test_ckptkill(drill):
    drill("ckptkill", 12)


def test_rankloss(drill, mpiexec):
    drill("rankloss")


def test_fsize(drill):
    drill("fsize")


def test_fsize_tmpfs(drill):
    drill("fsize_tmpfs")


def test_corrupt(drill):
    drill("corrupt")


def test_inputs(drill):
    drill("inputs")


def test_inputs_torch(drill):
    drill("inputs_torch")


def test_symlink(drill):
    drill("symlink")
