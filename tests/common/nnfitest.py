"""nnfitest.py - helpers shared by the Python tests (tests/conftest.py turns
them into pytest fixtures; scripts such as tests/drills/drills.py import them
directly when run by hand).

The environment CTest sets for every pytest file (nnfi_pytest() in
tests/CMakeLists.txt):
  NNFI_BIN                   the nnfi binary
  NNFI_SOURCE_DIR            the repository root
  NNFI_WORK                  a work directory of that test in the build tree
  NNFI_MPIEXEC               FindMPI's MPIEXEC_EXECUTABLE (empty: no MPI)
  NNFI_MPIEXEC_NUMPROC_FLAG  MPIEXEC_NUMPROC_FLAG (e.g. -n)
  NNFI_MPIEXEC_PREFLAGS      MPIEXEC_PREFLAGS, space separated
  NNFI_MPIEXEC_POSTFLAGS     MPIEXEC_POSTFLAGS, space separated
"""
import os
import shlex
import shutil

SKIP = 77  # the exit status CTest reads as a skip (SKIP_RETURN_CODE 77)

# Open MPI as root, oversubscribed, without the shared-memory single copy
# that containers refuse: what every MPI test of this directory runs under.
MPI_ENV = {
    "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
    "OMPI_MCA_rmaps_base_oversubscribe": "1", "OMPI_MCA_btl_vader_single_copy_mechanism": "none",
    "OMPI_MCA_pml": "ob1", "OMPI_MCA_btl": "self,vader",
}


class MpiLauncher:
    """FindMPI's launch line: EXE NUMPROC_FLAG N PREFLAGS PROG POSTFLAGS ARGS."""

    def __init__(self, exe, numproc_flag="-n", preflags=(), postflags=()):
        self.exe = exe
        self.numproc_flag = numproc_flag or "-n"
        self.preflags = list(preflags)
        self.postflags = list(postflags)

    def cmd(self, n, prog, *args):
        return ([self.exe, self.numproc_flag, str(n)] + self.preflags + [str(prog)] + self.postflags +
                [str(a) for a in args])

    def __repr__(self):
        return f"MpiLauncher({' '.join(self.cmd('N', 'PROG'))})"

    @classmethod
    def from_env(cls, env=None, exe=None):
        """The launcher CTest describes in NNFI_MPIEXEC*, or `exe` (a command
        line option of a script), or mpiexec on PATH; None without any."""
        env = os.environ if env is None else env
        exe = exe or env.get("NNFI_MPIEXEC")
        if "NNFI_MPIEXEC" not in env and not exe:
            exe = shutil.which("mpiexec")  # by hand, outside CTest
        if not exe:
            return None
        return cls(exe, env.get("NNFI_MPIEXEC_NUMPROC_FLAG") or "-n",
                   shlex.split(env.get("NNFI_MPIEXEC_PREFLAGS", "")),
                   shlex.split(env.get("NNFI_MPIEXEC_POSTFLAGS", "")))


def mpi_env(base=None, drop_slurm=True):
    """os.environ (or base) with MPI_ENV, and without the SLURM_* variables
    that would make nnfi check the world size against a job."""
    e = dict(os.environ if base is None else base)
    e.update(MPI_ENV)
    if drop_slurm:
        for k in ("SLURM_NTASKS", "SLURM_JOB_ID"):
            e.pop(k, None)
    return e
