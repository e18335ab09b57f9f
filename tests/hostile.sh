#!/bin/sh
# hostile.sh CLANN - the hostile-input corpus (issue 13): generates files of each class at test
# time (decompression bombs, wide and duplicate CSV headers, half-valid numbers, labels that
# do not fit the task, option values that would write unreadable files) and checks that each
# run ends the same way: exit status 1 or 2 (never a signal), exactly one `clann: ...` line on
# stderr that names the file once, bounded time and peak memory, and no output file left.
set -u
clann=$(cd "$(dirname "$1")" && pwd)/$(basename "$1") # absolute: the test changes folder
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
mkdir out
failures=0
cases=0
CLANN_DEVICE=cpu
export CLANN_DEVICE
seconds_max=30 # per case, on a loaded machine
rss_max_kib=$((768 * 1024)) # peak resident memory per case (sanitizer builds included)
timer=""
[ -x /usr/bin/time ] && timer="/usr/bin/time -f %e:%M -o stats.txt"

fail() {
    echo "FAIL: clann $*"
    sed 's/^/    /' err.txt | head -5
    failures=$((failures + 1))
}

# hostile PATTERN ARGS...: runs clann ARGS (output files under out/) and checks the contract.
hostile() {
    pattern=$1
    shift
    cases=$((cases + 1))
    rm -f stats.txt
    # shellcheck disable=SC2086
    timeout $((seconds_max * 2)) $timer "$clann" "$@" > stdout.txt 2> err.raw
    got=$?
    grep -v '^Command exited with non-zero status' err.raw > err.txt
    lines=$(grep -c '^clann: ' err.txt)
    if [ "$got" != 1 ] && [ "$got" != 2 ]; then
        fail "$* exited $got, expected 1 or 2"
    elif [ "$lines" != 1 ]; then
        fail "$* printed $lines 'clann:' lines, expected exactly one"
    elif [ "$(tail -n 1 err.txt | cut -c1-7)" != "clann: " ]; then
        fail "$*: the error is not the last line on stderr"
    elif ! grep -Eq -- "$pattern" err.txt; then
        fail "$*: stderr does not match '$pattern'"
    elif grep -Eq '^clann: ([^:]+): \1:' err.txt; then
        fail "$*: the message names the path twice"
    elif [ -n "$(ls -A out)" ]; then
        fail "$*: left $(ls -A out | tr '\n' ' ')behind"
    elif [ -s stats.txt ] && ! awk -F: -v s="$seconds_max" -v m="$rss_max_kib" \
        'END { exit !($1 <= s && $2 <= m) }' stats.txt; then
        fail "$*: took $(cut -d: -f1 stats.txt) s and $(cut -d: -f2 stats.txt) KiB (limits: \
$seconds_max s, $rss_max_kib KiB)"
    else
        echo "ok: clann $* -> $got"
    fi
    rm -rf out
    mkdir out
}

# Good data to combine with the hostile parts: a binary and a 3-class task, 4 features.
awk 'BEGIN { srand(5); print "a,b,c,d,y";
    for (i = 0; i < 80; i++) { s = 0; line = "";
        for (j = 0; j < 4; j++) { v = rand() * 2 - 1; s += v; line = line sprintf("%.4f,", v) }
        printf "%s%d\n", line, (s > 0) } }' > bin.csv
awk -F, 'NR == 1 { print; next } { $5 = NR % 3; print }' OFS=, bin.csv > three.csv
awk -F, 'NR == 1 { print; next } { $5 = 1; print }' OFS=, bin.csv > oneclass.csv
awk -F, 'NR == 1 { print; next } { $5 = (NR % 101) - 50; print }' OFS=, bin.csv > targets.csv
awk -F, 'NR == 1 { print; next } { $5 = -(NR % 2); print }' OFS=, bin.csv > minus.csv
train="--epochs 1 --hidden 4 --batch 8 --quiet --out out/model.safetensors"
"$clann" train --data bin.csv --epochs 1 --hidden 4 --batch 8 --quiet --out bin.safetensors \
    --checkpoint bin.ckpt > /dev/null 2>&1 ||
    { echo "FAIL: setup: training the binary model"; exit 1; }

