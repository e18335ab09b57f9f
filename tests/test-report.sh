#!/bin/sh
# test-report.sh CLANN - `clann report`: builds run folders by hand in the format the trainer
# writes, checks the page is well-formed and holds every chart, and checks the exit codes and
# messages of the error cases.
set -u
CLANN=${1:?usage: test-report.sh PATH-TO-CLANN}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
FAILS=0

fail() {
    echo "FAIL: $*" >&2
    FAILS=$((FAILS + 1))
}

# expect_rc CODE DESCRIPTION COMMAND...: runs the command, stderr to $TMP/err.
expect_rc() {
    want=$1
    what=$2
    shift 2
    "$@" >"$TMP/out" 2>"$TMP/err"
    got=$?
    [ "$got" -eq "$want" ] || fail "$what: exit $got, expected $want ($(cat "$TMP/err"))"
}

expect_err() {
    grep -q -- "$1" "$TMP/err" || fail "$2: stderr lacks '$1': $(cat "$TMP/err")"
}

expect_in() {
    grep -q -- "$1" "$2" || fail "$2 lacks '$1'"
}

# The page is XHTML syntax, so an XML parser can check it whole (SVG included).
well_formed() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import sys, xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1])' "$1" ||
            fail "$1 is not well-formed"
    elif command -v xmllint >/dev/null 2>&1; then
        xmllint --noout "$1" || fail "$1 is not well-formed"
    else
        echo "note: no python3 or xmllint; well-formedness not checked" >&2
    fi
}

HEADER="kind,epoch,step,loss,accuracy,val_loss,val_accuracy,learning_rate,seconds"
for l in 0 1 2; do
    for m in zero_fraction grad_norm weight_norm update_ratio; do
        HEADER="$HEADER,layer$l/$m"
    done
done

# A run of 6 epochs of 100 steps with monitors every 20 steps; layer 2 has no parameters, so its
# gradient, weight and update columns stay empty.
make_log() {
    echo "$HEADER"
    awk 'BEGIN {
        for (e = 1; e <= 6; e++) {
            for (s = 20; s <= 100; s += 20) {
                step = (e - 1) * 100 + s
                printf "monitor,%d,%d,,,,,,", e, step
                for (l = 0; l < 3; l++) {
                    g = 0.1 / (10 ^ l) / (1 + step / 200)
                    if (l == 2)
                        printf ",%.3f,,,", 0.2 + step / 2000
                    else
                        printf ",%.3f,%.6g,%.4g,%.6g", 0.1 * l + step / 3000, g, 5 + step / 100,
                               g / 50
                }
                printf "\n"
            }
            loss = 0.9 / e + 0.2
            printf "epoch,%d,%d,%.4f,%.4f,%.4f,%.4f,%g,1.5", e, e * 100, loss, 1 - loss / 2,
                   loss + 0.05, 1 - loss / 2 - 0.03, e < 4 ? 0.001 : 0.0005
            for (i = 0; i < 12; i++)
                printf ","
            printf "\n"
        }
    }'
}

RUN="$TMP/run"
mkdir -p "$RUN"
make_log >"$RUN/log.csv"
cat >"$RUN/eval.json" <<'EOF'
{"task": "binary",
 "metrics": {"accuracy": 0.9, "roc_auc": 0.95, "average_precision": 0.93, "log_loss": null},
 "roc": {"fpr": [0, 0.1, 0.3, 1], "tpr": [0, 0.6, 0.9, 1]},
 "pr": {"precision": [1, 0.95, 0.8, 0.5], "recall": [0, 0.5, 0.9, 1]},
 "calibration": {"predicted": [0.1, null, 0.5, 0.9], "observed": [0.12, null, 0.45, 0.93],
                 "count": [40, 0, 20, 40]},
 "confusion": {"labels": ["a<b&c", "pos"], "matrix": [[45, 5], [4, 46]]}}
EOF

