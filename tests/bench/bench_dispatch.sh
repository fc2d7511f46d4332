#!/usr/bin/env bash
# bench_dispatch.sh - coordinator + HDF5 dispatch rate with the null model:
# 1,000,000 trials of a 2-2-2 null MLP with one eval sample (the trial itself
# costs about a microsecond), 1 rank and 2 ranks, rows written to HDF5. Prints
# trials/s as `nnfi run` measures it (dispatch, trials, rows to rank 0, the
# final checkpoint) and the 2-rank/1-rank ratio. Target: >= 100,000 trials/s.
#   tests/bench/bench_dispatch.sh [NNFI_BINARY] [TRIALS]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
nnfi=$(realpath "${1:-$here/../../build/src/nnfi}")
trials=${2:-1000000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/dispatch.yaml" <<YAML
name: dispatch
seed: 1
models:
  - {name: tiny, host: null, shape: {inputs: 2, hidden: 2, layers: 1, classes: 2}}
eval: {samples: 1, batch: 1}
experiments:
  - {name: e, model: tiny, groups: [{target: weight, count: 1}], trials: $trials}
output: {path: dispatch.h5, faults_max_n: 0}
YAML
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_pml=ob1 OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none
rate() { grep -o '([0-9.]* trials/s)' | tr -d '(' | awk '{print $1}'; }
cd "$work"
r1=$("$nnfi" run dispatch.yaml --force --progress off | rate)
r2=$(mpiexec -n 2 "$nnfi" run dispatch.yaml --force --progress off | rate)
printf 'bench_dispatch: %s trials, null model, HDF5 rows\n' "$trials"
printf '  1 rank : %12.0f trials/s\n  2 ranks: %12.0f trials/s\n  ratio 2/1: %.2f\n' "$r1" "$r2" "$(awk -v a="$r2" -v b="$r1" 'BEGIN{print a/b}')"
