#!/bin/sh
# Builds the libFuzzer targets with clang under ASan+UBSan in their own build folder and runs
# the model-file loader target for SECONDS (default 120). New corpus entries go to a scratch
# folder; crashes, leaks and timeouts are written to $BUILD/fuzz-artifacts/ and make the script
# fail. Needs clang and its libFuzzer runtime (Debian: clang, libclang-rt-14-dev).
#   tests/fuzz/run.sh [SECONDS]        (CLANN_FUZZ_BUILD overrides the build folder)
set -eu
secs=${1:-120}
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${CLANN_FUZZ_BUILD:-$root/build-fuzz}
if [ ! -f "$build/build.ninja" ]; then
    CC=${CC:-clang} meson setup "$build" "$root" -Dfuzz=true -Dtests=enabled \
        -Dopencl=disabled -Dcblas=disabled -Dbuildtype=debugoptimized \
        -Db_sanitize=address,undefined -Db_lundef=false \
        -Dc_args="-fsanitize=fuzzer-no-link -fno-sanitize-recover=all" > /dev/null
fi
ninja -C "$build" tests/fuzz/fuzz-model-load
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$build/fuzz-artifacts"
ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    "$build/tests/fuzz/fuzz-model-load" -max_total_time="$secs" -timeout=5 -rss_limit_mb=2048 \
    -max_len=65536 -print_final_stats=1 -artifact_prefix="$build/fuzz-artifacts/" \
    "$work" "$root/tests/fuzz/corpus"
