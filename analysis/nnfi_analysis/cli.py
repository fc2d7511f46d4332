"""cli.py - `python3 -m nnfi_analysis COMMAND ...`: the package from a shell.

  summary OUT.h5 [--format table|json|csv] [--by point|experiment]
                 [--threshold T] [--relative] [--confidence C]
      per point (or experiment): trials done/planned, mean accuracy and drop
      with t-intervals, P[SDC], P[critical SDC], P[DUE], P[drop > T] with
      Wilson intervals
  plot OUT.h5 -o FIG.png [--metric drop|accuracy] [--threshold T] [--relative]
      the summary figure (plots.summary_figure)
  plot OUT.h5 -o DIR [--overhead TABLE] [--multi exclude|first|each]
      every applicable figure into DIR (plots.all_figures): summary, models
      (vs faults per parameter), layer_bit, layers, bits, time_steps, overhead
  csv OUT.h5 -o TRIALS.csv [--all]
      the trials frame (done rows; --all: every planned row); -o - for stdout
  columns OUT.h5
      the /trials columns: dtype, unit, description, flags (from the file)

Exit status: 0 ok, 1 the file could not be read, 2 bad usage (argparse).
"""
from __future__ import annotations

import argparse
import json
import math
import sys

import pandas as pd

from . import __version__
from .load import NnfiFileError, columns, load, trials
from .stats import summarize


def _fmt_mean(m, hw):
    if not math.isfinite(m):
        return "-"
    return f"{m:.4f}" if not math.isfinite(hw) else f"{m:.4f} ± {hw:.4f}"


def _fmt_prop(k, n, p, lo, hi):
    if not n:
        return "-"
    return f"{p:.3f} [{lo:.3f}, {hi:.3f}]"


def _table(s: pd.DataFrame) -> str:
    t = s.attrs["threshold"]
    ci = f"{100 * s.attrs['confidence']:g}%"
    drop_name = "rel drop" if s.attrs.get("relative") else "drop"
    rows = {}
    for i, r in s.iterrows():
        row = {"experiment": r["experiment_name"]}
        if s.attrs["by"] == "point":
            row["point"] = r["point"]
            row["swept"] = r["point_label"]
        row["done/planned"] = f"{r['trials_done']}/{r['trials']}"
        row[f"accuracy ± {ci}"] = _fmt_mean(r["accuracy_mean"], r["accuracy_hw"])
        row[f"drop ± {ci}"] = _fmt_mean(r["drop_mean"], r["drop_hw"])
        for name, label in (("sdc", "P[SDC]"), ("critical_sdc", "P[crit SDC]"), ("due", "P[DUE]"),
                            ("drop_gt", f"P[{drop_name} > {t:g}]")):
            row[f"{label} [{ci}]"] = _fmt_prop(r[f"{name}_k"], r["trials_done"], r[f"{name}_p"], r[f"{name}_lo"],
                                               r[f"{name}_hi"])
        rows[i] = row
    return pd.DataFrame.from_dict(rows, orient="index").to_string(index=False)


