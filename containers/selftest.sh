#!/usr/bin/env bash
# selftest.sh - the container self-test: Apptainer's %test (containers/nnfi.def)
# and the last build step of containers/Dockerfile run it; it works as well
# with any nnfi on PATH (tests/containers runs it against the build tree):
#
#   selftest.sh            # uses selftest.yaml next to this script
#
# `nnfi --version`, `nnfi plan` and `nnfi run` of a tiny null-model campaign
# (no model file, no GPU, no network), the same campaign as two shards joined
# by `nnfi merge`, and `nnfi inspect` of the result. Exit 0 when all passed.
set -euo pipefail
share=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
campaign=$share/selftest.yaml
work=$(mktemp -d "${TMPDIR:-/tmp}/nnfi-selftest.XXXXXX")
trap 'rm -rf "$work"' EXIT
step() { printf '== selftest: %s\n' "$*"; }

step "nnfi --version"
nnfi --version
step "nnfi plan"
nnfi plan "$campaign" >"$work/plan.txt"
grep -q "total:" "$work/plan.txt" || {
  cat "$work/plan.txt"
  echo "selftest: FAIL: nnfi plan printed no total" >&2
  exit 1
}
step "nnfi run (one process)"
nnfi run "$campaign" -o "$work/whole.h5" --progress off --quiet
step "nnfi run --shard 0/2, 1/2 and nnfi merge"
nnfi run "$campaign" -o "$work/s0.h5" --shard 0/2 --progress off --quiet
nnfi run "$campaign" -o "$work/s1.h5" --shard 1/2 --progress off --quiet
nnfi merge "$work/s1.h5" "$work/s0.h5" -o "$work/merged.h5"
step "nnfi inspect"
nnfi inspect "$work/merged.h5" >"$work/inspect.txt"
grep -q "trials done" "$work/inspect.txt" || {
  cat "$work/inspect.txt"
  echo "selftest: FAIL: nnfi inspect shows no progress line" >&2
  exit 1
}
echo "selftest: ok"
