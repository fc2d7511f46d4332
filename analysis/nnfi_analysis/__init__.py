"""nnfi_analysis - the one reader of nnfi's HDF5 result files.

    import nnfi_analysis as na
    res = na.load("out.h5")                 # Results: trials, points, experiments, provenance, columns
    s = na.summarize(res, threshold=0.4)    # per point, with t and Wilson intervals
    fig = na.plots.summary_figure(s)        # matplotlib Figure (Agg canvas)

Modules: nnfi_analysis.load (HDF5 -> pandas/xarray; the package's `load` is
its load() function, so import the module as `from nnfi_analysis.load import
...`), stats (intervals, Leveugle, Wilson,
summaries), plots (figures), cli (`python3 -m nnfi_analysis`). The file layout
is described in load.py and include/nnfi/h5_results.h.
"""
from . import plots, stats, strata
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
    summarize,
    summarize_many,
    t_interval,
    wilson_interval,
)
from .strata import fault_table, layer_of, stratify, trial_strata

__version__ = "0.1.0"

__all__ = [
    "Golden", "NnfiFileError", "Results", "check_schema", "columns", "crossing", "dataset",
    "default_results_path", "exceedance", "experiments", "faults", "golden", "leveugle_sample_size", "load",
    "plots", "points", "provenance", "read_schema", "sites", "stats", "summarize", "t_interval", "trials",
    "wilson_interval", "clopper_pearson_interval", "proportion_interval", "summarize_many", "load_many",
    "strata", "fault_table", "layer_of", "stratify", "trial_strata",
]
