#!/bin/sh
# The shared library exports exactly the functions that include/clann.h declares (libinput's
# symbols-leak-test): nothing internal leaks, nothing declared is missing.
set -eu
lib=$1
header=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRW]$/ {print $3}' | sort -u > "$tmp/exported"
sed -n 's/^CLANN_API[^(]*[ *]\(clann_[a-z0-9_]*\)(.*/\1/p' "$header" | sort -u > "$tmp/declared"
status=0
if ! cmp -s "$tmp/exported" "$tmp/declared"; then
    echo "exported but not declared:"; comm -23 "$tmp/exported" "$tmp/declared"
    echo "declared but not exported:"; comm -13 "$tmp/exported" "$tmp/declared"
    status=1
fi
echo "$(wc -l < "$tmp/exported") exported symbols checked"
exit $status
