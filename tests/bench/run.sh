#!/bin/sh
# run.sh - clann vs PyTorch on the Fashion-MNIST MLP (784-256-128-10, ReLU, Adam, batch 128), in
# one go on the same machine: `clann bench` on the CPU backend (1 and 2 threads) and on the first
# OpenCL device when there is one, then tests/bench/torch_mlp.py with 1 and 2 threads; prints
# samples/s and the ratio clann / PyTorch's best. Not part of the unit test suite.
#
#     tests/bench/run.sh [BUILD_DIR] [STEPS]        (defaults: build, 1000)
#
# Rounds alternate clann and PyTorch (ROUNDS, default 3) and the medians are compared, so that
# other load on the machine hits both alike. OpenBLAS settings in the environment
# (OPENBLAS_CORETYPE, ...) are passed to both unchanged.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
build=${1:-build}
steps=${2:-1000}
rounds=${ROUNDS:-3}
clann="$build/src/cli/clann"
[ -x "$clann" ] || { echo "run.sh: no $clann (build first)" >&2; exit 1; }
py=${PYTHON:-/usr/bin/python3}
"$py" -c 'import torch' 2>/dev/null || { echo "run.sh: $py has no torch (apt-get install python3-torch)" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# One JSON result per line in $out/NAME; the value of "samples_per_s".
rate() { sed -n 's/.*"samples_per_s": *\([0-9.]*\).*/\1/p' | head -n 1; }

has_opencl=no
"$clann" devices 2>/dev/null | grep -q 'opencl:' && has_opencl=yes

for r in $(seq "$rounds"); do
    echo "round $r/$rounds" >&2
    for t in 1 2; do
        "$clann" bench --device cpu --threads "$t" --steps "$steps" --repeat 1 --json \
            | tr -d '\n' | rate >> "$out/clann-cpu-$t"
    done
    if [ "$has_opencl" = yes ]; then
        "$clann" bench --device opencl --steps "$((steps / 4))" --repeat 1 --json 2>/dev/null \
            | tr -d '\n' | rate >> "$out/clann-opencl" || true
    fi
    "$py" "$here/torch_mlp.py" --threads 1,2 --steps "$steps" --repeat 1 --json > "$out/torch.json"
    grep '"threads": 1,' "$out/torch.json" | rate >> "$out/torch-1"
    grep '"threads": 2,' "$out/torch.json" | rate >> "$out/torch-2"
done

median() { sort -n "$1" | awk '{v[NR] = $1} END {if (NR) print v[int((NR + 1) / 2)]; else print 0}'; }

c1=$(median "$out/clann-cpu-1"); c2=$(median "$out/clann-cpu-2")
t1=$(median "$out/torch-1"); t2=$(median "$out/torch-2")
cl=0
[ -s "$out/clann-opencl" ] && cl=$(median "$out/clann-opencl")

# Profile of the best clann CPU configuration, for the GEMM-bound fraction.
best_t=1
awk "BEGIN {exit !($c2 > $c1)}" && best_t=2
"$clann" bench --device cpu --threads "$best_t" --steps "$steps" --repeat 1 --json > "$out/profile.json"
frac=$(tr -d '\n' < "$out/profile.json" | sed -n 's/.*"gemm_bound_fraction": *\([0-9.]*\).*/\1/p')

awk -v c1="$c1" -v c2="$c2" -v cl="$cl" -v t1="$t1" -v t2="$t2" -v f="$frac" -v r="$rounds" \
    -v s="$steps" 'BEGIN {
    c1 += 0; c2 += 0; cl += 0; t1 += 0; t2 += 0 # numbers: -v gives strings, compared as text
    best_c = c1 > c2 ? c1 : c2; best_t = t1 > t2 ? t1 : t2
    ratio = best_t > 0 ? best_c / best_t : 0
    printf "Fashion-MNIST MLP 784-256-128-10, Adam, batch 128, %d steps, median of %d rounds\n", s, r
    printf "  %-32s %10.0f samples/s\n", "clann cpu, 1 thread", c1
    printf "  %-32s %10.0f samples/s\n", "clann cpu, 2 threads", c2
    if (cl > 0) printf "  %-32s %10.0f samples/s\n", "clann opencl (first device)", cl
    printf "  %-32s %10.0f samples/s\n", "pytorch, 1 thread", t1
    printf "  %-32s %10.0f samples/s\n", "pytorch, 2 threads", t2
    printf "ratio clann cpu best / pytorch best: %.2fx\n", ratio
    if (cl > 0 && best_t > 0) printf "ratio clann opencl / pytorch best: %.2fx\n", cl / best_t
    printf "clann cpu best: %.0f%% of its GEMM-bound limit\n", 100 * f
}'
