#!/usr/bin/env bash
# test_relative_paths.sh - relative paths inside a campaign resolve against the
# campaign file's directory, not the working directory: `nnfi plan`, `nnfi sites`
# and `nnfi run` are started from another directory on a campaign whose eval set
# (data/eval.h5) and, with torch, model file (models/lin.pt) are given relative
# to it. A copy of the campaign in the working directory, where those files do
# not exist, must fail (so the paths are really used). The campaign's own
# output.path lands next to the campaign too; `-o` is relative to the working
# directory, as for any command.
#
#   test_relative_paths.sh NNFI PYTHON WORKDIR [torch]
set -euo pipefail
nnfi=$1 py=$2 work=$3 torch=${4:-}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_pml=ob1 OMPI_MCA_btl=self,vader
fail() { echo "FAIL: $*" >&2; exit 1; }
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

rm -rf "$work"
mkdir -p "$work/project" "$work/elsewhere"
"$py" "$here/make_relative_fixtures.py" "$work/project" ${torch:+--torch}
model=mlp
{
  echo "# written by test_relative_paths.sh"
  echo "seed: 5"
  echo "models:"
  echo "  - {name: mlp, host: null, shape: {inputs: 16, hidden: 8, layers: 1, classes: 4}}"
  if [[ $torch == torch ]]; then
    echo "  - {name: lin, host: torch, path: models/lin.pt}"
    model=lin
  fi
  echo "eval: {path: data/eval.h5, samples: 24, batch: 8}"
  echo "experiments:"
  echo "  - {name: a, model: $model, trials: 2, groups: [{target: weight, count: 1}]}"
  echo "output: {path: rel_out.h5}"
} >"$work/project/camp.yaml"

cd "$work/elsewhere"
"$nnfi" plan ../project/camp.yaml >plan.txt || fail "nnfi plan ../project/camp.yaml from another directory"
grep -q "total: 2 trials" plan.txt || fail "plan did not count 2 trials: $(cat plan.txt)"
"$nnfi" plan "$work/project/camp.yaml" >/dev/null || fail "nnfi plan with an absolute campaign path"
"$nnfi" sites ../project/camp.yaml --model "$model" >sites.txt || fail "nnfi sites --model $model"
grep -q "^input " sites.txt || fail "nnfi sites lists no input site: $(cat sites.txt)"
"$nnfi" run ../project/camp.yaml -o run.h5 --progress off --quiet || fail "nnfi run from another directory"
[[ -f run.h5 ]] || fail "-o run.h5 is not in the working directory"
echo "ok: plan, sites (model $model) and run found data/eval.h5${torch:+ and models/lin.pt} next to the campaign"

# Controls: the same text in the working directory, with one of the files
# missing there: each must be refused naming that file (so each path is used).
cp ../project/camp.yaml camp.yaml
control() { # MISSING: the relative path that does not exist next to camp.yaml
  if "$nnfi" plan camp.yaml >control.txt 2>&1; then fail "a copy without $1 next to it loaded: the path is not used"; fi
  grep -q "$1" control.txt || fail "the control's error does not name $1: $(cat control.txt)"
  echo "ok: control without $1 refused: $(head -n 1 control.txt)"
}
if [[ $torch == torch ]]; then
  cp -r ../project/models models
  control data/eval.h5
  rm -r models
  cp -r ../project/data data
  control models/lin.pt
  rm -r data
else
  control data/eval.h5
fi

"$nnfi" run ../project/camp.yaml --progress off --quiet || fail "nnfi run with the campaign's output.path"
# output.path written in the campaign is relative to the campaign file, like every path in it
[[ -f ../project/rel_out.h5 ]] || fail "output.path rel_out.h5 was not written next to the campaign"
[[ ! -e rel_out.h5 ]] || fail "output.path rel_out.h5 was written in the working directory"
