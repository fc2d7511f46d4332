#!/usr/bin/env bash
# check_architecture.sh - the architecture's rules, checked on the source tree
# (label unit). Each rule prints a line; any broken rule fails the test.
#   1. no C/C++/CUDA source over 900 lines
#   2. no link-order workarounds (LINK_INTERFACE_MULTIPLICITY, LINK_GROUP RESCAN)
#   3. no exit/abort in library code: only src/cli and the comm plug-ins' abort slots
#   4. optional-dependency #ifdefs (NNFI_HAVE_*) only in src/registry
#   5. layers include only what is below them: src/base includes no plug-in,
#      engine or CLI header; plug-ins include no engine, registry or CLI header
#   6. src/cli/cmd_inspect.c makes no HDF5 call of its own
#   7. `nnfi schema` describes /faults (argument: the nnfi binary, optional)
#   8. analysis: stats.py does not import load.py
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
nnfi=${1:-}
cd "$root" || exit 1
fail=0
rule() { # rule NAME OFFENDERS...
  local name=$1
  shift
  if [[ $# -eq 0 || -z "$*" ]]; then
    echo "ok   $name"
  else
    echo "FAIL $name:"
    printf '       %s\n' "$@"
    fail=1
  fi
}
mapfile -t sources < <(git ls-files -co --exclude-standard -- src kernels include | grep -E '\.(c|h|cpp|cu|cuh)$')

mapfile -t long < <(for f in "${sources[@]}"; do [[ -f $f ]] && n=$(wc -l <"$f") && ((n > 900)) && echo "$f: $n lines"; done)
rule "no source file over 900 lines" "${long[@]}"

mapfile -t tricks < <(git ls-files -co --exclude-standard | grep -E '(CMakeLists\.txt|\.cmake)$' |
  xargs grep -ln 'LINK_INTERFACE_MULTIPLICITY\|RESCAN' 2>/dev/null)
rule "no link-order workarounds" "${tricks[@]}"

mapfile -t exits < <(grep -nE '\b(exit|abort|_Exit|quick_exit)\s*\(' "${sources[@]}" 2>/dev/null |
  grep -v '^src/cli/' | grep -v '^src/plugins/comm_[a-z]*/comm_[a-z]*\.c:.*_abort(' |
  grep -v '^src/base/comm\.c:.*nnfi_comm_abort' | grep -vE '^[^:]+:[0-9]+:\s*(/?\*|//)')
rule "no exit/abort outside the CLI and the comm abort slots" "${exits[@]}"

mapfile -t ifdefs < <(grep -nE '^\s*#\s*(if|ifdef|ifndef|elif).*NNFI_HAVE_' "${sources[@]}" 2>/dev/null | grep -v '^src/registry/')
rule "optional-dependency #ifdefs only in src/registry" "${ifdefs[@]}"

mapfile -t up < <(
  grep -nE '#include "(nnfi/(registry|worker|run|trial_pass|golden_sync|h5_results|h5_reader|eval_set)\.h|host_torch\.h|nccl_coll\.h|inject_apply\.cuh|cli\.h)"' \
    $(printf '%s\n' "${sources[@]}" | grep '^src/base/') 2>/dev/null
  grep -nE '#include "(nnfi/(registry|worker|run|trial_pass|golden_sync)\.h|cli\.h|coordinator\.h)"' \
    $(printf '%s\n' "${sources[@]}" | grep -E '^(src/plugins/|kernels/)') 2>/dev/null)
rule "layers include only what is below them" "${up[@]}"

mapfile -t h5 < <(grep -nE '\bH5[A-Z][a-z_]*\s*\(|<hdf5(_hl)?\.h>' src/cli/cmd_inspect.c)
rule "cmd_inspect.c makes no HDF5 calls" "${h5[@]}"

if [[ -n "$nnfi" ]]; then
  if "$nnfi" schema | /usr/bin/python3 -c 'import json,sys; s=json.load(sys.stdin); t=s["tables"]; sys.exit(0 if "/faults" in t and len(t["/faults"]["columns"]) > 0 and "/trials" in t else 1)'; then
    rule "nnfi schema describes /trials and /faults"
  else
    rule "nnfi schema describes /trials and /faults" "the schema JSON lacks tables./faults"
  fi
fi

mapfile -t imp < <(/usr/bin/python3 - analysis/nnfi_analysis/stats.py <<'PY'
import ast, sys
tree = ast.parse(open(sys.argv[1]).read())
for node in ast.walk(tree):  # every import, at any depth (inside functions too)
    if isinstance(node, ast.Import) and any(a.name.split(".")[-1] == "load" for a in node.names):
        print(f"line {node.lineno}: import of load")
    elif isinstance(node, ast.ImportFrom):
        mod = node.module or ""
        if mod.split(".")[-1] == "load" or any(a.name == "load" for a in node.names):
            print(f"line {node.lineno}: import from load")
PY
)
rule "stats.py does not import load.py" "${imp[@]}"

exit $fail