cat >"$RUN/run.json" <<'EOF'
{"model": {"inputs": 784, "outputs": 10, "loss": "sparse_softmax_cross_entropy",
           "params": 235402, "trainable_params": 234890,
           "layers": [{"index": 0, "kind": "dense", "activation": "relu", "output": "256",
                       "params": 200960, "trainable_params": 200960},
                      {"index": 1, "kind": "batchnorm", "activation": "-", "output": "256",
                       "params": 1024, "trainable_params": 512},
                      {"index": 2, "kind": "dense", "activation": "-", "output": "10",
                       "params": 33418, "trainable_params": 33418}]},
 "options": {"optimizer": "adam", "learning rate (start)": "0.002", "seed": "42",
             "data": "x<y&z.csv"}}
EOF

# --- a full run ----------------------------------------------------------------------------
expect_rc 0 "full run" "$CLANN" report "$RUN"
cp "$TMP/out" "$TMP/full.html"
well_formed "$TMP/full.html"
for title in "<h2>Learning curves</h2>" ">Loss</text>" ">Accuracy</text>" ">Learning rate</text>" \
             ">Dead (zero-output) fraction</text>" ">Gradient norm</text>" \
             ">Weight norm</text>" ">Update ratio</text>" ">ROC curve</text>" \
             ">Precision-recall curve</text>" ">Calibration</text>" ">Confusion matrix</text>" \
             ">train</text>" ">validation</text>" ">layer 0</text>" ">layer 2</text>" \
             ">AUC 0.9500</text>" ">AP 0.9300</text>" "<th>roc_auc</th>" ">a&lt;b&amp;c<" \
             "<h3>Model</h3>" "<td>batchnorm</td>" '<td class="num">1024</td><td class="num">512</td>' \
             '<td class="num">235402</td><td class="num">234890</td>' \
             "<h3>Training options</h3>" "<th>learning rate (start)</th><td>0.002</td>" \
             "<td>x&lt;y&amp;z.csv</td>"; do
    expect_in "$title" "$TMP/full.html"
done
[ "$(grep -c '<svg ' "$TMP/full.html")" -eq 11 ] ||
    fail "expected 11 charts, found $(grep -c '<svg ' "$TMP/full.html")"
# Layer 2 has no parameters: it is only in the zero-fraction chart; layer 0 is in all four.
[ "$(grep -c '>layer 2</text>' "$TMP/full.html")" -eq 1 ] || fail "layer 2 drawn without data"
[ "$(grep -c '>layer 0</text>' "$TMP/full.html")" -eq 4 ] || fail "layer 0 not in 4 charts"
grep -q 'not available' "$TMP/full.html" && fail "full run has a chart marked not available"
grep -Eiq '="[^"]*(nan|inf)' "$TMP/full.html" && fail "a non-finite number reached the SVG"
grep -Eiq '<script|<link|<img|src=' "$TMP/full.html" && fail "the page is not self-contained"

# --out writes the same page.
expect_rc 0 "--out" "$CLANN" report --out "$TMP/out.html" "$RUN"
cmp -s "$TMP/out.html" "$TMP/full.html" || fail "--out differs from standard output"
expect_rc 0 "--title" "$CLANN" report "$RUN" --title "A & B"
expect_in "<h1>A &amp; B</h1>" "$TMP/out"

# --- partial runs --------------------------------------------------------------------------
# Only a header (training just started), no eval.json: every chart says not available.
mkdir -p "$TMP/empty"
echo "$HEADER" >"$TMP/empty/log.csv"
expect_rc 0 "header-only log" "$CLANN" report "$TMP/empty"
well_formed "$TMP/out"
expect_in "no eval.json in the run folder" "$TMP/out"
expect_in "no epoch rows in log.csv" "$TMP/out"

