#!/bin/sh
# mpi_scaling.sh - scaling of data-parallel training (README "Training on several processes or
# machines"): the same run alone and under mpirun -np 2 (and more with RANKS="1 2 4"), one CPU
# thread per rank, on a 784-1024-1024-10 ReLU MLP with batch 256 (Adam) over synthetic data
# (ROWS rows, default 10240: 40 steps an epoch). Prints the whole job's wall time per rank
# count (mpirun and MPI_Init included), its speedup over one rank and the efficiency (speedup /
# ranks), and the training throughput of the epochs alone (--json's samples_per_second) with
# its speedup. Not part of the suite.
#
#     tests/bench/mpi_scaling.sh [BUILD_DIR] [EPOCHS]        (defaults: build, 2)
#
# More ranks than cores oversubscribe (they share the cores): that measures the exchange's
# cost, not a speedup.
set -eu
build=${1:-build}
epochs=${2:-2}
rows=${ROWS:-10240}
clann=$(cd "$build/src/cli" && pwd)/clann
[ -x "$clann" ] || { echo "mpi_scaling.sh: no $clann (build first)" >&2; exit 1; }
command -v mpirun > /dev/null || { echo "mpi_scaling.sh: no mpirun (apt-get install openmpi-bin)" >&2; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_vader_single_copy_mechanism=${OMPI_MCA_btl_vader_single_copy_mechanism:-none}
# One machine: shared memory only (ob1 over vader), which skips probing UCX and the network at
# MPI_Init (about 0.3 s of every job here).
export OMPI_MCA_pml=${OMPI_MCA_pml:-ob1} OMPI_MCA_btl=${OMPI_MCA_btl:-self,vader}
export CLANN_CPU_THREADS=1 OPENBLAS_NUM_THREADS=1 CLANN_DEVICE=cpu
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$work" "$rows" <<'PY'
# NPY files written by hand (no numpy needed): x uniform in [-1, 1), y a class from x's first
# ten features.
import array, random, sys
def npy(path, shape, values):
    head = "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }" % (shape,)
    head += " " * (63 - (10 + len(head)) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + len(head).to_bytes(2, "little") + head.encode())
        array.array("f", values).tofile(f)
random.seed(0)
n = int(sys.argv[2])
x = [random.random() * 2 - 1 for _ in range(n * 784)]
y = [float(max(range(10), key=lambda k: x[r * 784 + k])) for r in range(n)]
npy(sys.argv[1] + "/x.npy", (n, 784), x)
npy(sys.argv[1] + "/y.npy", (n,), y)
PY
opts="train --data $work/x.npy,$work/y.npy --hidden 1024,1024 --batch 256 --epochs $epochs --quiet --json --out $work/m.st"
base="" base_rate=""
printf "%-6s %9s %8s %10s %14s %8s\n" ranks job-s speedup efficiency train-samples/s speedup
for n in ${RANKS:-1 2}; do
    t0=$(date +%s.%N)
    if [ "$n" = 1 ]; then "$clann" $opts > "$work/r.json" 2> /dev/null
    else mpirun --oversubscribe --bind-to none -np "$n" "$clann" $opts > "$work/r.json" 2> /dev/null; fi
    t1=$(date +%s.%N)
    rate=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["samples_per_second"])' "$work/r.json")
    python3 - "$n" "$t0" "$t1" "${base:-0}" "$rate" "${base_rate:-0}" <<'PY'
import sys
n, t0, t1, base, rate, base_rate = int(sys.argv[1]), *map(float, sys.argv[2:])
s = t1 - t0
b, br = base or s, base_rate or rate
print("%-6d %9.2f %7.2fx %9.0f%% %14.0f %7.2fx" % (n, s, b / s, 100 * b / s / n, rate, rate / br))
PY
    [ -n "$base" ] || { base=$(python3 -c "print($t1 - $t0)"); base_rate=$rate; }
done
