#!/usr/bin/env bash
# bench_scaling.sh - trials/s of `nnfi run` on 1, 2 and 4 ranks (mpiexec) for
# independent trials: the null model (scaling_null.yaml) and the zoo CNN
# (scaling_cnn.yaml), and the parallel efficiency rate(K) / (K x rate(1)).
# Past the machine's core count ranks are oversubscribed (the efficiency that
# counts is up to nproc ranks; beyond it the figure shows the cost of
# oversubscription). Rows go to HDF5 as in any run.
#   tests/bench/bench_scaling.sh NNFI_BINARY MODELS_DIR [CSV] [--quick]
# --quick: 1 and 2 ranks, a tenth of the trials. MODELS_DIR "-" skips the CNN.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
nnfi=$(realpath "$1")
models=${2:--}
csv=${3:-}
quick=0
for a in "$@"; do [ "$a" = --quick ] && quick=1; done
[ "$csv" = --quick ] && csv=
[ -n "$csv" ] && csv=$(realpath -m "$csv")
[ "$models" != - ] && models=$(realpath "$models")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_pml=ob1 OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none
ranks="1 2 4"
[ $quick = 1 ] && ranks="1 2"
cores=$(nproc)
rate() { grep -o '([0-9.]* trials/s)' | tr -d '(' | awk '{print $1}'; }
[ -n "$csv" ] && echo "campaign,ranks,cores,trials_per_s,efficiency" >"$csv"
printf 'bench_scaling: nnfi run, 1 intra-op thread per rank, %s cores\n' "$cores"
for camp in null cnn; do
  src="$here/scaling_$camp.yaml"
  [ $camp = cnn ] && [ "$models" = - ] && { echo "  cnn: skipped (no models directory)"; continue; }
  sed -e "s|\.\./\.\./build/models|$models|g" "$src" >"$work/$camp.yaml"
  if [ $quick = 1 ]; then
    awk '/^ *trials: [0-9]+/ { sub(/[0-9]+/, int($2 / 10)) } 1' "$work/$camp.yaml" >"$work/$camp.q" &&
      mv "$work/$camp.q" "$work/$camp.yaml"
  fi
  r1=
  for k in $ranks; do
    # oversubscribed ranks must yield the core while they wait for MPI, or
    # their busy polling steals it from the ranks running trials
    yield=0
    [ "$k" -gt "$cores" ] && yield=1
    export OMPI_MCA_mpi_yield_when_idle=$yield
    if [ "$k" = 1 ]; then
      r=$(cd "$work" && "$nnfi" run "$camp.yaml" -o "$camp-$k.h5" --force --progress off | rate)
    else
      r=$(cd "$work" && mpiexec -n "$k" "$nnfi" run "$camp.yaml" -o "$camp-$k.h5" --force --progress off | rate)
    fi
    [ -z "$r1" ] && r1=$r
    eff=$(awk -v r="$r" -v a="$r1" -v k="$k" 'BEGIN{printf "%.3f", r / (k * a)}')
    over=""
    [ "$k" -gt "$cores" ] && over=" (oversubscribed: $k ranks on $cores cores)"
    printf '  %-4s %d rank(s): %10.1f trials/s  efficiency %s%s\n' "$camp" "$k" "$r" "$eff" "$over"
    [ -n "$csv" ] && echo "$camp,$k,$cores,$r,$eff" >>"$csv"
  done
done
