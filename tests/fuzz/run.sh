#!/bin/sh
# Builds the libFuzzer targets with clang under ASan+UBSan in their own build folder and runs
# each for SECONDS (default 120): the model-file and checkpoint loader, and the CSV, NPY and
# IDX loaders. New corpus entries go to a scratch folder per target; seeds are the files in
# tests/fuzz/corpus (model files) and small ones written here (data files). Crashes, leaks and
# timeouts are written to $BUILD/fuzz-artifacts/ and make the script fail. Needs clang and its
# libFuzzer runtime (Debian: clang, libclang-rt-14-dev).
#   tests/fuzz/run.sh [SECONDS [TARGET...]]   (CLANN_FUZZ_BUILD overrides the build folder;
#                                             targets: model-load csv npy idx)
set -eu
secs=${1:-120}
[ $# -gt 0 ] && shift
targets=${*:-model-load csv npy idx}
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${CLANN_FUZZ_BUILD:-$root/build-fuzz}
if [ ! -f "$build/build.ninja" ]; then
    CC=${CC:-clang} meson setup "$build" "$root" -Dfuzz=true -Dtests=enabled \
        -Dopencl=disabled -Dcblas=disabled -Dbuildtype=debugoptimized \
        -Db_sanitize=address,undefined -Db_lundef=false \
        -Dc_args="-fsanitize=fuzzer-no-link -fno-sanitize-recover=all" > /dev/null
fi
for t in $targets; do
    ninja -C "$build" "tests/fuzz/fuzz-$t"
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$build/fuzz-artifacts"

# Seeds for the data loaders: small valid files, so the fuzzer starts past the headers.
mkdir -p "$work/seed-csv" "$work/seed-npy" "$work/seed-idx"
printf 'a,b,y\n1,2.5,0\n-3,4e2,1\n' > "$work/seed-csv/plain.csv"
printf '"x, y",b,"c""q"\r\n1,,3\r\n\r\nnan,inf,1e999\n' > "$work/seed-csv/quoted.csv"
printf 'city,n,y\nOslo,1,0\nRome,2,1\nOslo,3,1\n' > "$work/seed-csv/text.csv"
npy() { # DESCR SHAPE BYTES: a version 1.0 .npy file
    dict="{'descr': '$1', 'fortran_order': False, 'shape': $2, }"
    len=$(( (10 + ${#dict} + 1 + 63) / 64 * 64 - 10 ))
    printf '\223NUMPY\001\000'"\\$(printf %03o $((len & 255)))\\$(printf %03o $((len >> 8)))"
    printf '%s' "$dict"
    printf '%*s\n' $((len - ${#dict} - 1)) ''
    printf '%b' "$3"
}
npy '<f4' '(2, 2)' '\0\0\200\77\0\0\0\100\0\0\100\100\0\0\200\100' > "$work/seed-npy/f4.npy"
npy '|u1' '(3,)' '\1\2\3' > "$work/seed-npy/u1.npy"
npy '>i2' '(1, 2)' '\0\1\377\376' > "$work/seed-npy/i2.npy"
printf '\0\0\10\2\0\0\0\2\0\0\0\3\1\2\3\4\5\6' > "$work/seed-idx/u8.idx"
printf '\0\0\15\1\0\0\0\1\77\200\0\0' > "$work/seed-idx/f32.idx"
gzip -c "$work/seed-idx/u8.idx" > "$work/seed-idx/u8.idx.gz"

status=0
for t in $targets; do
    case $t in
    model-load) seeds=$root/tests/fuzz/corpus ;;
    *) seeds=$work/seed-$t ;;
    esac
    mkdir -p "$work/new-$t"
    echo "== fuzz-$t: $secs s =="
    ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        "$build/tests/fuzz/fuzz-$t" -max_total_time="$secs" -timeout=5 -rss_limit_mb=2048 \
        -max_len=65536 -print_final_stats=1 -artifact_prefix="$build/fuzz-artifacts/$t-" \
        "$work/new-$t" "$seeds" || status=1
done
exit $status
