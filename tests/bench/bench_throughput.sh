#!/usr/bin/env bash
# bench_throughput.sh - trials/s of `nnfi run` with its shortcuts (the default:
# calls no fault reaches keep the golden logits, one-sample transient faults of
# many trials packed into shared forward calls, forwards started from cached
# golden activations at the host's cuts) against `nnfi run --full-eval` (the
# reference path: every trial, every sample, every layer), and a check that
# both paths write identical result files.
#
# Models: the zoo CNN and SNN (BUILD_DIR/models/{cnn,snn}.pt), eval set
# BUILD_DIR/models/fashion_mnist_test.h5, 1,024 samples, batch 256, one
# intra-op thread, one rank. Cases, each an experiment of its own campaign
# file (so each is timed on its own):
#   a  transient activation fault, scope sample, count 1, exponent bits, flip
#   b  1 weight fault over all weights
#   c  1 weight fault in the last layer only (its *.weight site, read from
#      `nnfi sites MODEL.pt`: fc2.weight in both zoo models)
#   d  100 weight faults
#   e  100,000 weight faults
#   f  permanent activation fault, count 1
#   g  transient input fault, scope sample, count 1
# Per case, in this order (alternating, so machine noise hits both paths):
#   1. default path on the identity campaign (N_ID trials: CNN 16, SNN 64),
#   2. --full-eval on the same campaign file (timed: the full-eval rate),
#      then compare_h5.py on the two files: PASS / FAIL,
#   3. when the default run's trials after the first (whose row holds the
#      set-up) took under ~3 s in all, a default run on a larger campaign of
#      the same case (trials sized from that per-trial time for ~4 s, up to 2
#      rounds, at most 200,000 trials) to time it well.
# Rates: trials / wall clock of the whole `nnfi run ... --quiet --progress off
# --force -o FILE` process (nothing subtracted: start-up, model load, golden
# run, shortcut set-up and HDF5 writes included), and trials / the sum of the
# file's /trials/wall_s column (per-trial time; the first trial's row also
# holds the golden run and shortcut set-up), and "steady": trials after the
# first / their summed wall_s (what a long campaign approaches). Speed-ups
# compare those rates.
# The golden cache size is what `nnfi plan` prints for it, when it does.
#
# Run:  tests/bench/bench_throughput.sh BUILD_DIR [OUT_DIR] [--models DIR] [--demo]
#   OUT_DIR  campaign files, result files, throughput.csv and the log
#            (default BUILD_DIR/bench-results/throughput)
#   --models the model zoo (default BUILD_DIR/models)
#   --demo   also time campaigns/demo.yaml (its model paths pointed at
#            BUILD_DIR/models) with and without --full-eval and compare the
#            two files (several minutes on 2 cores)
# Takes about 5 minutes on 2 cores without --demo. The binary is copied to
# OUT_DIR at the start so that a rebuild during the run cannot mix binaries.
# Needs /usr/bin/python3 with h5py. Exit status 1 when an identity check fails.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
PY=/usr/bin/python3
demo=0
models=
pos=()
while [ $# -gt 0 ]; do
  case "$1" in
    --demo) demo=1 ;;
    --models) models=$(realpath "$2"); shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "bench_throughput.sh: unknown option $1" >&2; exit 2 ;;
    *) pos+=("$1") ;;
  esac
  shift
