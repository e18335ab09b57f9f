# clitest.sh - sourced by the shell tests of the `clann` command (tests/test-*.sh CLANN):
# sets $clann to the binary's absolute path, makes a scratch folder the working folder (removed
# at exit), runs clann on the CPU backend unless CLANN_DEVICE says otherwise, and gives the
# tests one set of helpers: ok, fail (counted in $failures), expect CODE PATTERN ARGS...,
# need_python MODULES... (skip, 77, without them; a failure under CLANN_TESTS_STRICT=1, as in
# CI, which installs them).
clann=$(cd "$(dirname "$1")" && pwd)/$(basename "$1") # absolute: the test changes folder
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
failures=0
CLANN_DEVICE=${CLANN_DEVICE:-cpu}
export CLANN_DEVICE

ok() { echo "ok: $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# expect CODE PATTERN ARGS...: runs clann ARGS (stdout in out.txt, stderr in err.txt), checks
# the exit code and that stderr matches PATTERN (grep -E; "" skips the check).
expect() {
    code=$1 pattern=$2
    shift 2
    "$clann" "$@" > out.txt 2> err.txt
    got=$?
    if [ "$got" != "$code" ]; then
        fail "clann $* exited $got, expected $code; stderr:"; cat err.txt
    elif [ -n "$pattern" ] && ! grep -Eq -- "$pattern" err.txt; then
        fail "clann $*: stderr does not match '$pattern':"; cat err.txt
    else
        ok "clann $* -> $code"
    fi
}

# need_python MODULE...: /usr/bin/python3 with these modules, or skip the test.
need_python() {
    for m in "$@"; do
        if ! /usr/bin/python3 -c "import $m" 2>/dev/null; then
            echo "SKIP: /usr/bin/python3 with $* is not available"
            [ "${CLANN_TESTS_STRICT:-0}" = 1 ] && exit 1 # CI installs them: never skip there
            exit 77
        fi
    done
}
