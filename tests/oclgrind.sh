#!/usr/bin/env bash
# Oclgrind, Debian's OpenCL device simulator, as a checker of clann's kernels and API use
# (issue 14): out-of-bounds accesses, data races, reads of uninitialized memory and OpenCL API
# misuse, none of which a CPU device like PoCL reports.
#
#   tests/oclgrind.sh BUILD_DIR          the op-parity tests (test-backend, tiny shapes) and a
#                                        short training run, in the CPU and the GPU kernel forms;
#                                        fails on any error Oclgrind reports, and unless every
#                                        __kernel of cl/*.cl ran at least once (.ci/run)
#   tests/oclgrind.sh BUILD_DIR auto     with Oclgrind's ICD installed beside PoCL, `auto` must
#                                        pick a real device, never the simulator (meson test)
#
# Oclgrind 21.10 mis-executes optimized Philox code in some kernels, so programs are built with
# -cl-opt-disable there (--build-options, i.e. OCLGRIND_BUILD_OPTIONS). Oclgrind interprets every
# work-item, thousands of times slower than a device, so test-backend runs tiny
# (CLANN_TEST_SMALL=2: one odd shape per op, GEMMs of a few hundred multiply-adds, CLBlast or
# cl/gemm_cpu.cl on one shape per transpose beside the tiled kernel that runs the rest) on a
# simulated device whose work-groups hold at most 64 items (--max-wgsize: the GPU forms'
# reductions still span several groups, and the tiled GEMM takes 8 x 8 tiles), and the training
# run is a few hundred rows. About 4 minutes on 2 cores. Exits 77 (skip) without Oclgrind, a
# failure under CLANN_TESTS_STRICT=1.
set -euo pipefail
build=$(cd "${1:?usage: oclgrind.sh BUILD_DIR [auto]}" && pwd)
mode=${2:-full}
clann="$build/src/cli/clann"
icd_lib=/usr/lib/oclgrind/liboclgrind-rt-icd.so