def _json_value(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if hasattr(v, "item"):
        return _json_value(v.item())
    return v


def cmd_summary(a) -> int:
    res = load(a.file)
    s = summarize(res, threshold=a.threshold, confidence=a.confidence, by=a.by, relative=a.relative)
    if a.format == "json":
        doc = {
            "file": a.file,
            "campaign": res.provenance.get("campaign"),
            "trials_done": int(s["trials_done"].sum()),
            "trials": int(res.provenance["trials"]),
            "threshold": a.threshold,
            "confidence": a.confidence,
            "relative": a.relative,
            "by": a.by,
            "rows": [{k: _json_value(v) for k, v in r.items()} for r in s.to_dict(orient="records")],
        }
        json.dump(doc, sys.stdout, indent=1)
        print()
    elif a.format == "csv":
        s.to_csv(sys.stdout, index=False)
    else:
        p = res.provenance
        print(f"file      {a.file}")
        print(f"campaign  {p.get('campaign', '?')}  seed {p.get('seed')}  config hash {p.get('config_hash_hex', '?')}")
        print(f"nnfi      {p.get('nnfi_version', '?')} (git {p.get('git_sha', '?')}), schema {p.get('schema_version')}")
        print(f"progress  {int(s['trials_done'].sum())} / {p['trials']} trials done")
        print()
        print(_table(s))
    return 0


_IMAGE_EXT = (".png", ".pdf", ".svg", ".jpg", ".jpeg")


def cmd_plot(a) -> int:
    from .plots import all_figures, save, summary_figure

    res = load(a.file)
    if not str(a.output).lower().endswith(_IMAGE_EXT):  # a directory: every applicable figure
        written = all_figures(res, a.output, threshold=a.threshold, relative=a.relative, confidence=a.confidence,
                              overhead=a.overhead, dpi=a.dpi, multi=a.multi)
        for w in written:
            print(f"wrote {w}", file=sys.stderr)
        return 0
    s = summarize(res, threshold=a.threshold, confidence=a.confidence, relative=a.relative)
    fig = summary_figure(s, metric=a.metric, title=a.title or f"{res.provenance.get('campaign', a.file)}")
    save(fig, a.output, dpi=a.dpi)
    print(f"wrote {a.output}", file=sys.stderr)
    return 0


def cmd_csv(a) -> int:
    df = trials(a.file, done_only=not a.all)
    if a.output == "-":
        df.to_csv(sys.stdout)
    else:
        df.to_csv(a.output)
        print(f"wrote {a.output} ({len(df)} rows)", file=sys.stderr)
    return 0


def cmd_columns(a) -> int:
    c = columns(a.file)
    c = c.assign(flags=[" ".join(f"{v}={m}" for v, m in zip(fv, fm)) if fv is not None else ""
                        for fv, fm in zip(c["flag_values"], c["flag_meanings"])])
    with pd.option_context("display.max_colwidth", 80, "display.width", 200):
        print(c[["dtype", "unit", "volatile", "flags", "description"]].to_string())
    return 0


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python3 -m nnfi_analysis",
                                 description="Read nnfi result files: summaries with confidence intervals, "
                                             "plots, CSV export.")
    ap.add_argument("-V", "--version", action="version", version=f"nnfi_analysis {__version__}")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def stat_opts(p):
        p.add_argument("--threshold", type=float, default=0.4, help="accuracy-drop threshold for P[drop > T] "
                                                                      "(default 0.4)")
        p.add_argument("--relative", action="store_true", help="threshold the drop relative to golden accuracy")
        p.add_argument("--confidence", type=float, default=0.95, help="interval confidence level (default 0.95)")

    p = sub.add_parser("summary", help="per-point statistics with confidence intervals")
    p.add_argument("file", metavar="OUT.h5")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    p.add_argument("--by", choices=("point", "experiment"), default="point")
    stat_opts(p)
    p.set_defaults(fn=cmd_summary)

    p = sub.add_parser("plot", help="accuracy/drop and SDC/DUE rates with intervals, to an image")
    p.add_argument("file", metavar="OUT.h5")
    p.add_argument("-o", "--output", required=True, metavar="FIG.png|DIR",
                   help="an image (the summary figure) or a directory: every applicable figure as PNG")
    p.add_argument("--overhead", metavar="TABLE", help="with -o DIR: a benchmark table (faults, overhead ratio) "
                                                       "to draw as overhead.png")
    p.add_argument("--multi", choices=("exclude", "first", "each"), default="exclude",
                   help="with -o DIR: how trials with several faults enter the strata (default exclude)")
    p.add_argument("--metric", choices=("drop", "accuracy"), default="drop")
    p.add_argument("--title")
    p.add_argument("--dpi", type=int, default=120)
    stat_opts(p)
    p.set_defaults(fn=cmd_plot)

    p = sub.add_parser("csv", help="the trials table as CSV")
    p.add_argument("file", metavar="OUT.h5")
    p.add_argument("-o", "--output", required=True, metavar="TRIALS.csv", help="'-' for stdout")
    p.add_argument("--all", action="store_true", help="every planned row, not only done ones")
    p.set_defaults(fn=cmd_csv)

    p = sub.add_parser("columns", help="the /trials columns and their metadata")
    p.add_argument("file", metavar="OUT.h5")
    p.set_defaults(fn=cmd_columns)
    return ap


def main(argv=None) -> int:
    a = parser().parse_args(argv)
    if not 0 < getattr(a, "confidence", 0.5) < 1:
        print("nnfi_analysis: --confidence must be in (0, 1), e.g. 0.95", file=sys.stderr)
        return 2
    try:
        return a.fn(a)
    except NnfiFileError as e:
        print(f"nnfi_analysis {a.command}: {e}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `... | head`
        return 0
    except OSError as e:
        print(f"nnfi_analysis {a.command}: {e}\n  hint: check the output directory exists and is writable",
              file=sys.stderr)
        return 1

