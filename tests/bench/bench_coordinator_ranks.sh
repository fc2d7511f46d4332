#!/usr/bin/env bash
# bench_coordinator_ranks.sh - does rank 0 keep up with many ranks? `nnfi run`
# of a campaign of very cheap trials (the null model, a tiny 8-8-4 MLP, 16
# eval samples in one batch of 16, one weight fault per trial, so a trial
# costs a few microseconds and the coordinator - handing out trial ranges,
# taking rows back, writing HDF5 - is what is measured) on 1 rank (a plain
# process), then under `mpirun --oversubscribe -np 16` and `-np 32`.
# Reports, per run: trials/s as `nnfi run` prints it and by the wall clock of
# the whole command (MPI start-up of every rank included); whether the result
# file is identical to the 1-rank file (tests/refactor/compare_h5.py; the root
# attribute world_size, which records the rank count, is the one difference
# allowed); how many trials rank 0 ran itself (/trials/rank) and rank 0's CPU
# time over the run's wall time (/usr/bin/time around rank 0 only): how busy
# the coordinator is.
# On a machine with fewer cores than ranks the ranks are oversubscribed
# (OMPI_MCA_mpi_yield_when_idle=1 then, as in bench_scaling.sh, so waiting
# ranks give their core back): the point is identical files and a throughput
# that does not collapse, not a speed-up.
#
# Run:  tests/bench/bench_coordinator_ranks.sh BUILD_DIR [OUT_DIR] [--trials N] [--ranks "1 16 32"]
#   OUT_DIR   campaign, result files, coordinator.csv (default BUILD_DIR/bench-results/coordinator)
#   --trials  trials in the campaign (default 3,000,000: ~10-20 s on 1 rank on 2 cores)
#   --ranks   rank counts (default "1 16 32"; the first is the reference, run as a plain process when 1)
# Open MPI as root: OMPI_ALLOW_RUN_AS_ROOT(_CONFIRM) are set here, with the
# shared-memory transport of the MPI tests (tests/common/nnfitest.py MPI_ENV).
# Needs mpirun and /usr/bin/python3 with h5py. Exit status 1 when a file differs.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
PY=/usr/bin/python3
trials=3000000
ranks="1 16 32"
pos=()
while [ $# -gt 0 ]; do
  case "$1" in
    --trials) trials=$2; shift ;;
    --ranks) ranks=$2; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "bench_coordinator_ranks.sh: unknown option $1" >&2; exit 2 ;;
    *) pos+=("$1") ;;
  esac
  shift
