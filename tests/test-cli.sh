#!/bin/sh
# test-cli.sh CLANN - the `clann` command's contract: exit codes (0 ok, 1 runtime failure,
# 2 usage error), one-line errors on stderr that name the problem, --help of every subcommand,
# and the checkpoint round trip (train 4 epochs == train 2 + --resume to 4, byte for byte).
set -u
. "$(dirname "$0")/clitest.sh"

# expect_usage PATTERN ARGS...: exit 2 and exactly one line on stderr.
expect_usage() {
    expect 2 "$@"
    if [ "$got" = 2 ] && [ "$(wc -l < err.txt)" != 1 ]; then
        echo "FAIL: clann $*: the usage error is not one line:"; cat err.txt
        failures=$((failures + 1))
    fi
}

# Data: a 3-class task (4 features), a 3-feature file, and malformed CSVs.
awk 'BEGIN { srand(3); print "a,b,c,d,y";
    for (i = 0; i < 120; i++) { s = 0; line = "";
        for (j = 0; j < 4; j++) { v = rand() * 2 - 1; s += v; line = line sprintf("%.5f,", v) }
        printf "%s%d\n", line, (s > 0.5) + (s > -0.5) } }' > d.csv
cut -d, -f2- d.csv > narrow.csv
printf 'a,b,y\n1,2,0\n3,4\n' > ragged.csv
printf 'a,b,y\n1,2,0\n1,abc,0\n' > word.csv
printf 'not a model file at all' > junk.safetensors
common="--data d.csv --hidden 8 --batch 16 --quiet"
plain="--data d.csv --batch 16 --quiet"

echo "== usage errors (exit 2) =="
expect 2 "usage: clann COMMAND"
expect_usage "unknown command 'bogus'" bogus
expect_usage "unknown option '--bogus'" train --bogus
expect_usage "option '--epochs' needs a value" train --epochs
expect_usage "--epochs: 'abc' is not a non-negative integer" train --epochs abc
expect_usage "--epochs: '-3' is not a non-negative integer" train --epochs -3
expect_usage "--lr: 'fast' is not a number" train $common --lr fast
expect_usage "--batch: must be a positive integer" train $common --batch 0
expect_usage "--dropout: 'x' is not a number" train $common --dropout x
expect_usage "--task: 'clustering'" train --task clustering
expect_usage "--optimizer: 'adamw'" train $common --optimizer adamw
expect_usage "--activation: unknown activation 'swish'" train $common --activation swish
expect_usage "--hidden: sizes must be positive" train $common --hidden 8,0
expect_usage "--conv: expected FILTERSxKERNEL" train $common --conv 8
expect_usage "--conv: expected FILTERSxKERNEL" train $common --conv 8x0
expect_usage "--input-shape: expected C,H,W" train $common --conv 2x2 --input-shape 4
expect 2 "--conv needs --input-shape C,H,W for d.csv" train $common --conv 2x2
expect_usage "'--quiet' takes no value" train --quiet=yes
expect_usage "unexpected argument 'extra'" train extra
expect_usage "data source 'd.xyz'" train --data d.xyz
expect_usage "--spec and --resume cannot be combined" train --spec a.json --resume b.ckpt
expect_usage "--hidden cannot be combined with --spec" train --spec a.json --hidden 4
expect_usage "--lr cannot be combined with --resume" train --resume b.ckpt --lr 0.1
expect_usage "--model and --data are required" eval --data d.csv
expect_usage "--model and --data are required" predict --model m.safetensors
expect_usage "unknown option '--json'" predict --json
expect_usage "a model file is required" info
expect_usage "takes one FILE" info a b
expect_usage "unknown option '--bogus'" info m --bogus
expect_usage "--grid is required" tune $common
expect_usage "'seed' cannot be tuned" tune $common --grid "seed=1,2"
expect_usage "'lr' is given twice" tune $common --grid "lr=0.1 lr=0.2"
expect_usage "is not KEY=V1,V2" tune $common --grid "lr"
expect_usage "has an empty value" tune $common --grid "lr=0.1,,0.2"
expect_usage "--repeats: must be between 1 and 1000" tune $common --grid "lr=0.1" --repeats 0
expect_usage "unknown option '--test'" tune $common --grid "lr=0.1" --test d.csv
expect_usage "devices: takes no arguments" devices extra
expect_usage "check: unknown option '--bogus'" check --bogus
expect_usage "check: option '--device' needs a value" check --quick --device

