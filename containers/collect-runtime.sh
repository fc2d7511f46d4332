#!/usr/bin/env bash
# collect-runtime.sh - gather what the nnfi command needs at run time, in the
# build stage of containers/Dockerfile (usable on any Debian/Ubuntu build):
#
#   containers/collect-runtime.sh BUILD_DIR DEST
#
# DEST/bin/nnfi                 the command
# DEST/lib/                     shared libraries built in BUILD_DIR (the torch host)
# DEST/share/runtime-packages.txt  the Debian/Ubuntu packages that own the other
#                               libraries nnfi and those link directly (dpkg -S; apt
#                               brings their dependencies), plus openmpi-bin
#                               (orted for singleton runs, mpirun); package names
#                               change between releases, so they are found, not kept
# DEST/share/install-runtime.sh installs the missing ones in the runtime stage
# DEST/share/selftest.sh, selftest.yaml   the container self-test
# DEST/share/slurm/             the Slurm templates (slurm/), for users of the image
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 BUILD_DIR DEST" >&2
  exit 2
fi
build=$(cd "$1" && pwd)
dest=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
bin=$build/src/nnfi
[[ -x $bin ]] || {
  echo "collect-runtime: $bin not found; hint: cmake --build $1 --target nnfi first" >&2
  exit 1
}

mkdir -p "$dest/bin" "$dest/lib" "$dest/share"
cp "$bin" "$dest/bin/nnfi"

# owner package of a library path; dpkg records /lib or /usr/lib depending on
# the release (merged /usr), so try the path as given, resolved, and aliased
owner() {
  local p real
  real=$(readlink -f "$1")
  for p in "$1" "$real" "${real#/usr}" "/usr$real"; do
    if dpkg -S "$p" >/dev/null 2>&1; then
      dpkg -S "$p" 2>/dev/null | head -n 1 | cut -d: -f1
      return 0
    fi
  done
  return 1
}

# every library the loader resolves for nnfi: NAME => PATH
declare -A path_of=()
while read -r name path; do
  path_of[$name]=$path
done < <(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $1, $3 }')

# libraries built here ship with the binary
built=()
for name in "${!path_of[@]}"; do
  lib=${path_of[$name]}
  case $(readlink -f "$lib") in
    "$build"/*)
      cp -L "$lib" "$dest/lib/"
      built+=("$lib")
      ;;
  esac
done

# the packages of the direct dependencies (NEEDED) of nnfi and of the built
# libraries; apt brings the rest as their dependencies
packages=(openmpi-bin)
while read -r name; do
  lib=${path_of[$name]:-}
  [[ -n $lib ]] || continue
  case $(readlink -f "$lib") in "$build"/*) continue ;; esac
  if pkg=$(owner "$lib"); then
    packages+=("$pkg")
  else
    echo "collect-runtime: warning: no package owns $lib (the runtime stage checks that it resolves)" >&2
  fi
done < <(for f in "$bin" "${built[@]}"; do readelf -d "$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; done | sort -u)
printf '%s\n' "${packages[@]}" | sort -u >"$dest/share/runtime-packages.txt"

cat >"$dest/share/install-runtime.sh" <<'EOF'
#!/usr/bin/env bash
# install-runtime.sh - install the packages of runtime-packages.txt that are
# missing (the runtime stage of containers/Dockerfile), then check that every
# library of the nnfi command resolves.
set -euo pipefail
share=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
missing=()
while read -r p; do
  [[ -n $p ]] || continue
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done <"$share/runtime-packages.txt"
if [[ ${#missing[@]} -gt 0 ]]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ldd "$share/../bin/nnfi" | grep "not found"; then
  echo "install-runtime: the libraries above do not resolve" >&2
  exit 1
fi
echo "install-runtime: ${#missing[@]} package(s) installed; nnfi's libraries resolve"
EOF
chmod +x "$dest/share/install-runtime.sh"

cp "$here/selftest.sh" "$here/selftest.yaml" "$dest/share/"
chmod +x "$dest/share/selftest.sh"
cp -r "$root/slurm" "$dest/share/slurm"
echo "collect-runtime: $dest: nnfi, $(find "$dest/lib" -type f | wc -l) built librar(y/ies)," \
  "$(wc -l <"$dest/share/runtime-packages.txt") runtime package(s)"
