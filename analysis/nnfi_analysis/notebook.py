"""notebook.py - the setup every notebook of analysis/notebooks shares.

    import nnfi_analysis as na
    nb = na.notebook.setup("results")       # which file, where outputs go
    res = nb.res                            # the loaded Results (None if optional and absent)
    nb.save(fig, "summary.png")             # into nb.out_dir, never the source tree

Which result file (`setup(preset)`, the first candidate that exists):

  results      $NNFI_RESULTS, else the CTest fixture (default_results_path:
               $NNFI_FIXTURE, build*/tests/python/fixture.h5)
  strata       $NNFI_ZOO_RESULTS, BUILD/demo.h5, the single-fault fixture
               ($NNFI_FIXTURE_ANALYSIS, build*/tests/python/fixture-analysis.h5),
               the small fixture
  models       $NNFI_ZOO_RESULTS, BUILD/seed-claims.h5, BUILD/demo.h5, then as strata
  seed-claims  $NNFI_SEED_CLAIMS, BUILD/seed-claims.h5 (optional: required=False)

BUILD is $NNFI_BUILD_DIR, else build/ of the checkout. Or pass the
candidates yourself: "$VAR", a path (relative to the checkout), or
"fixture" / "fixture-analysis".

Where outputs go (`nb.out_dir`): $NNFI_NOTEBOOK_OUT, else
$NNFI_PY_WORK/notebook-out (CTest sets NNFI_PY_WORK to its build directory),
else a new temporary directory. A directory inside the source tree (other
than a build*/ directory) is refused: notebooks never write into the
checkout; copy a result by hand when you mean to commit it.
"""
from __future__ import annotations

import glob
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .load import NnfiFileError, Results, default_results_path, load

__all__ = ["ROOT", "PRESETS", "Setup", "setup", "find_results", "output_dir", "build_dir"]

ROOT = Path(__file__).resolve().parents[2]  # the checkout (analysis/nnfi_analysis/..)

PRESETS = {
    "results": ("$NNFI_RESULTS", "fixture"),
    "strata": ("$NNFI_ZOO_RESULTS", "{build}/demo.h5", "fixture-analysis", "fixture"),
    "models": ("$NNFI_ZOO_RESULTS", "{build}/seed-claims.h5", "{build}/demo.h5", "fixture-analysis", "fixture"),
    "seed-claims": ("$NNFI_SEED_CLAIMS", "{build}/seed-claims.h5"),
}


def build_dir() -> Path:
    """$NNFI_BUILD_DIR, else build/ of the checkout."""
    v = os.environ.get("NNFI_BUILD_DIR")
    return Path(v) if v else ROOT / "build"


def _newest(pattern: str) -> str | None:
    found = sorted(glob.glob(str(ROOT / pattern)), key=os.path.getmtime)
    return found[-1] if found else None


def _candidate(c: str) -> str | None:
    """A candidate as a path that exists, or None."""
    if c == "fixture":
        try:
            p = default_results_path()
        except NnfiFileError:
            return None
        return p if Path(p).exists() else None
    if c == "fixture-analysis":
        p = os.environ.get("NNFI_FIXTURE_ANALYSIS") or _newest("build*/tests/python/fixture-analysis.h5")
        return p if p and Path(p).exists() else None
    if c.startswith("$"):
        v = os.environ.get(c[1:])
        return v if v and Path(v).exists() else None
    p = Path(c.format(build=build_dir()))
    p = p if p.is_absolute() else ROOT / p
    return str(p) if p.exists() else None


def find_results(preset_or_candidates="results") -> str | None:
    """The first candidate result file that exists (see the module
    docstring), or None."""
    cands = PRESETS[preset_or_candidates] if isinstance(preset_or_candidates, str) else preset_or_candidates
    for c in cands:
        p = _candidate(str(c))
        if p:
            return p
    return None


def _in_source_tree(p: Path) -> bool:
    try:
        rel = p.resolve().relative_to(ROOT)
    except ValueError:
        return False
    return not (rel.parts and rel.parts[0].startswith("build"))


def output_dir() -> Path:
    """Where notebooks write: $NNFI_NOTEBOOK_OUT, $NNFI_PY_WORK/notebook-out,
    or a new temporary directory; created. Raises ValueError for a directory
    in the source tree (build*/ excepted)."""
    if os.environ.get("NNFI_NOTEBOOK_OUT"):
        d = Path(os.environ["NNFI_NOTEBOOK_OUT"])
    elif os.environ.get("NNFI_PY_WORK"):
        d = Path(os.environ["NNFI_PY_WORK"]) / "notebook-out"
    else:
        d = Path(tempfile.mkdtemp(prefix="nnfi-notebooks-"))
    if _in_source_tree(d):
        raise ValueError(f"{d}: notebook outputs never go into the source tree; "
                         "set NNFI_NOTEBOOK_OUT to a directory outside it (or under build/)")
    d.mkdir(parents=True, exist_ok=True)
    return d


@dataclass
class Setup:
    """What setup() found: the checkout, the result file and its Results
    (None where optional and absent), and the output directory."""

    root: Path
    path: str | None
    res: Results | None
    out_dir: Path

    def output(self, name: str) -> Path:
        """A path for an output file named `name` in out_dir."""
        return self.out_dir / name

    def save(self, fig, name: str, dpi: int = 120) -> str:
        """Write a figure into out_dir."""
        from .plots import save

        return save(fig, self.output(name), dpi=dpi)

    def __repr__(self) -> str:
        return f"<notebook setup: results {self.path or '(none)'}; outputs in {self.out_dir}>"


def setup(preset="results", required: bool = True, pandas_options: bool = True) -> Setup:
    """Find the result file (a PRESETS name or a list of candidates), load it,
    pick the output directory, set pandas display options. required=False
    gives res=None when no candidate exists; required=True raises
    NnfiFileError with a hint."""
    path = find_results(preset)
    if path is None and required:
        cands = PRESETS[preset] if isinstance(preset, str) else preset
        raise NnfiFileError(
            f"no result file among {list(cands)}\n"
            "  hint: export NNFI_RESULTS=out.h5, or build and run 'ctest -L python' to write the fixtures"
        )
    if pandas_options:
        import pandas as pd

        pd.set_option("display.width", 160)
        pd.set_option("display.max_columns", 40)
    nb = Setup(root=ROOT, path=path, res=load(path) if path else None, out_dir=output_dir())
    print(nb)
    return nb