echo "== --help (exit 0) =="
for cmd in devices check train eval predict info tune; do
    expect 0 "" "$cmd" --help
    grep -q "usage: clann $cmd" out.txt || { echo "FAIL: $cmd --help prints no usage"; failures=$((failures + 1)); }
done
expect 0 "" --help
expect 0 "" --version

echo "== clann check =="
# The CPU backend's fast mode against its reference: passes, and --json holds the counts (at the
# top level too with one device); two devices: per device only.
expect 0 "" check --quick --device cpu --json
python3 -c '
import json, sys
o = json.load(open("out.txt"))
d = o["devices"][0]
assert o["verdict"] == "pass" and o["failed"] == 0 and o["checks"] == d["checks"] > 200, o
assert d["failed"] == 0 and d["failures"] == [] and d["selector"] == "cpu", d
' || { echo "FAIL: check --json"; failures=$((failures + 1)); }
expect 0 "" check --quick --device cpu --device cpu --json
python3 -c '
import json
o = json.load(open("out.txt"))
assert len(o["devices"]) == 2 and "checks" not in o and "failed" not in o, o
' || { echo "FAIL: check --json, two devices"; failures=$((failures + 1)); }
expect 0 "" check --quick --device cpu
grep -q "verdict: PASS" out.txt || { echo "FAIL: check prints no verdict"; failures=$((failures + 1)); }
# a device that cannot be checked fails the run, named in the output
expect 1 "" check --quick --device nosuchdevice --json
python3 -c '
import json
o = json.load(open("out.txt"))
assert o["verdict"] == "fail" and "nosuchdevice" in o["devices"][0]["error"], o
' || { echo "FAIL: check of a missing device"; failures=$((failures + 1)); }

echo "== runtime failures (exit 1) =="
expect 1 "missing.csv" train --data missing.csv --quiet
expect 1 "ragged.csv.*row 3" train --data ragged.csv --quiet
expect 1 "word.csv.*row 3.*abc" train --data word.csv --quiet
expect 1 "device.*nosuchdevice" train $common --device nosuchdevice
expect 1 "missing.safetensors" eval --model missing.safetensors --data d.csv
expect 1 "junk.safetensors" eval --model junk.safetensors --data d.csv
expect 1 "missing.safetensors" info missing.safetensors
expect 1 "missing.json: cannot open" train $plain --spec missing.json
printf '{"inputs": 4, "loss": "mse", "layers": [{"kind": "dense", "units": 0}]}' > bad.json
expect 1 "layers\[0\]\.units" train $plain --spec bad.json
expect 1 "missing.ckpt" train $plain --resume missing.ckpt

echo "== convolutions =="
expect 0 "" train $common --epochs 2 --conv 3x2 --pool 0 --input-shape 1,2,2 --no-batchnorm \
    --out conv.safetensors
expect 0 "" info conv.safetensors
grep -Eq "^ +0 +conv2d +12 +relu +15 +15 +- +3x2x2" out.txt || { echo "FAIL: info conv layer:"; cat out.txt; failures=$((failures + 1)); }
grep -Eq "^ +1 +flatten +12 " out.txt || { echo "FAIL: info flatten layer:"; cat out.txt; failures=$((failures + 1)); }
expect 0 "" eval --model conv.safetensors --data d.csv
expect 1 "does not fit the 1x1 input" train $common --conv 2x2 --input-shape 4,1,1 --pool 2
# batch norm, the default with --conv: a conv without bias, a batch norm of 3 channels (12
# parameters, 6 trained)
expect 0 "" train $common --epochs 2 --conv 3x2 --pool 0 --input-shape 1,2,2 \
    --spatial-dropout 0.2 --out convbn.safetensors
