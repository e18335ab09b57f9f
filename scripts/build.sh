#!/usr/bin/env bash
# Installs what is missing (Debian 12, as root or with sudo), configures and builds clann in
# ./build. Extra arguments go to `meson setup` (e.g. -Dwerror=true).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
    meson ninja-build pkg-config gcc python3 clang
    ocl-icd-opencl-dev opencl-headers opencl-c-headers pocl-opencl-icd clinfo
    libclblast-dev libopenblas-dev libjson-c-dev zlib1g-dev libxxhash-dev
    check libsubunit-dev python3-sklearn python3-numpy
    libopenmpi-dev openmpi-bin oclgrind
    chromium
    dataset-fashion-mnist
)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "installing: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ -f build/build.ninja ]; then
    meson setup --reconfigure build "$@" > /dev/null
else
    meson setup build "$@"
fi
ninja -C build
