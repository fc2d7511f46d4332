#!/usr/bin/env bash
# test_cli.sh - the nnfi command's contract: help/version, usage errors exit 2
# with a hint, runtime errors exit 1 with file:line:col, and `nnfi faults` is a
# pure function of (seed, experiment, point, trial) whichever way the trial is
# named. Usage: test_cli.sh NNFI_BINARY SOURCE_DIR
set -u
nnfi=$1
src=$2
camp="$src/campaigns/quickstart.yaml"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

# expect CODE PATTERN -- ARGS...: exit code and a grep -E pattern on stdout+stderr
expect() {
  local code=$1 pattern=$2
  shift 3
  local out rc
  out=$("$nnfi" "$@" 2>&1)
  rc=$?
  if [[ $rc -ne $code ]] || ! grep -qE -- "$pattern" <<<"$out"; then
    echo "FAIL: nnfi $* -> exit $rc (want $code), output:"
    printf '%s\n' "$out" | head -n 8
    echo "  (wanted /$pattern/)"
    fails=$((fails + 1))
  else
    echo "ok: nnfi $* -> $rc"
  fi
}

expect 0 "usage: nnfi <command>" -- --help
expect 0 "^nnfi [0-9]+\.[0-9]+\.[0-9]+ \(git " -- --version
expect 0 "libcyaml 1\." -- --version
expect 2 "usage: nnfi <command>" --
expect 2 "unknown command 'frobnicate'.*" -- frobnicate
expect 2 "no campaign file given" -- plan
expect 2 "unknown option '--bogus'" -- plan "$camp" --bogus
expect 2 "unexpected argument" -- plan "$camp" "$camp"
expect 2 "which trial\? give --trial K or --global G" -- faults "$camp"
expect 2 "--trial wants a whole number >= 0, got 'abc'" -- faults "$camp" --trial abc
expect 2 "--trial wants a whole number >= 0, got '-1'" -- faults "$camp" --trial -1
expect 2 "unknown format 'xml'" -- faults "$camp" --trial 0 --format xml
expect 2 "give --trial or --global, not both" -- faults "$camp" --trial 0 --global 0
expect 2 "--global already names the experiment" -- faults "$camp" --global 3 --point 1
expect 2 "--trial needs a value" -- faults "$camp" --trial
expect 2 "no experiment 'nope'.*" -- faults "$camp" --experiment nope --trial 0
expect 2 "hint: experiments: weights activations" -- faults "$camp" --experiment nope --trial 0
expect 2 "point 9 trial 0 does not exist" -- faults "$camp" --experiment weights --point 9 --trial 0
expect 2 "point 0 trial 100 does not exist" -- faults "$camp" --experiment weights --trial 100
expect 1 "cannot open campaign file" -- plan "$tmp/missing.yaml"
expect 1 "trial 985 is outside the plan" -- faults "$camp" --global 985
expect 0 "help|Print the faults" -- faults --help
expect 0 "total: 985 trials over 2 experiment" -- plan "$camp" --no-timing

expect 0 "fc2.weight +param +fp32 +\[512, 512\] +262144" -- sites "$camp"
expect 0 "# 662026 parameter and buffer elements" -- sites "$camp" --model mlp
expect 2 "no model or campaign file given" -- sites
expect 2 "has no model 'cnn'" -- sites "$camp" --model cnn
expect 2 "unknown format 'csv'" -- sites "$camp" --format csv
if ! "$nnfi" sites "$camp" --format json | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); assert len(d["sites"]) == 13 and d["sites"][1]["numel"] == 131072, d'; then
  echo "FAIL: sites --format json"
  fails=$((fails + 1))
fi

# a malformed file: line and column of the offending token
printf 'seed: 1\nmodels:\n  - name: m\n    host: nul\nexperiments: []\n' >"$tmp/bad.yaml"
expect 1 "bad.yaml:4:11: models\[0\]\.host: unknown value 'nul'" -- plan "$tmp/bad.yaml"
expect 1 "did you mean 'null'" -- plan "$tmp/bad.yaml"

# a selector that matches nothing names the field and lists the sites there are
sed 's/sites: \["fc\*"\]/sites: ["conv*"]/' "$camp" >"$tmp/nomatch.yaml"
expect 1 "nomatch.yaml:[0-9]+:[0-9]+: experiments\[0\]\.groups\[0\]\.sites: group 'g0' selects no site" -- plan "$tmp/nomatch.yaml"
expect 1 "available weight sites: fc1.weight fc2.weight fc3.weight fc4.weight" -- plan "$tmp/nomatch.yaml"

# bits that a dtype does not have
sed 's/bits: {preset: exponent, count: 1}/bits: {range: [30, 40]}/' "$camp" >"$tmp/widebits.yaml"
expect 1 "names bits beyond the width of dtype fp32" -- faults "$tmp/widebits.yaml" --trial 0

# determinism: the same trial named two ways, twice, in three formats
for fmt in table csv json; do
  "$nnfi" faults "$camp" --experiment weights --point 3 --trial 42 --format "$fmt" >"$tmp/a.$fmt"
  "$nnfi" faults "$camp" --global 342 --format "$fmt" >"$tmp/b.$fmt"
  if ! cmp -s "$tmp/a.$fmt" "$tmp/b.$fmt"; then
    echo "FAIL: --global 342 and --experiment weights --point 3 --trial 42 differ ($fmt)"
    fails=$((fails + 1))
  fi
done
lines=$(grep -c '^g0,' "$tmp/a.csv")
if [[ $lines -ne 1000 ]]; then
  echo "FAIL: point 3 should have 1000 faults, csv has $lines rows"
  fails=$((fails + 1))
fi
if ! /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert len(d["faults"]) == 1000, len(d["faults"])' "$tmp/a.json"; then
  echo "FAIL: JSON output does not parse or has the wrong fault count"
  fails=$((fails + 1))
fi
# another trial gives other faults
"$nnfi" faults "$camp" --global 343 --format csv >"$tmp/c.csv"
if cmp -s "$tmp/a.csv" "$tmp/c.csv"; then
  echo "FAIL: trials 342 and 343 have identical faults"
  fails=$((fails + 1))
fi

if [[ $fails -ne 0 ]]; then
  echo "$fails check(s) failed"
  exit 1
fi
echo "all CLI checks passed"
