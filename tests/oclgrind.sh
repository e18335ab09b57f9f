#!/usr/bin/env bash
# Oclgrind, Debian's OpenCL device simulator, as a checker of clann's kernels and API use
# (issue 14): out-of-bounds accesses, data races, reads of uninitialized memory and OpenCL API
# misuse, none of which a CPU device like PoCL reports.
#
#   tests/oclgrind.sh BUILD_DIR          the op-parity tests (test-backend, small shapes) and a
#                                        short training run, in the CPU and the GPU kernel forms;
#                                        fails on any error Oclgrind reports (.ci/run)
#   tests/oclgrind.sh BUILD_DIR auto     with Oclgrind's ICD installed beside PoCL, `auto` must
#                                        pick a real device, never the simulator (meson test)
#
# Oclgrind 21.10 mis-executes optimized Philox code in some kernels, so programs are built with
# -cl-opt-disable there (--build-options, i.e. OCLGRIND_BUILD_OPTIONS). Oclgrind interprets every
# work-item, thousands of times slower than a device: CLANN_TEST_SMALL=1 keeps test-backend to
# its small shapes, and the training run is a few hundred rows. Exits 77 (skip) without Oclgrind,
# a failure under CLANN_TESTS_STRICT=1.
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

# Runs "$@" under Oclgrind with every checker on; a non-empty log is a failure.
grind() {
    local name=$1 log="$tmp/$1.log"
    shift
    local t0=$SECONDS
    if ! oclgrind --check-api --data-races --uninitialized --build-options -cl-opt-disable \
        --log "$log" "$@" > "$tmp/$name.out" 2>&1; then
        cat "$tmp/$name.out"
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
# One GEMM path a form (CLANN_GEMM, which test-backend then runs alone): the register-tiled
# kernel beside the CPU forms, CLBlast beside the GPU forms. The CPU-device GEMM kernels
# (cl/gemm_cpu.cl) are left to PoCL: under Oclgrind their large tiles interpret for hours.
for forms in cpu gpu; do
    gemm=tiled
    [ $forms = gpu ] && gemm=clblast
    CLANN_OPENCL_FORMS=$forms CLANN_GEMM=$gemm CLANN_TEST_SMALL=1 \
        grind "parity-$forms" "$build/tests/test-backend" || status=1
    CLANN_OPENCL_FORMS=$forms CLANN_GEMM=$gemm grind "train-$forms" "$clann" train \
        --data "$tmp/train.csv" --label y --hidden 16,8 --batch 32 --epochs 2 --device opencl \
        --out "$tmp/model-$forms.safetensors" || status=1
done
[ $status = 0 ] && echo "PASS: no errors reported by Oclgrind in either kernel form"
exit $status