echo "== 1. decompression bombs (IDX .gz) =="
# IDX headers: magic, type u8 (0x08), dimension count, big-endian dimensions.
be32() { printf "\\$(printf %03o $(($1 >> 24 & 255)))\\$(printf %03o $(($1 >> 16 & 255)))"
         printf "\\$(printf %03o $(($1 >> 8 & 255)))\\$(printf %03o $(($1 & 255)))"; }
idx_header() { # TYPE DIMS...
    printf '\000\000'"\\$(printf %03o "$1")\\$(printf %03o $(($# - 1)))"
    shift
    for d in "$@"; do be32 "$d"; done
}
{ idx_header 8 1100 1000 1000; head -c 1048576 /dev/zero; } | gzip -c > bomb-declared.idx.gz
{ idx_header 8 200 1024 1024; head -c 209715200 /dev/zero; } | gzip -9 -c > bomb-real.idx.gz
{ idx_header 8 80 256; head -c 20480 /dev/zero; head -c 104857600 /dev/zero; } | gzip -c \
    > bomb-trailing.idx.gz
{ idx_header 8 80; head -c 80 /dev/zero; } | gzip -c > y80.idx.gz
{ idx_header 8 80 4; head -c 320 /dev/zero; } | gzip -c > x80.idx.gz
{ idx_header 13 100000 100000; head -c 4194304 /dev/zero; } | gzip -c > bomb-f32.idx.gz
hostile "bomb" train --data bomb-declared.idx.gz,y80.idx.gz $train
hostile "bomb" train --data bomb-real.idx.gz,y80.idx.gz $train
hostile "bomb" train --data bomb-f32.idx.gz,y80.idx.gz $train
hostile "trailing bytes" train --data bomb-trailing.idx.gz,y80.idx.gz $train
hostile "bomb" train --data x80.idx.gz,bomb-declared.idx.gz $train
hostile "bomb" predict --model bin.safetensors --data bomb-real.idx.gz,y80.idx.gz \
    --out out/p.csv

echo "== 2. wide and duplicate CSV headers =="
awk 'BEGIN { for (i = 0; i < 100000; i++) printf "%sc%d", i ? "," : "", i; print "";
    for (i = 0; i < 100000; i++) printf "%s1", i ? "," : ""; print "" }' > wide.csv
awk 'BEGIN { for (i = 0; i < 60000; i++) printf "%sc%d", i ? "," : "", i == 59999 ? 7 : i;
    print ""; for (i = 0; i < 60000; i++) printf "%s1", i ? "," : ""; print "" }' > dup.csv
awk 'BEGIN { for (i = 0; i < 50000; i++) printf "%s", ","; print "";
    for (i = 0; i < 50000; i++) printf "%s", "1,"; print "1" }' > unnamed.csv
hostile "65536" train --data wide.csv $train
hostile "duplicate column name 'c7'" train --data dup.csv $train
hostile "column 1" train --data unnamed.csv $train
hostile "65536" eval --model bin.safetensors --data wide.csv

echo "== 3. half-valid numbers =="
# nan and NaN are missing-value tokens: refused (by default) as missing cells naming the column;
# every other number-like token that is no finite float is a bad value naming row and column.
for bad in nan NaN inf -Infinity 1e999 -1e39 0x1p200; do
    awk -F, -v bad="$bad" 'NR == 1 { print; next } { $2 = bad; print }' OFS=, bin.csv > "v.csv"
    case $bad in
    nan | NaN) hostile "missing cells in 'b'" train --data v.csv $train ;;
    *) hostile "row 2, column 2 \('b'\): '$bad'" train --data v.csv $train ;;
    esac
done
awk -F, 'NR == 1 { print; next } NR == 9 { $3 = "nan" } { print }' OFS=, bin.csv > one-nan.csv
hostile "missing cells in 'c'" train --data one-nan.csv $train
awk -F, 'NR == 1 { print; next } NR == 7 { $5 = "inf" } { print }' OFS=, bin.csv > label-inf.csv
hostile "row 7, column 5 \('y'\): 'inf'" train --data label-inf.csv $train
hostile "row 7, column 5" eval --model bin.safetensors --data label-inf.csv
{ head -n 3 bin.csv; printf '1,'; head -c 4194304 /dev/zero | tr '\0' '7'; printf ',1,1,0\n'; } \
    > digits.csv