done
[ ${#pos[@]} -ge 1 ] || { echo "usage: tests/bench/bench_throughput.sh BUILD_DIR [OUT_DIR] [--models DIR] [--demo]" >&2; exit 2; }
build=$(realpath "${pos[0]}")
out=$(realpath -m "${pos[1]:-$build/bench-results/throughput}")
models=${models:-$build/models}
evalset=$models/fashion_mnist_test.h5
for f in "$build/src/nnfi" "$models/cnn.pt" "$models/snn.pt" "$evalset"; do
  [ -e "$f" ] || { echo "bench_throughput.sh: $f is missing (cmake --build BUILD_DIR; --target models for the zoo)" >&2; exit 1; }
done
mkdir -p "$out"
cp "$build/src/nnfi" "$out/nnfi"
nnfi=$out/nnfi
compare=$root/tests/refactor/compare_h5.py
csv=$out/throughput.csv

now() { date +%s.%N; }
# h5 FILE -> "N SUM STEADY": rows, sum of wall_s, mean wall_s of rows 1.. (per-trial cost after set-up)
h5stats() {
  "$PY" - "$1" <<'PY'
import sys, h5py
w = h5py.File(sys.argv[1], "r")["trials/wall_s"][:]
steady = w[1:].mean() if len(w) > 1 else w.sum()
print(len(w), f"{w.sum():.6f}", f"{steady:.6g}")
PY
}
# campaign MODEL CASE GROUP TRIALS FILE
campaign() {
  cat >"$5" <<YAML
# written by tests/bench/bench_throughput.sh
name: tp-$1-$2
seed: 2026
models:
  - {name: $1, host: torch, path: $models/$1.pt, threads: 1}
eval: {path: $evalset, samples: 1024, batch: 256}
experiments:
  - {name: $2, model: $1, groups: [$3], trials: $4}
YAML
}
# timed_run YAML H5 [--full-eval] -> wall seconds on stdout
timed_run() {
  local t0 t1
  t0=$(now)
  "$nnfi" run "$1" -o "$2" --quiet --progress off --force ${3:+"$3"} >"$2.log" 2>&1 ||
    { echo "bench_throughput.sh: nnfi run $1 ${3:-} failed:" >&2; cat "$2.log" >&2; return 1; }
  t1=$(now)
  awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b - a}'
}
div() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.1f", a / b; else printf "-" }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0 && a != "-" && b != "-") printf "%.1fx", a / b; else printf "-" }'; }

echo "bench_throughput: nnfi run (shortcuts, the default) vs nnfi run --full-eval"
echo "binary: $build/src/nnfi ($("$nnfi" --version 2>/dev/null | head -1)), copied to $nnfi"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'); load $(cut -d' ' -f1-3 /proc/loadavg); $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "eval: 1024 Fashion-MNIST test samples, batch 256, 1 intra-op thread, 1 rank"
echo "rates: wall = trials / wall clock of the whole nnfi run process (start-up, golden run, set-up, HDF5"
echo "  included; nothing subtracted); sum = trials / sum of /trials/wall_s (first row holds the golden run)"
echo

cases=(
  "a|transient act. 1/sample|{target: activation, persistence: transient, scope: sample, count: 1, bits: {preset: exponent}, op: flip}"
  "b|1 weight fault|{target: weight, count: 1}"
  "c|1 weight fault, last layer|{target: weight, sites: [\"@LAST@\"], count: 1}"
  "d|100 weight faults|{target: weight, count: 100}"
  "e|100,000 weight faults|{target: weight, count: 100000}"
  "f|permanent act. 1|{target: activation, persistence: permanent, count: 1}"
  "g|transient input 1/sample|{target: input, persistence: transient, scope: sample, count: 1}"
)
echo "model,case,what,trials_default,trials_full,default_wall_s,default_sum_s,full_wall_s,full_sum_s,default_tps_wall,default_tps_sum,full_tps_wall,full_tps_sum,speedup_wall,speedup_sum,default_tps_steady,full_tps_steady,speedup_steady,identical" >"$csv"
rows=()
fails=()
for model in cnn snn; do
  nid=16
  [ $model = snn ] && nid=64
  last=$("$nnfi" sites "$models/$model.pt" | awk '$2 == "param" && $1 ~ /\.weight$/ { w = $1 } END { print w }')
  echo "== $model: last layer's weight site: $last; identity campaigns: $nid trials"
  # the golden cache, as nnfi plan reports it (when this build does)
  campaign $model b "{target: weight, count: 1}" 1 "$out/$model-plan.yaml"
  cache=$("$nnfi" plan "$out/$model-plan.yaml" 2>&1 | grep -i -A2 'cache' | sed 's/^/   plan: /' || true)
  [ -n "$cache" ] || cache="   plan: (nnfi plan of this build prints no golden cache line)"
  echo "$cache"
  for spec in "${cases[@]}"; do
    IFS='|' read -r c what group <<<"$spec"
    group=${group//@LAST@/$last}
    base=$out/$model-$c
    campaign $model "$c" "$group" $nid "$base-id.yaml"
    wd=$(timed_run "$base-id.yaml" "$base-default.h5")
    wf=$(timed_run "$base-id.yaml" "$base-full.h5" --full-eval)
    if cmp=$("$PY" "$compare" "$base-default.h5" "$base-full.h5" 2>&1); then same=PASS; else
      same=FAIL
      fails+=("$model $c ($what): $(echo "$cmp" | head -5 | tr '\n' ';')")
    fi
    read -r nd sd std <<<"$(h5stats "$base-default.h5")"
    read -r nf sf stf <<<"$(h5stats "$base-full.h5")"
    # time the default path on more trials when this run was too short to time
    round=0
    while [ $round -lt 2 ] && awk -v st="$std" -v n="$nd" 'BEGIN{exit !(st * (n - 1) < 3.0)}'; do
      n=$(awk -v st="$std" -v n="$nd" 'BEGIN{ k = (st > 0) ? int(4.0 / st) : 200000;
            if (k > 200000) k = 200000; if (k < 2 * n) k = 2 * n; print k }')
      [ "$n" -le "$nd" ] && break
      campaign $model "$c" "$group" "$n" "$base-big.yaml"
      wd=$(timed_run "$base-big.yaml" "$base-default-big.h5")
      read -r nd sd std <<<"$(h5stats "$base-default-big.h5")"
      round=$((round + 1))
      [ "$nd" -ge 200000 ] && break
    done
    tdw=$(div "$nd" "$wd"); tds=$(div "$nd" "$sd"); tfw=$(div "$nf" "$wf"); tfs=$(div "$nf" "$sf")
    spw=$(ratio "$tdw" "$tfw"); sps=$(ratio "$tds" "$tfs")
    tdy=$(div 1 "$std"); tfy=$(div 1 "$stf"); spy=$(ratio "$tdy" "$tfy")
    echo "$model,$c,$what,$nd,$nf,$wd,$sd,$wf,$sf,$tdw,$tds,$tfw,$tfs,${spw%x},${sps%x},$tdy,$tfy,${spy%x},$same" >>"$csv"
    printf '   %s %-28s default %6d trials %6.2f s wall %6.2f s sum %8.4f s/trial steady | full-eval %3d trials %6.2f s wall %6.2f s sum %8.4f s/trial steady | %s\n' \
      "$c" "$what" "$nd" "$wd" "$sd" "$std" "$nf" "$wf" "$sf" "$stf" "$same"
    rows+=("| $model | $c: $what | $nd / $nf | $tdw | $tds | $tdy | $tfw | $tfs | $tfy | $spw | $sps | $spy | $same |")
  done
done

echo
echo "trials/s. wall: trials / wall clock of the whole process (golden run included, nothing subtracted); sum: trials /"
echo "summed /trials/wall_s (first row: golden run + set-up); steady: rows after the first. identical: compare_h5.py on"
echo "the same campaign (16 CNN / 64 SNN trials) run both ways"
echo
echo "| model | case | trials default / full | default wall | default sum | default steady | full-eval wall | full-eval sum | full-eval steady | speed-up wall | speed-up sum | speed-up steady | identical |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
printf '%s\n' "${rows[@]}"

if [ $demo = 1 ]; then
  echo
  echo "== demo: campaigns/demo.yaml (model paths -> $models), default then --full-eval, 1 rank"
  sed -e "s|\.\./build/models|$models|g" "$root/campaigns/demo.yaml" >"$out/demo.yaml"
  wd=$(timed_run "$out/demo.yaml" "$out/demo.h5")
  wf=$(timed_run "$out/demo.yaml" "$out/demo-full.h5" --full-eval)
  if cmp=$("$PY" "$compare" "$out/demo.h5" "$out/demo-full.h5" 2>&1); then same=PASS; else
    same=FAIL
    fails+=("demo: $(echo "$cmp" | head -5 | tr '\n' ';')")
  fi
  read -r nd _ _ <<<"$(h5stats "$out/demo.h5")"
  echo "   time nnfi run demo.yaml -o demo.h5 --force --quiet:             $wd s ($nd trials, $(div "$nd" "$wd") trials/s)"
  echo "   time nnfi run demo.yaml -o demo-full.h5 --force --quiet --full-eval: $wf s ($(div "$nd" "$wf") trials/s)"
  echo "   speed-up $(ratio "$wf" "$wd"); identical: $same"
  echo "demo,all,demo.yaml,$nd,$nd,$wd,,$wf,,$(div "$nd" "$wd"),,$(div "$nd" "$wf"),,$(ratio "$wf" "$wd" | tr -d x),,,,,$same" >>"$csv"
fi

echo
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg); CSV: $csv"
if [ ${#fails[@]} -gt 0 ]; then
  echo "IDENTITY CHECKS FAILED (default path != --full-eval):"
  printf '  %s\n' "${fails[@]}"
  exit 1
fi
echo "identity checks: all PASS"