done
[ ${#pos[@]} -ge 1 ] || { echo "usage: tests/bench/bench_coordinator_ranks.sh BUILD_DIR [OUT_DIR] [--trials N] [--ranks LIST]" >&2; exit 2; }
build=$(realpath "${pos[0]}")
out=$(realpath -m "${pos[1]:-$build/bench-results/coordinator}")
[ -x "$build/src/nnfi" ] || { echo "bench_coordinator_ranks.sh: $build/src/nnfi is missing" >&2; exit 1; }
command -v mpirun >/dev/null || { echo "bench_coordinator_ranks.sh: no mpirun" >&2; exit 77; }
mkdir -p "$out"
cp "$build/src/nnfi" "$out/nnfi" # a rebuild during the run cannot swap the binary
nnfi=$out/nnfi
compare=$root/tests/refactor/compare_h5.py
csv=$out/coordinator.csv
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_pml=ob1 OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none
cores=$(nproc)
timer=
[ -x /usr/bin/time ] && timer=/usr/bin/time

cat >"$out/coordinator.yaml" <<YAML
# written by tests/bench/bench_coordinator_ranks.sh
name: coordinator
seed: 10
models:
  - {name: tiny, host: null, shape: {inputs: 8, hidden: 8, layers: 1, classes: 4}}
eval: {samples: 16, batch: 16}
experiments:
  - {name: w, model: tiny, groups: [{target: weight, count: 1}], trials: $trials}
output: {faults_max_n: 0}
YAML

echo "bench_coordinator_ranks: $trials trials of the null model (8-8-4 MLP, 16 samples, 1 weight fault each)"
echo "binary: $build/src/nnfi ($("$nnfi" --version 2>/dev/null | head -1)), copied to $nnfi"
echo "machine: $cores cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'); load $(cut -d' ' -f1-3 /proc/loadavg); $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "ranks,cores,trials,nnfi_tps,wall_s,wall_tps,rank0_trials,rank0_share,other_min,other_max,rank0_cpu_s,rank0_busy,identical" >"$csv"
# rank 0 alone runs under /usr/bin/time (CPU seconds into $R0); expanded by sh -c, not here
# shellcheck disable=SC2016
wrap='if [ "${OMPI_COMM_WORLD_RANK:-0}" = 0 ] && [ -n "$TIMER" ]; then exec "$TIMER" -f "%U %S %e" -o "$R0" "$0" "$@"; else exec "$0" "$@"; fi'
export TIMER=$timer
rows=()
fails=()
ref=
for k in $ranks; do
  h5=$out/coordinator-$k.h5
  export R0=$out/rank0-$k.txt
  rm -f "$R0"
  yield=0
  [ "$k" -gt "$cores" ] && yield=1
  export OMPI_MCA_mpi_yield_when_idle=$yield
  cmd=(sh -c "$wrap" "$nnfi" run "$out/coordinator.yaml" -o "$h5" --force --progress off)
  t0=$(date +%s.%N)
  if [ "$k" = 1 ]; then
    timeout 600 "${cmd[@]}" >"$h5.log" 2>&1 || { cat "$h5.log" >&2; exit 1; }
  else
    timeout 600 mpirun --oversubscribe -np "$k" "${cmd[@]}" >"$h5.log" 2>&1 || { cat "$h5.log" >&2; exit 1; }
  fi
  t1=$(date +%s.%N)
  wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b - a}')
  line=$(grep -m1 '^nnfi run:' "$h5.log" || true)
  rate=$(echo "$line" | grep -o '([0-9.]* trials/s)' | tr -d '(' | awk '{printf "%.0f", $1}')
  wrate=$(awk -v n="$trials" -v w="$wall" 'BEGIN{printf "%.0f", n / w}')
  read -r r0n r0share omin omax <<<"$("$PY" - "$h5" <<'PY'
import sys, h5py, numpy as np
r = h5py.File(sys.argv[1], "r")["trials/rank"][:]
c = np.bincount(r.astype(np.int64))
o = c[1:] if len(c) > 1 else np.array([0])
print(c[0], f"{c[0] / len(r):.4f}", o.min(), o.max())
PY
)"
  [ "$k" = 1 ] && omin=- omax=-
  cpu=- busy=-
  if [ -s "$R0" ]; then
    read -r u s e <<<"$(tail -1 "$R0")"
    cpu=$(awk -v u="$u" -v s="$s" 'BEGIN{printf "%.2f", u + s}')
    busy=$(awk -v c="$cpu" -v e="$e" 'BEGIN{printf "%.0f%%", 100 * c / e}')
  fi
  if [ -z "$ref" ]; then
    ref=$h5 same="(reference)"
  elif diff=$("$PY" "$compare" "$ref" "$h5" 2>&1); then
    same=PASS
  elif [ -z "$(echo "$diff" | grep -v '^  / @world_size: ' || true)" ]; then
    same=PASS
  else
    same=FAIL
    fails+=("$k ranks: $(echo "$diff" | head -5 | tr '\n' ';')")
  fi
  over=
  [ "$k" -gt "$cores" ] && over=" (oversubscribed)"
  printf '  %2d rank(s)%s: nnfi %s trials/s; wall %s s = %s trials/s; rank 0 ran %s trials (%s), others %s..%s; rank 0 CPU %s s (%s of the wall time); vs 1 rank: %s\n' \
    "$k" "$over" "$rate" "$wall" "$wrate" "$r0n" "$r0share" "$omin" "$omax" "$cpu" "$busy" "$same"
  echo "$k,$cores,$trials,$rate,$wall,$wrate,$r0n,$r0share,$omin,$omax,$cpu,$busy,$same" >>"$csv"
  rows+=("| $k$over | $rate | $wall | $wrate | $r0n ($(awk -v x="$r0share" 'BEGIN{printf "%.1f%%", 100 * x}')) | $omin..$omax | $cpu s ($busy) | $same |")
done
echo
echo "| ranks | trials/s (nnfi run) | wall s | trials/s (wall) | trials run by rank 0 | trials per other rank | rank 0 CPU (of wall) | identical to 1 rank |"
echo "|---|---:|---:|---:|---:|---:|---:|---|"
printf '%s\n' "${rows[@]}"
echo
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg); CSV: $csv"
if [ ${#fails[@]} -gt 0 ]; then
  echo "FILES DIFFER from the 1-rank file:"
  printf '  %s\n' "${fails[@]}"
  exit 1
fi
echo "identity checks: all PASS (world_size aside)"