hostile "row 4, column 2 \('b'\): '7777.*\.\.\.' is beyond the float range" train \
    --data digits.csv $train
awk -F, 'NR == 1 { $1 = $1; print; next } { $2 = "nan"; print }' OFS='\t' bin.csv > v.tsv
hostile "missing cells in 'b'" train --data v.tsv $train
awk -F, 'NR == 1 { $1 = $1; print; next } { $2 = "inf"; print }' OFS='\t' bin.csv > inf.tsv
hostile "row 2, column 2 \('b'\): 'inf'" train --data inf.tsv $train

echo "== 4. labels that do not fit the task =="
hostile "not 0 or 1 \(the first: 2\)" train --data three.csv --task binary $train
hostile "not 0 or 1 \(the first: -1\)" train --data minus.csv --task binary $train
hostile "two classes" train --data oneclass.csv $train
hostile "two classes" train --data oneclass.csv --task binary $train
hostile "not 0 or 1" train --data three.csv --resume bin.ckpt --epochs 3 --quiet \
    --out out/model.safetensors
hostile "not 0 or 1" train --data targets.csv --resume bin.ckpt --epochs 3 --quiet \
    --out out/model.safetensors
hostile "two classes" train --data oneclass.csv --resume bin.ckpt --epochs 3 --quiet \
    --out out/model.safetensors
hostile "test labels.*not 0 or 1" train --data bin.csv --test three.csv $train
hostile "not 0 or 1" eval --model bin.safetensors --data three.csv
hostile "not 0 or 1" eval --model bin.safetensors --data targets.csv
hostile "not 0 or 1" tune --data three.csv --task binary --grid "lr=0.01,0.1" --epochs 1 \
    --hidden 4 --out out/model.safetensors
hostile "two classes" tune --data oneclass.csv --grid "lr=0.01,0.1" --epochs 1 --hidden 4 \
    --out out/model.safetensors

echo "== 6. option values =="
hostile "--l1: '-1' must be a number >= 0" train --data bin.csv $train --l1 -1
hostile "--l2: '-1' must be a number >= 0" train --data bin.csv $train --l2 -1
hostile "--split" train --data bin.csv $train --split 1,nan
hostile "--split" train --data bin.csv $train --split nan,0.5,0.5
hostile "--split" train --data bin.csv $train --split 0.5,0.6
hostile "--split" train --data bin.csv $train --split 0.5,0.5,
hostile "--dropout" train --data bin.csv $train --dropout 1.0
hostile "--dropout" train --data bin.csv $train --dropout -0.1
hostile "--dropout" train --data bin.csv $train --dropout nan
hostile "--max-norm" train --data bin.csv $train --max-norm -1
hostile "--max-norm" train --data bin.csv $train --max-norm 0
hostile "--lr" train --data bin.csv $train --lr 0
hostile "--lr" train --data bin.csv $train --lr 1e39
hostile "--clip-norm" train --data bin.csv $train --clip-norm -1
hostile "--clip-value" train --data bin.csv $train --clip-value -2
hostile "--monitor: 'bogus'" train --data bin.csv $train --monitor bogus
hostile "--epochs" train --data bin.csv $train --epochs 0
hostile "--batch" train --data bin.csv $train --batch " -1"
hostile "--batch" train --data bin.csv $train --batch 0
hostile "--batch" train --data bin.csv $train --batch 18446744073709551616
hostile "--hidden" train --data bin.csv $train --hidden 0
hostile "--hidden" train --data bin.csv $train --hidden 4,x
hostile "--seed" train --data bin.csv $train --seed -1
hostile "--threshold" eval --model bin.safetensors --data bin.csv --threshold precision=nan
hostile "--threshold" eval --model bin.safetensors --data bin.csv --threshold recall=2
hostile "--slice" eval --model bin.safetensors --data bin.csv --slice " 1"
hostile "--steps" bench --steps " -5"
hostile "pair X,y" train --data ,bin.csv $train
hostile "pair X,y" train --data x80.idx.gz, $train

echo "== 10. the path named once =="
printf 'a,b,y\n1,2,0\n3,4\n' > ragged.csv
hostile "^clann: ragged.csv: row 3" train --data ragged.csv $train

echo "$cases hostile cases, $failures failures"
[ "$failures" -eq 0 ]