expect 0 "" info convbn.safetensors
grep -Eq "^ +0 +conv2d +12 +linear +12 +12 " out.txt || { echo "FAIL: info conv without bias:"; cat out.txt; failures=$((failures + 1)); }
grep -Eq "^ +1 +batchnorm +12 +- +12 +6 " out.txt || { echo "FAIL: info channel batchnorm:"; cat out.txt; failures=$((failures + 1)); }
expect 0 "" info convbn.safetensors --spec
grep -q '"kind":"dropout","rate":0.2[0-9]*,"spatial":true' out.txt || { echo "FAIL: spatial dropout in the spec:"; cat out.txt; failures=$((failures + 1)); }
expect 0 "" eval --model convbn.safetensors --data d.csv
expect_usage "--spatial-dropout drops channels of the --conv layers" train $common --spatial-dropout 0.2
expect_usage "--batchnorm and --no-batchnorm contradict" train $common --conv 2x2 \
    --input-shape 1,2,2 --batchnorm --no-batchnorm
expect_usage "--spatial-dropout: '1' must be a number in" train $common --conv 2x2 \
    --input-shape 1,2,2 --spatial-dropout 1

echo "== train, width mismatch, checkpoints, info =="
expect 0 "" train $common --epochs 4 --out straight.safetensors
expect 0 "" train $common --epochs 2 --out half.safetensors --checkpoint run.ckpt
expect 0 "resuming run.ckpt after epoch 2" train --data d.csv --batch 16 --quiet --epochs 4 \
    --resume run.ckpt --out resumed.safetensors
if cmp -s straight.safetensors resumed.safetensors; then
    echo "ok: 4 epochs straight == 2 + resume + 2, byte for byte"
else
    echo "FAIL: the resumed model differs from the uninterrupted one"; failures=$((failures + 1))
fi
expect 0 "nothing to train" train --data d.csv --batch 16 --quiet --epochs 2 --resume run.ckpt \
    --out again.safetensors
expect 2 "has 3 feature columns but the model takes 4" eval --model straight.safetensors \
    --data narrow.csv
expect 2 "takes 4 inputs but the data has 3" train --data narrow.csv --quiet --resume run.ckpt
expect 1 "not a checkpoint" train $plain --resume straight.safetensors
expect 0 "" eval --model run.ckpt --data d.csv
expect 0 "" info run.ckpt
grep -q "checkpoint (step 16, epoch 2" out.txt || { echo "FAIL: info does not show the checkpoint"; cat out.txt; failures=$((failures + 1)); }
expect 0 "" info straight.safetensors
grep -q "not a checkpoint" out.txt || { echo "FAIL: info calls a model file a checkpoint"; failures=$((failures + 1)); }
grep -Eq "^ +0 +dense +8 +relu +40 +40 +[0-9]+/32" out.txt || { echo "FAIL: info layer table:"; cat out.txt; failures=$((failures + 1)); }
expect 0 "" info --json run.ckpt
grep -q '"checkpoint": { "format_version": "1.0", "step": 16, "epoch": 2' out.txt || { echo "FAIL: info --json:"; cat out.txt; failures=$((failures + 1)); }
expect 0 "" info straight.safetensors --spec
cp out.txt spec.json
expect 0 "" train --spec spec.json --data d.csv --batch 16 --quiet --epochs 4 --out fromspec.safetensors
if cmp -s straight.safetensors fromspec.safetensors; then
    echo "ok: a model rebuilt from its spec trains to the same bytes"
else
    echo "FAIL: train --spec from the model's own spec differs"; failures=$((failures + 1))
fi
expect 1 "run.ckpt.dir" train $common --epochs 1 --checkpoint run.ckpt.dir/x/run.ckpt

# NCE and sampled softmax are spec losses: a multiclass model's spec with the loss swapped
# trains, evaluates with the full softmax, and keeps its sampler; a bad sampler is named.
awk 'BEGIN { srand(3); print "a,b,c,d,y"; for (i = 0; i < 1200; i++) { k = i % 40;
     printf "%.3f,%.3f,%.3f,%.3f,%d\n", sin(k), cos(k), sin(3 * k), cos(5 * k) + rand() / 20, k } }' > mc.csv