skip() {
    echo "oclgrind.sh: $1: ${CLANN_TESTS_STRICT:+failing (CLANN_TESTS_STRICT=1)}${CLANN_TESTS_STRICT:-skipped}"
    [ "${CLANN_TESTS_STRICT:-0}" = 1 ] && exit 1
    exit 77
}
command -v oclgrind > /dev/null && [ -f "$icd_lib" ] || skip "oclgrind is not installed"
[ -x "$clann" ] || { echo "oclgrind.sh: no $clann"; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# A private program cache: binaries built by the simulator under -cl-opt-disable stay here.
export CLANN_CACHE_DIR="$tmp/cache" CLANN_CACHE_DIR_FOR_TESTS="$tmp/cache"
export CK_DEFAULT_TIMEOUT=600

if [ "$mode" = auto ]; then
    # Oclgrind's ICD next to the system's (PoCL): auto must pass over the simulator (and PoCL,
    # a CPU device) and take the CPU backend; the simulator is listed, marked never-picked.
    mkdir "$tmp/vendors"
    cp /etc/OpenCL/vendors/*.icd "$tmp/vendors/" 2> /dev/null || true
    echo "$icd_lib" > "$tmp/vendors/oclgrind.icd"
    OCL_ICD_VENDORS="$tmp/vendors" "$clann" devices > "$tmp/devices.txt"
    cat "$tmp/devices.txt"
    grep -q "Oclgrind Simulator.*simulator/emulator: auto never picks it" "$tmp/devices.txt" ||
        { echo "FAIL: Oclgrind not listed as a simulator that auto never picks"; exit 1; }
    grep -q "^\* auto picks CPU backend" "$tmp/devices.txt" ||
        { echo "FAIL: auto did not pick the CPU backend"; exit 1; }
    # and a run under auto trains on it
    awk 'BEGIN { srand(3); print "a,b,y"; for (i = 0; i < 64; i++) { a = rand(); b = rand();
         print a "," b "," (a + b > 1 ? 1 : 0) } }' > "$tmp/auto.csv"
    OCL_ICD_VENDORS="$tmp/vendors" "$clann" train --data "$tmp/auto.csv" --label y --hidden 4 \
        --epochs 1 --device auto --out "$tmp/auto.safetensors" 2> "$tmp/train.err" ||
        { cat "$tmp/train.err"; echo "FAIL: training under auto"; exit 1; }
    grep "^device" "$tmp/train.err"
    grep -q "^device: CPU backend" "$tmp/train.err" ||
        { echo "FAIL: training under auto did not run on the CPU backend"; exit 1; }
    echo "PASS: auto picks a real device with Oclgrind installed"
    exit 0
fi

# Runs "$@" under Oclgrind with every checker on; a non-empty log is a failure. The library
# appends each kernel's name to $tmp/ran at its first launch (CLANN_KERNEL_LOG; Oclgrind's own
# --inst-counts corrupts its heap in some runs).
grind() {
    local name=$1 log="$tmp/$1.log"
    shift
    local t0=$SECONDS
    if ! CLANN_KERNEL_LOG="$tmp/ran" oclgrind --check-api --data-races --uninitialized \
        --build-options -cl-opt-disable --max-wgsize 64 --log "$log" "$@" > "$tmp/$name.out" 2>&1
    then
        tail -40 "$tmp/$name.out"
        [ -s "$log" ] && cat "$log"
        echo "FAIL: $name exited non-zero under Oclgrind"
        return 1
    fi
    if [ -s "$log" ]; then
        cat "$log"
        echo "FAIL: $name: Oclgrind reported errors"
        return 1
    fi
    echo "ok   $name ($((SECONDS - t0)) s)"
}

awk 'BEGIN { srand(7); print "x1,x2,x3,x4,y"; for (i = 0; i < 300; i++) {
     a = rand() * 2 - 1; b = rand() * 2 - 1; c = rand(); d = rand();
     print a "," b "," c "," d "," (a * b + 0.3 * c > 0 ? 1 : 0) } }' > "$tmp/train.csv"

status=0
: > "$tmp/ran"
# The tiled GEMM everywhere (CLANN_GEMM): beside it test-backend runs the device's default GEMM
# on a few tiny shapes, CLBlast in the GPU forms (interpreted, its kernels are slow) and
# cl/gemm_cpu.cl in the CPU forms, which also trains with it (as a CPU device does).
for forms in cpu gpu; do
    CLANN_OPENCL_FORMS=$forms CLANN_GEMM=tiled CLANN_TEST_SMALL=2 \
        grind "parity-$forms" "$build/tests/test-backend" || status=1
    gemm=tiled
    [ $forms = cpu ] && gemm=cpu
    CLANN_OPENCL_FORMS=$forms CLANN_GEMM=$gemm grind "train-$forms" "$clann" train \
        --data "$tmp/train.csv" --label y --hidden 16,8 --batch 32 --epochs 2 --device opencl \
        --out "$tmp/model-$forms.safetensors" || status=1
done

# Every kernel entry point of every program ran in one form or the other.
src=$(cd "$(dirname "$0")/.." && pwd)/cl
sed -n 's/^__kernel void \([a-z_0-9]*\)(.*/\1/p' "$src"/*.cl | sort -u > "$tmp/all"
# a kernel declared otherwise (attributes, another line break) would escape the list
[ "$(wc -l < "$tmp/all")" = "$(cat "$src"/*.cl | grep -c '^__kernel')" ] ||
    { echo "FAIL: some __kernel in cl/*.cl is not declared as '__kernel void name('"; exit 1; }
sort -u "$tmp/ran" -o "$tmp/ran"
missing=$(comm -23 "$tmp/all" "$tmp/ran" | tr '\n' ' ')
if [ -n "$missing" ]; then
    echo "FAIL: kernels never launched under Oclgrind: $missing"
    status=1
else
    echo "ok   all $(wc -l < "$tmp/all") kernels of cl/*.cl launched"
fi
# The checker itself: a kernel folder whose copy also reads 4096 floats past its source, a read
# that lands in no view (the parity test passes) and outside the buffer, must be reported.
cp -r "$src" "$tmp/planted"
sed -i 's/dst\[doff + i\] = src\[soff + i\];/dst[doff + i] = src[soff + i] + 0.0f * src[soff + i + 4096];/' \
    "$tmp/planted/blas.cl"
grep -q "soff + i + 4096" "$tmp/planted/blas.cl" || { echo "FAIL: could not plant the fault"; exit 1; }
if CLANN_KERNEL_DIR="$tmp/planted" CK_RUN_CASE=blas1 CLANN_TEST_SMALL=2 CLANN_GEMM=tiled \
    grind planted "$build/tests/test-backend" > /dev/null; then
    echo "FAIL: Oclgrind did not report a planted out-of-bounds read"
    status=1
elif ! grep -q "Invalid read.*" "$tmp/planted.log"; then
    cat "$tmp/planted.out" "$tmp/planted.log"
    echo "FAIL: the planted out-of-bounds read failed otherwise than by Oclgrind's report"
    status=1
else
    echo "ok   a planted out-of-bounds read in copy is reported"
fi
[ $status = 0 ] && echo "PASS: no errors reported by Oclgrind in either kernel form"
exit $status