# Few columns, one epoch, 'nan' values, a multiclass eval.json without curves; the unfinished
# last row (no newline) of a run still being written is left out.
mkdir -p "$TMP/small"
printf 'kind,epoch,step,loss,val_loss\nepoch,1,10,0.5,nan\nmonitor,1,5' >"$TMP/small/log.csv"
echo '{"task": "multiclass", "confusion": {"matrix": [[1, 2, 3], [0, 4, 0], [1, 1, 7]]}}' \
    >"$TMP/small/eval.json"
expect_rc 0 "small run" "$CLANN" report "$TMP/small"
well_formed "$TMP/out"
expect_in ">Loss</text>" "$TMP/out"
expect_in ">Confusion matrix</text>" "$TMP/out"
expect_in "missing from eval.json" "$TMP/out"
expect_err "unfinished last row" "small run"

# --- errors --------------------------------------------------------------------------------
expect_rc 0 "--help" "$CLANN" report --help
expect_in "usage: clann report" "$TMP/out"
expect_rc 2 "no run folder" "$CLANN" report
expect_rc 2 "two run folders" "$CLANN" report "$RUN" "$RUN"
expect_rc 2 "unknown option" "$CLANN" report --bogus "$RUN"
expect_rc 1 "missing folder" "$CLANN" report "$TMP/nowhere"
expect_err "$TMP/nowhere" "missing folder"
mkdir -p "$TMP/nolog"
expect_rc 1 "missing log.csv" "$CLANN" report "$TMP/nolog"
expect_err "$TMP/nolog/log.csv" "missing log.csv"

mkdir -p "$TMP/bad"
printf 'kind,epoch,step,loss\nepoch,1,10,0.5\nepoch,2,20,zero\n' >"$TMP/bad/log.csv"
expect_rc 1 "not a number" "$CLANN" report "$TMP/bad"
expect_err "row 2 (line 3), column 4 'loss': 'zero' is not a number" "not a number"
printf 'kind,epoch,step,loss\nepoch,1,10,0.5,7\nepoch,2,20,0.4\n' >"$TMP/bad/log.csv"
expect_rc 1 "extra field" "$CLANN" report "$TMP/bad"
expect_err "row 1 (line 2) has 5 fields, the header has 4" "extra field"
printf 'epoch,step,loss\n1,10,0.5\n' >"$TMP/bad/log.csv"
expect_rc 1 "no kind column" "$CLANN" report "$TMP/bad"
expect_err "no 'kind' column" "no kind column"
: >"$TMP/bad/log.csv"
expect_rc 1 "empty log.csv" "$CLANN" report "$TMP/bad"
expect_err "empty file" "empty log.csv"
echo "$HEADER" >"$TMP/bad/log.csv"
echo '{"task": "binary",' >"$TMP/bad/eval.json"
expect_rc 1 "malformed eval.json" "$CLANN" report "$TMP/bad"
expect_err "$TMP/bad/eval.json" "malformed eval.json"

rm -f "$TMP/bad/eval.json"
echo '["not", "an object"]' >"$TMP/bad/run.json"
expect_rc 1 "run.json not an object" "$CLANN" report "$TMP/bad"
expect_err "$TMP/bad/run.json: cannot parse: not a JSON object" "run.json not an object"

# --- a real run: clann train --test (no dev data) ----------------------------------------------
# Its held-out figures are on the test set, and log.csv, TensorBoard and the report say test_*
# as the console does; a rerun into the folder leaves one run there (one event file, no
# eval.json of the first run when the second has no test data).
awk 'BEGIN { srand(3); print "a,b,c,y";
    for (i = 0; i < 600; i++) { a = rand() - 0.5; b = rand() - 0.5;
        printf "%.4f,%.4f,%.4f,%d\n", a, b, rand(), (a + b > 0) } }' >"$TMP/all.csv"