expect 0 "" train --data mc.csv --task multiclass --hidden 8 --epochs 1 --quiet --out mc.safetensors
expect 0 "" info mc.safetensors --spec
sed 's/"loss":"sparse_softmax_cross_entropy"/"loss":"nce","num_sampled":5,"sampler":"log_uniform"/' out.txt > nce.json
expect 0 "" train --spec nce.json --data mc.csv --epochs 2 --quiet --out nce.safetensors
expect 0 "" info nce.safetensors
grep -q "loss nce" out.txt || { echo "FAIL: info does not show the NCE loss"; cat out.txt; failures=$((failures + 1)); }
expect 0 "" info nce.safetensors --spec
grep -q '"num_sampled":5,"sampler":"log_uniform"' out.txt || { echo "FAIL: the NCE spec lost its sampler"; cat out.txt; failures=$((failures + 1)); }
expect 0 "" eval --model nce.safetensors --data mc.csv
grep -q "task multiclass" out.txt || { echo "FAIL: eval of an NCE model:"; cat out.txt; failures=$((failures + 1)); }
sed 's/log_uniform/zipf/' nce.json > badsampler.json
expect 1 "sampler: unknown name 'zipf'" train --spec badsampler.json --data mc.csv --epochs 1 --quiet

echo "== tune =="
expect 0 "run 4/4" tune --data d.csv --hidden 8 --batch 16 --epochs 2 --grid "lr=0.001,0.01" --repeats 2 --out best.safetensors
grep -q "\*best" out.txt || { echo "FAIL: tune marks no best"; cat out.txt; failures=$((failures + 1)); }
[ -f best.safetensors ] || { echo "FAIL: tune wrote no model"; failures=$((failures + 1)); }
expect 0 "" tune $common --epochs 1 --grid "hidden=4,2|6" --repeats 1 --json --monitor val_accuracy
grep -q '"monitor": "val_accuracy", "mode": "max"' out.txt || { echo "FAIL: tune --json:"; cat out.txt; failures=$((failures + 1)); }
expect_usage "--lr: 'abc' is not a number" tune $common --grid "lr=0.1,abc"
# A clearly better setting ranks first, and the table's mean and (sample) standard deviation are
# those of the runs it printed.
expect 0 "" tune --data d.csv --hidden 8 --batch 16 --epochs 3 --grid "lr=0.00001,0.05" --repeats 2 --out ranked.safetensors
if ! awk '/^run [0-9]+\/4 +lr=0.05 / { v[n++] = $NF == "" ? 0 : $(NF - 1) }
          /^lr=0.05 / { mean = $2; sd = $3; best = /\*best/ }
          END { m = (v[0] + v[1]) / 2; s = sqrt((v[0] - m) ^ 2 + (v[1] - m) ^ 2);
                exit !(best && n == 2 && (mean - m) ^ 2 < 1e-10 && (sd - s) ^ 2 < 1e-10) }' \
        err.txt out.txt; then
    echo "FAIL: tune's ranking or statistics:"; cat err.txt out.txt; failures=$((failures + 1))
fi

echo "== splits, scaling and evaluation =="
expect 0 "split: 96 train, 12 dev, 12 test rows \(stratified\)" train $common --epochs 2 --split 0.8,0.1,0.1 --scale standard --logdir run --out split.safetensors
for f in log.csv split.json eval.json; do
    [ -f "run/$f" ] || { echo "FAIL: train --logdir wrote no $f"; failures=$((failures + 1)); }
done
grep -q '"stratified": true' run/split.json || { echo "FAIL: split.json:"; cat run/split.json; failures=$((failures + 1)); }
grep -q 'input_scaler' split.safetensors || { echo "FAIL: the scaler is not in the model file"; failures=$((failures + 1)); }
expect 0 "" eval --model split.safetensors --data d.csv --json
for key in accuracy top5_accuracy log_loss macro_f1 macro_roc_auc roc_auc_per_class confusion; do
    grep -q "\"$key\"" out.txt || { echo "FAIL: eval --json lacks $key:"; cat out.txt; failures=$((failures + 1)); }
