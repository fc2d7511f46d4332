#!/usr/bin/env bash
# device_runbook.sh - the GPU checks of nnfi on a machine with an NVIDIA GPU,
# CUDA PyTorch, nvcc and CMake but no apt and no network (the device machine
# lent to some sessions), in two steps:
#
#   tests/gpu/device_runbook.sh fetch
#       HERE, on Debian 12 with apt and a built tree: downloads the C
#       libraries that machine lacks (libcyaml, libyaml, serial HDF5, cmocka,
#       zlib headers, pkgconf and their runtime libraries) as .deb files, and
#       copies the trained CNN plus a 2,048-image eval file, all into
#       .devdeps/ (git-ignored, ~40 MiB: carry it with the working tree).
#   tests/gpu/device_runbook.sh build
#       unpack, configure and build only (also a check of this script on a
#       machine without a GPU: the configure must take every C library from
#       .devdeps/root)
#   tests/gpu/device_runbook.sh run [OUT_DIR]
#       THERE: unpacks the .debs into .devdeps/root, configures nnfi against
#       the CUDA libtorch of python3's torch (NNFI_WITH_MPI=OFF, serial HDF5),
#       builds, then
#         1. ctest -L gpu: cuda vs cpu backend, 1e6 faults per dtype, bit-identical
#         2. the CNN campaign tests/gpu/backends.yaml.in with device: cpu and
#            device: cuda, compared column by column (compare_backends.py);
#            2b. on cuda, the default run (packed rows, forwards resumed at
#            cuts) against --full-eval, bit for bit (compare_h5.py)
#         3. the overhead benchmark on the GPU (tests/bench/bench_overhead
#            --device cuda), N = 1 .. 1,000,000 weight and activation faults
#       and writes logs and CSVs to OUT_DIR (default .devdeps/out).
# Each step prints its figures; the script exits non-zero when a check fails.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
dev=$root/.devdeps
cmd=${1:-}

debs=(libcyaml1 libcyaml-dev libyaml-0-2 libyaml-dev libhdf5-103-1 libhdf5-hl-100 libhdf5-dev libsz2 libaec0
  libcurl4 libnghttp2-14 librtmp1 libssh2-1 libpsl5 libbrotli1 libldap-2.5-0 libsasl2-2 libgssapi-krb5-2 libkrb5-3
  libk5crypto3 libkrb5support0 libkeyutils1 libssl3 libcmocka0 libcmocka-dev zlib1g zlib1g-dev pkgconf pkgconf-bin
  libpkgconf3)

fetch() {
  mkdir -p "$dev/debs" "$dev/models"
  (cd "$dev/debs" && apt-get download "${debs[@]}") || { echo "apt-get download failed" >&2; exit 1; }
  local models=${NNFI_MODELS:-$root/build/models}
  [[ -f $models/cnn.pt ]] || { echo "no $models/cnn.pt: run 'cmake --build build --target models' first" >&2; exit 1; }
  cp "$models/cnn.pt" "$models/snn.pt" "$dev/models/"
  /usr/bin/python3 - "$models/fashion_mnist_test.h5" "$dev/models/fashion_mnist_test.h5" <<'PY'
import sys, h5py
src, dst = sys.argv[1:]
with h5py.File(src, "r") as a, h5py.File(dst, "w") as b:
    for k in a:  # the first 2048 samples of every dataset, attributes kept
        b.create_dataset(k, data=a[k][:2048], compression="gzip")
        for n, v in a[k].attrs.items(): b[k].attrs[n] = v
    for n, v in a.attrs.items(): b.attrs[n] = v
PY
  grep -qx '/.devdeps/' "$root/.git/info/exclude" 2>/dev/null || echo '/.devdeps/' >>"$root/.git/info/exclude"
  du -sh "$dev"
}

