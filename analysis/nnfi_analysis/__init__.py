"""nnfi_analysis - the one reader of nnfi's HDF5 result files.

    import nnfi_analysis as na
    res = na.load("out.h5")                 # Results: trials, points, experiments, provenance, columns
    s = na.summarize(res, threshold=0.4)    # per point, with t and Wilson intervals
    fig = na.plots.summary_figure(s)        # matplotlib Figure (Agg canvas)

Modules, in dependency order (no cycles):
  stats     intervals, Leveugle, Wilson, the group-wise summary (group_summary)
            and its per-point/experiment form (summarize); tables in, tables
            out: no file I/O, no import of load
  load      HDF5 -> a plain Results (trials, experiments, points, sites,
            golden, provenance); the package's `load` is its load()
            function, so import the module as `from nnfi_analysis.load import ...`
  strata    trials joined to /faults, stratified with stats.group_summary
  plots     figures (matplotlib, Agg)
  notebook  the notebooks' shared setup (which file, where outputs go)
  cli       `python3 -m nnfi_analysis`
The file layout is described in load.py and include/nnfi/h5_results.h.
"""
from . import critical_bits, patterns, plots, stats, strata
from .load import (
    Golden,
    NnfiFileError,
    Results,
    check_schema,
    columns,
    dataset,
    default_results_path,
    experiments,
    faults,
    golden,
    points,
    provenance,
    read_schema,
    sites,
    trials,
)
from .load import load, load_many
from .stats import (
    clopper_pearson_interval,
    crossing,
    exceedance,
    leveugle_sample_size,
    proportion_interval,
    group_summary,
    summarize,
    t_interval,
    wilson_interval,
)
from .strata import fault_table, layer_of, stratify, trial_strata
from . import notebook


def summarize_many(items, **kw):
    """stats.summarize_many of result files (paths, loaded here) or loaded
    Results, with a `file` column in front."""
    import os as _os

    if isinstance(items, (str, _os.PathLike, Results)):
        items = [items]
    return stats.summarize_many([load(x) if isinstance(x, (str, _os.PathLike)) else x for x in items], **kw)


__version__ = "0.1.0"

__all__ = [
    "Golden", "NnfiFileError", "Results", "check_schema", "columns", "crossing", "dataset",
    "default_results_path", "exceedance", "experiments", "faults", "golden", "leveugle_sample_size", "load",
    "plots", "points", "provenance", "read_schema", "sites", "stats", "summarize", "t_interval", "trials",
    "wilson_interval", "clopper_pearson_interval", "proportion_interval", "summarize_many", "load_many",
    "strata", "fault_table", "layer_of", "stratify", "trial_strata", "group_summary", "notebook",
]