done
# The logged val_loss is the data loss, as eval's loss on the same rows (the L2 penalty apart).
head -41 d.csv > held.csv
expect 0 "loss [0-9.]+  penalty [0-9]" train --data d.csv --hidden 8 --batch 16 --epochs 2 --l2 0.01 --test held.csv --logdir runl2 --out l2.safetensors
expect 0 "" eval --model l2.safetensors --data held.csv --json
awk -F, '$1 == "epoch" { v = $6 } END { print v }' runl2/log.csv > logged.txt
sed 's/.*"metrics":{"loss":\([0-9.e+-]*\).*/\1/' out.txt > evaluated.txt
if ! awk 'NR == FNR { a = $1; next } { d = a - $1; exit !(a > 0 && d * d < 1e-12 * a * a) }' \
        logged.txt evaluated.txt; then
    echo "FAIL: logged val_loss $(cat logged.txt) is not eval's loss $(cat evaluated.txt)"
    failures=$((failures + 1))
fi
expect 0 "holding out 10% of the training rows" train $common --epochs 3 --early-stop 1 --out es.safetensors
expect_usage "--split: '0.5,0.2' must be 2 or 3 fractions summing to 1" train $common --split 0.5,0.2
expect_usage "--scale: 'zscore' is not standard" train $common --scale zscore
# These are found once the model is loaded: stderr also holds the device line.
expect 2 "--threshold: 'best'" eval --model split.safetensors --data d.csv --threshold best
expect 2 "--threshold applies to binary classifiers" eval --model split.safetensors --data d.csv --threshold 0.3
expect 2 "--slice applies to binary classifiers" eval --model split.safetensors --data d.csv --slice 0

echo "== output files: atomic, never over a device, old file kept on failure =="
# Device targets are refused and survive.
expect 1 "/dev/null.*a device" predict --model split.safetensors --data d.csv --label y --out /dev/null
expect 1 "/dev/null.*a device" report run --out /dev/null
expect 1 "/dev/null.*a device" train $common --epochs 1 --out /dev/null
[ -c /dev/null ] || { echo "FAIL: /dev/null is no longer a device"; failures=$((failures + 1)); }
# A 250-character name fits (the temporary file's name is short).
long=$(printf 'p%.0s' $(seq 250))
expect 0 "" predict --model split.safetensors --data d.csv --label y --out "$long"
[ "$(wc -l < "$long")" = 121 ] || { echo "FAIL: predict to a 250-character name"; failures=$((failures + 1)); }
# A full disk (the file-size limit: EFBIG, with SIGXFSZ ignored) fails the write with the
# reason and keeps the older file as it was.
for cmd in "predict --model split.safetensors --data d.csv --label y --out kept.txt" "report run --out kept.txt"; do
    echo "older contents" > kept.txt
    (trap '' XFSZ; ulimit -f 1; "$clann" $cmd > out.txt 2> err.txt)
    got=$?
    if [ "$got" != 1 ] || ! grep -q "kept.txt.*File too large" err.txt ||
       [ "$(cat kept.txt)" != "older contents" ] || ls -a | grep -q '\.tmp\.'; then
        echo "FAIL: clann $cmd on a full disk exited $got:"; cat err.txt; failures=$((failures + 1))
    else
        echo "ok: clann $cmd on a full disk -> 1, older file kept"
    fi
done
# --logdir on a full disk: no empty log.csv. (Messages go through a pipe, which the limit of 0
# bytes does not bind.)
( (trap '' XFSZ; ulimit -f 0; "$clann" train $common --epochs 1 --logdir full; echo "rc=$?" >&2) \
    2>&1 >/dev/null | cat > err.txt )
got=$(sed -n 's/^rc=//p' err.txt)
if [ "$got" != 1 ] || [ -e full/log.csv ] || ! grep -q "File too large" err.txt; then
    echo "FAIL: train --logdir on a full disk exited $got; log.csv: $(ls -l full 2>&1)"; cat err.txt
    failures=$((failures + 1))
else
    echo "ok: train --logdir on a full disk -> 1, no log.csv"
fi

echo "== text columns become feature columns =="
awk 'BEGIN { srand(5); split("red green blue", col, " "); print "city,colour,size,y";
    for (i = 0; i < 300; i++) { c = int(rand() * 20); k = col[1 + int(rand() * 3)]; s = rand() * 2 - 1;
        printf "town%d,%s,%.3f,%d\n", c, k, s, ((c % 2 == 0) + (k == "red") + s > 1) } }' > cat.csv
