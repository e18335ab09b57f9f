#!/bin/sh
# cnn.sh - clann vs PyTorch on the Fashion-MNIST CNN (conv 16 3x3 + ReLU + max pool 2, conv 32
# 3x3 + ReLU + max pool 2, dense 128, dense 10; Adam 1e-3 at a constant rate; batch 128) as a
# whole job: `clann train` (read the data, EPOCHS epochs, evaluate the test set) on the CPU
# backend (and with OPENCL=1 on the first OpenCL device too), and tests/bench/torch_cnn.py with 1
# and 2 threads. Rounds alternate the two so that other load hits both alike; the medians of the
# wall times are compared. Not part of the unit test suite.
#
#     tests/bench/cnn.sh [BUILD_DIR] [EPOCHS]        (defaults: build, 1; ROUNDS=3, OPENCL=0)
#
# OpenCL is opt-in: on PoCL (2 cores, heavily loaded) one epoch of this model takes about 3.3x
# the CPU backend's time (over 10 minutes before conv2d's batched GEMMs); for steps/s and a
# per-op profile on one device see build/tests/bench-cnn-steps (tests/bench/cnn_steps.c).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
build=${1:-build}
epochs=${2:-1}
rounds=${ROUNDS:-3}
clann="$build/src/cli/clann"
[ -x "$clann" ] || { echo "cnn.sh: no $clann (build first)" >&2; exit 1; }
py=${PYTHON:-/usr/bin/python3}
"$py" -c 'import torch' 2>/dev/null || { echo "cnn.sh: $py has no torch (apt-get install python3-torch)" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

has_opencl=no
[ "${OPENCL:-0}" = 1 ] && "$clann" devices 2>/dev/null | grep -q 'opencl:' && has_opencl=yes

# Wall seconds of one clann job on device $1, appended to $out/clann-$1; its test accuracy too.
clann_job() {
    t0=$(date +%s.%N)
    # --no-batchnorm: the same network as torch_cnn.py's (clann's CNN default adds batch norm)
    "$clann" train --data fashion-mnist --conv 16x3,32x3 --hidden 128 --no-batchnorm \
        --lr 0.001 --lr-decay 1 \
        --epochs "$epochs" --device "$1" --out "$out/model.safetensors" --quiet --json \
        > "$out/run.json"
    t1=$(date +%s.%N)
    echo "$t0 $t1" | awk '{printf "%.2f\n", $2 - $1}' >> "$out/clann-$1"
    tr -d '\n' < "$out/run.json" | sed -n 's/.*"test_accuracy": *\([0-9.]*\).*/\1/p' >> "$out/acc-$1"
}

for r in $(seq "$rounds"); do
    echo "round $r/$rounds" >&2
    clann_job cpu
    [ "$has_opencl" = yes ] && clann_job opencl
    "$py" "$here/torch_cnn.py" --threads 1,2 --epochs "$epochs" --json > "$out/torch.json"
    for t in 1 2; do
        grep "\"threads\": $t," "$out/torch.json" | sed -n 's/.*"wall_s": *\([0-9.]*\).*/\1/p' >> "$out/torch-$t"
        grep "\"threads\": $t," "$out/torch.json" | sed -n 's/.*"test_accuracy": *\([0-9.]*\).*/\1/p' >> "$out/acc-torch-$t"
    done
done

median() { [ -s "$1" ] || { echo 0; return; }; sort -n "$1" | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

cpu=$(median "$out/clann-cpu"); ocl=$(median "$out/clann-opencl")
t1=$(median "$out/torch-1"); t2=$(median "$out/torch-2")
awk -v cpu="$cpu" -v ocl="$ocl" -v t1="$t1" -v t2="$t2" -v e="$epochs" -v r="$rounds" \
    -v a="$(median "$out/acc-cpu")" -v ao="$(median "$out/acc-opencl")" \
    -v a1="$(median "$out/acc-torch-1")" -v a2="$(median "$out/acc-torch-2")" 'BEGIN {
    cpu += 0; ocl += 0; t1 += 0; t2 += 0
    best = (t2 > 0 && t2 < t1) ? t2 : t1
    printf "Fashion-MNIST CNN (conv16-pool-conv32-pool-128-10), Adam 1e-3, batch 128, %d epoch(s),\n", e
    printf "whole job (load, train, test), median of %d rounds\n", r
    printf "  %-28s %8.1f s  test accuracy %s\n", "clann cpu", cpu, a
    if (ocl > 0) printf "  %-28s %8.1f s  test accuracy %s\n", "clann opencl (first device)", ocl, ao
    printf "  %-28s %8.1f s  test accuracy %s\n", "pytorch, 1 thread", t1, a1
    printf "  %-28s %8.1f s  test accuracy %s\n", "pytorch, 2 threads", t2, a2
    if (cpu > 0) printf "speed clann cpu / pytorch best: %.2fx\n", best / cpu
    if (ocl > 0) printf "speed clann opencl / pytorch best: %.2fx\n", best / ocl
}'