unpack() {
  local p=$dev/root
  rm -rf "$p" && mkdir -p "$p"
  for d in "$dev"/debs/*.deb; do
    if command -v dpkg-deb >/dev/null; then dpkg-deb -x "$d" "$p"
    else (cd "$p" && ar p "$d" data.tar.xz | tar -xJ); fi
  done
  # the -dev packages' .so links are absolute or relative to /usr: keep them inside the prefix
  find "$p" -type l | while read -r l; do
    t=$(readlink "$l"); [[ $t == /* ]] && ln -sfn "$p$t" "$l"; done
}

p=$dev/root
arch=x86_64-linux-gnu
b=$root/build-gpu

build_tree() {
  local out=$1
  mkdir -p "$out"
  unpack
  export PATH=$p/usr/bin:$PATH
  export LD_LIBRARY_PATH=$p/usr/lib/$arch:$p/usr/lib/$arch/hdf5/serial:$p/lib/$arch:${LD_LIBRARY_PATH:-}
  export PKG_CONFIG=$p/usr/bin/pkgconf PKG_CONFIG_SYSROOT_DIR=$p
  export PKG_CONFIG_LIBDIR=$p/usr/lib/$arch/pkgconfig:$p/usr/share/pkgconfig
  local py=${PYTHON:-python3} torch_prefix
  torch_prefix=$($py -c 'import torch; print(torch.utils.cmake_prefix_path)') || { echo "python3 has no torch" >&2; exit 1; }
  cmake -S "$root" -B "$b" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNNFI_WITH_MPI=OFF -DHDF5_PREFER_PARALLEL=OFF \
    -DCMAKE_PREFIX_PATH="$torch_prefix;$p/usr" -DCMAKE_LIBRARY_ARCHITECTURE=$arch -DNNFI_PYTHON="$(command -v "$py")" \
    -DCMAKE_CUDA_ARCHITECTURES=90 -DHDF5_C_COMPILER_EXECUTABLE="$p/no-h5cc" \
    -DHDF5_C_INCLUDE_DIR="$p/usr/include/hdf5/serial" -DHDF5_C_LIBRARY_hdf5="$p/usr/lib/$arch/hdf5/serial/libhdf5.so" \
    -DHDF5_C_LIBRARY_hdf5_hl="$p/usr/lib/$arch/hdf5/serial/libhdf5_hl.so" 2>&1 | tee "$out/configure.log" | grep -E "✓|✗|Error" || true
  cmake --build "$b" -j "$(nproc)" 2>&1 | tail -n 30 >"$out/build.log"
  [[ ${PIPESTATUS[0]} -eq 0 && -x $b/src/nnfi ]] || { tail -n 30 "$out/build.log"; echo "build failed" >&2; exit 1; }
  # every C library must come from the prefix, not from the system
  grep -E "^(pkgcfg_lib_[A-Za-z_]+|HDF5_C_LIBRARY_hdf5(_hl)?|HDF5_C_INCLUDE_DIR|ZLIB_LIBRARY_RELEASE):" "$b/CMakeCache.txt" | tee "$out/libs.txt"
  if grep -E "^(pkgcfg_lib_|HDF5_C_LIBRARY_hdf5|ZLIB_LIBRARY_RELEASE)" "$out/libs.txt" | grep -vq "$p"; then
    echo "warning: a C library above comes from the system, not from $p" >&2
  fi
}

run_checks() {
  local out=${1:-$dev/out} status=0 py=${PYTHON:-python3}
  build_tree "$out"
  nvidia-smi -L | tee "$out/device.txt"
  $py -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0))' | tee -a "$out/device.txt"

  echo "== 1. gpu tests (ctest -L gpu)"
  ctest --test-dir "$b" -L gpu --output-on-failure 2>&1 | tee "$out/gpu_tests.log" | tail -n 20 || status=1
  grep -q "100% tests passed" "$out/gpu_tests.log" || status=1

  echo "== 2. one CNN campaign, cpu backend vs cuda backend"
  for d in cpu cuda; do
    sed -e "s|@DEVICE@|$d|; s|@MODELS@|$dev/models|g" "$root/tests/gpu/backends.yaml.in" >"$out/backends-$d.yaml"
    "$b/src/nnfi" run "$out/backends-$d.yaml" -o "$out/backends-$d.h5" --force --progress off 2>&1 | tail -n 3 | tee "$out/run-$d.log"
  done
  $py "$root/tests/gpu/compare_backends.py" "$out/backends-cpu.h5" "$out/backends-cuda.h5" | tee "$out/compare.txt" || status=1

  echo "== 2b. the shortcuts on the GPU: cuda default (packed rows, suffix starts) vs cuda --full-eval"
  "$b/src/nnfi" plan "$out/backends-cuda.yaml" | grep -A5 "golden cache" | tee "$out/shortcuts-cuda.txt"
  "$b/src/nnfi" run "$out/backends-cuda.yaml" -o "$out/backends-cuda-full.h5" --force --progress off --full-eval 2>&1 | tail -n 3 | tee "$out/run-cuda-full.log"
  $py "$root/tests/refactor/compare_h5.py" "$out/backends-cuda.h5" "$out/backends-cuda-full.h5" | tee "$out/compare-shortcuts.txt" || status=1

  echo "== 3. overhead on the GPU, 1 .. 1e6 faults"
  "$b/tests/bench/bench_overhead" "$dev/models" --device cuda --models cnn,snn --reps 5 --kinds weight,activation,activation_sample --csv "$out/overhead_gpu.csv" \
    2>&1 | tee "$out/overhead_gpu.txt" || status=1
  echo "runbook done (status $status); results in $out"
  return $status
}

case $cmd in
  fetch) fetch ;;
  build) build_tree "${2:-$dev/out}" ;;
  run) shift; run_checks "$@" ;;
  *) sed -n '2,30p' "${BASH_SOURCE[0]}"; exit 2 ;;
esac