expect 0 "features: 3 text and numeric columns" train --data cat.csv --hidden 8 --batch 16 --quiet --epochs 2 --split 0.8,0.2 --out cat.safetensors
expect 0 "" info cat.safetensors
grep -q "city *vocabulary" out.txt || { echo "FAIL: info lists no feature columns:"; cat out.txt; failures=$((failures + 1)); }
expect 0 "" info cat.safetensors --json
# The embedding tables count, and the first dense layer sees the feature layer's full width.
python3 - out.txt <<'PY' || failures=$((failures + 1))
import json, sys
d = json.load(open(sys.argv[1]))
f, dense = d["layers"][0], d["layers"][1]
ok = (f["kind"] == "features" and f["params"] > 0 and
      dense["params"] == (f["units"] + 1) * dense["units"] and
      d["params"] == sum(l["params"] for l in d["layers"]))
if not ok:
    print("FAIL: info's parameter counts of a feature-column model:", d["layers"][:2], d["params"])
sys.exit(0 if ok else 1)
PY
expect 0 "" eval --model cat.safetensors --data cat.csv --json
grep -q '"roc_auc"' out.txt || { echo "FAIL: eval of a feature-column model:"; cat out.txt; failures=$((failures + 1)); }
expect 0 "" predict --model cat.safetensors --data cat.csv --out cat-pred.csv
[ "$(wc -l < cat-pred.csv)" = 301 ] || { echo "FAIL: predict wrote $(wc -l < cat-pred.csv) lines"; failures=$((failures + 1)); }
# Tuning a CSV with text columns: feature columns fitted on the training part, the clearly
# better learning rate ranked first, and its model evaluates on raw text data.
expect 0 "" tune --data cat.csv --hidden 8 --batch 16 --epochs 3 --grid "lr=0.0001,0.05" \
    --repeats 2 --out cat-tuned.safetensors
grep -q "best: lr=0.05" out.txt || { echo "FAIL: tune of a text-column CSV ranked:"; cat out.txt; failures=$((failures + 1)); }
expect 0 "" eval --model cat-tuned.safetensors --data cat.csv --json
grep -q '"roc_auc"' out.txt || { echo "FAIL: eval of a tuned feature-column model:"; cat out.txt; failures=$((failures + 1)); }
head -1 cat.csv > cat-dev.csv && tail -60 cat.csv >> cat-dev.csv
expect 0 "" tune --data cat.csv --dev cat-dev.csv --hidden 8 --batch 16 --epochs 3 \
    --grid "lr=0.0001,0.05" --repeats 1
grep -q "best: lr=0.05" out.txt || { echo "FAIL: tune with a text-column --dev ranked:"; cat out.txt; failures=$((failures + 1)); }

# The progress bar on a terminal (a pty from script(1), its width set by stty): every redraw
# fits in the width minus one column (no wrap), shows the running loss, and has a bar when
# there is room for one.
if command -v script >/dev/null 2>&1; then
    for cols in 100 40 20; do
        script -qec "stty cols $cols; '$clann' train --data d.csv --hidden 8 --batch 4 --epochs 2 --out bar.safetensors" \
            /dev/null > tty.txt 2>&1
        tr '\r' '\n' < tty.txt | sed 's/\x1b\[K//g' | grep '^epoch' | grep -v 'accuracy' > bars.txt
        long=$(awk -v w="$cols" 'length($0) >= w' bars.txt)
        if [ ! -s bars.txt ] || [ -n "$long" ]; then
            echo "FAIL: progress bar at $cols columns: $(wc -l < bars.txt) redraws, too long: $long"
            failures=$((failures + 1))
        elif [ "$cols" -ge 40 ] && ! grep -q 'loss [0-9]' bars.txt; then
            echo "FAIL: no running loss in the bar at $cols columns: $(tail -n 1 bars.txt)"
            failures=$((failures + 1))
        elif [ "$cols" = 100 ] && ! grep -q '\[=*  *\]\|\[=*\]' bars.txt; then
            echo "FAIL: no bar at 100 columns: $(tail -n 1 bars.txt)"
            failures=$((failures + 1))
        else
            echo "ok: progress bar at $cols columns: $(tail -n 1 bars.txt)"
        fi
    done
else
    echo "note: no script(1) (util-linux); the progress bar on a terminal is not checked"
fi

echo "$failures failure(s)"
[ "$failures" = 0 ]