head -n 401 "$TMP/all.csv" >"$TMP/train.csv"
{ head -n 1 "$TMP/all.csv"; tail -n +402 "$TMP/all.csv"; } >"$TMP/test.csv"
REAL="$TMP/real"
expect_rc 0 "train --test --logdir" "$CLANN" train --device cpu --data "$TMP/train.csv" \
    --test "$TMP/test.csv" --hidden 16,8 --l2 0.001 --epochs 3 --logdir "$REAL" --out "$TMP/m.st"
expect_err "test_loss" "train --test --logdir"
head -n 1 "$REAL/log.csv" | grep -q '^kind,epoch,step,loss,accuracy,test_loss,test_accuracy,test_auc,' ||
    fail "log.csv header: $(head -n 1 "$REAL/log.csv")"
grep -q 'val_' "$REAL/log.csv" && fail "log.csv names test figures val_*"
grep -aq 'test_loss' "$REAL"/events.out.tfevents.* || fail "no test_loss tag in the event file"
grep -aq 'val_loss' "$REAL"/events.out.tfevents.* && fail "a val_loss tag in the event file"
# 3 inputs -> 16 -> 8 -> 1: 64 + 136 + 9 = 209 parameters
grep -q '"params":209' "$REAL/run.json" || fail "run.json: $(cat "$REAL/run.json")"
grep -q '"l2":"0.001"' "$REAL/run.json" || fail "run.json lacks l2 0.001"
grep -q '"test":".*test.csv"' "$REAL/run.json" || fail "run.json lacks the test file"
expect_rc 0 "report of a real run" "$CLANN" report "$REAL"
well_formed "$TMP/out"
for text in "<th>final test loss</th>" ">test</text>" '<td class="num">209</td><td class="num">209</td>' \
            "<th>learning-rate schedule</th><td>exponential: x0.75 every 400 steps (smoothly)</td>" \
            "<th>rows</th><td>400 train, 0 dev, 200 test</td>"; do
    expect_in "$text" "$TMP/out"
done
grep -q 'validation' "$TMP/out" && fail "the report of a test-only run says validation"
[ -f "$REAL/eval.json" ] || fail "train --test --logdir wrote no eval.json"
expect_rc 0 "rerun without --test" "$CLANN" train --device cpu --data "$TMP/train.csv" \
    --split 0.8,0.2 --hidden 4 --epochs 2 --logdir "$REAL" --out "$TMP/m.st"
[ "$(ls "$REAL" | grep -c '^events.out.tfevents')" -eq 1 ] || fail "a rerun left $(ls "$REAL")"
[ -f "$REAL/eval.json" ] && fail "a rerun kept the first run's eval.json"
head -n 1 "$REAL/log.csv" | grep -q ',val_loss,val_accuracy,' || fail "dev figures are not val_*"
grep -q '"split":"0.8,0.2"' "$REAL/run.json" || fail "run.json of the rerun: no split"

# A text column of 20 values becomes an embedding table (20 + 1 out-of-vocabulary ids x 2):
# run.json counts its 42 parameters in the feature layer, as `clann info` does.
awk 'BEGIN { srand(5); print "x,color,y";
    for (i = 0; i < 400; i++) { c = int(rand() * 20); printf "%.3f,c%02d,%d\n", rand(), c, c % 2 } }' \
    >"$TMP/cat.csv"
expect_rc 0 "train on a text column" "$CLANN" train --device cpu --data "$TMP/cat.csv" --hidden 8 \
    --epochs 1 --logdir "$TMP/cat" --out "$TMP/cat.st"
tr -d ' \n' <"$TMP/cat/run.json" | grep -q '"index":0,"kind":"features","activation":"-","output":"3","params":42,"trainable_params":42' ||
    fail "run.json's feature layer: $(cat "$TMP/cat/run.json")"
"$CLANN" info "$TMP/cat.st" --json 2>/dev/null | grep -q '"kind": "features", "units": 3, "params": 42' ||
    fail "clann info disagrees on the feature layer"

[ "$FAILS" -eq 0 ] || exit 1
echo "report: all checks passed"
