#!/usr/bin/env bash
# compare_builds.sh - behaviour unchanged between two builds of nnfi: every
# campaign under campaigns/ (but critical-bit searches, which nnfi run refuses) and every test campaign is run with both binaries
# and the result files are compared, every dataset and attribute, except the
# volatile columns (rank, device, wall_s) and the provenance that names the
# run (times, git sha, host facts that are timings). Used for refactors: the
# issue "layered library" closed with it.
#
#   tests/refactor/compare_builds.sh OLD_NNFI NEW_NNFI MODELS_DIR [WORKDIR]
#
# MODELS_DIR: a trained model zoo (cmake --build build --target models); the
# campaigns' ../build/models paths are pointed at it. Exit 0 when every file
# matches, 1 otherwise (each difference printed).
set -uo pipefail
old=$1 new=$2 models=$3
work=${4:-$(mktemp -d)}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
py=${NNFI_PYTHON:-/usr/bin/python3}
mkdir -p "$work/build" "$work/campaigns" "$work/out"
ln -sfn "$models" "$work/build/models"
# campaigns: the shipped ones (their model paths are ../build/models/...) and the test ones
list=()
[[ -d "$root/campaigns/fault_models" ]] && cp -r "$root/campaigns/fault_models" "$work/campaigns/"  # hw-models.yaml, fixture-patterns.yaml
for f in "$root"/campaigns/*.yaml; do grep -q "search: {find" "$f" && continue; cp "$f" "$work/campaigns/"; list+=("$work/campaigns/$(basename "$f")"); done
for f in tests/campaign/small.yaml tests/merge/stop.yaml tests/drills/drill.yaml tests/valgrind/tiny.yaml \
         tests/bench/scaling_null.yaml containers/selftest.yaml; do
  [[ -f "$root/$f" ]] || continue
  d="$work/campaigns/t_$(basename "$(dirname "$f")")_$(basename "$f")"
  cp "$root/$f" "$d"
  list+=("$d")
done
status=0
for camp in "${list[@]}"; do
  name=$(basename "$camp" .yaml)
  for side in old new; do
    bin=$old; [[ $side == new ]] && bin=$new
    if ! (cd "$work/campaigns" && "$bin" run "$camp" -o "$work/out/$name.$side.h5" --force --quiet --progress off \
          >"$work/out/$name.$side.log" 2>&1); then
      echo "FAIL $name: the $side build's run failed (see $work/out/$name.$side.log)"
      status=1
      continue 2
    fi
  done
  if "$py" "$root/tests/refactor/compare_h5.py" "$work/out/$name.old.h5" "$work/out/$name.new.h5"; then
    echo "same $name"
  else
    echo "DIFF $name"
    status=1
  fi
done
exit $status
