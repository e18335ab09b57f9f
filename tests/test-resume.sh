#!/bin/sh
# test-resume.sh CLANN - `clann train --resume CKPT` continues the run the checkpoint was saved
# in: its training options (batch, schedule, clipping, the split's seed), its scalers and its
# text classes come from the checkpoint, so 4 epochs + a resume to 8 is byte for byte the model
# of 8 epochs straight; an option given again overrides it with a warning; labels map through
# the checkpoint's classes whatever the resumed file holds, and an unknown label is an error
# naming the file, row and label.
set -u
. "$(dirname "$0")/clitest.sh"
need_python json

# accuracy: the accuracy in the eval --json of out.txt
accuracy() {
    /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["metrics"]["accuracy"])' \
        < out.txt
}

# same A B WHAT: the two model files are byte for byte the same.
same() {
    if cmp -s "$1" "$2"; then ok "$3: byte for byte"; else fail "$3: $1 and $2 differ"; fi
}

# Three text classes of two features (sorted classes: high, low, mid), a numeric column
# that does not matter, and a regression target.
awk 'BEGIN { srand(11); print "x1,x2,noise,kind,price";
    for (i = 0; i < 400; i++) { a = rand() * 2 - 1; b = rand() * 2 - 1; s = a + b;
        k = s < -0.5 ? "low" : s < 0.5 ? "mid" : "high";
        printf "%.4f,%.4f,%.4f,%s,%.2f\n", 10 * a, 3 * b + 5, rand(), k, 1000 + 300 * s }}' \
    > t.csv
cut -d, -f1-4 t.csv > cls.csv
cut -d, -f1-3,5 t.csv > reg.csv
# the same rows with the columns in another order, label first
awk -F, -v OFS=, '{ print $4, $3, $2, $1 }' cls.csv > cls-reordered.csv
# no "high" rows: a vocabulary refitted on this file would make low class 0 and mid class 1
awk -F, 'NR == 1 || $4 != "high"' cls.csv > no-high.csv
# the rows sorted by label, and one with a label the checkpoint does not know
(head -1 cls.csv; tail -n +2 cls.csv | sort -t, -k4,4r) > sorted.csv
(head -1 cls.csv; sed -n 2,6p cls.csv; echo "1.0,5.0,0.5,giant"; tail -n +7 cls.csv) > giant.csv

run="--hidden 8 --lr 0.05 --quiet"
opts="--batch 32 --lr-decay 0.9 --clip-global-norm 1 --scale minmax --seed 7 --split 0.8,0.2"

echo "== the checkpoint's options, scaler and classes: 4 + 4 == 8 straight =="
expect 0 "" train --data cls.csv $run $opts --epochs 8 --out straight.safetensors
expect 0 "" train --data cls.csv $run $opts --epochs 4 --checkpoint run.ckpt --out half.safetensors
# nothing but the data, --split (its fractions are not recorded) and the total
expect 0 "resuming run.ckpt after epoch 4" train --data cls.csv --split 0.8,0.2 --quiet \
    --resume run.ckpt --epochs 8 --checkpoint again.ckpt --out resumed.safetensors
grep -q "labels: the checkpoint's 3 text classes" err.txt ||
    fail "no note of the checkpoint's classes"
grep -q warning err.txt && fail "a warning for a faithful resume: $(cat err.txt)"
same straight.safetensors resumed.safetensors "4 epochs + --resume to 8 == 8 epochs straight"
# the checkpoints of a resumed run record the run's total: a resume of one trains to it
expect 0 "" info again.ckpt --spec
grep -q '"epochs":8,' out.txt || fail "the resumed run's checkpoint does not record epochs 8"
expect 0 "nothing to train: the checkpoint is at epoch 8 of --epochs 8" train --data cls.csv \
    --split 0.8,0.2 --quiet --resume again.ckpt --out none.safetensors
# the columns in another order, the label first: the same inputs by name
expect 0 "" train --data cls-reordered.csv --split 0.8,0.2 --quiet --resume run.ckpt \
    --epochs 8 --out reordered.safetensors
same straight.safetensors reordered.safetensors "a resume on the columns reordered"

echo "== a step schedule goes on counting the checkpoint's epochs: 3 + 3 == 6 straight =="
step="--batch 32 --lr-schedule step:2:0.5"
expect 0 "" train --data cls.csv $run $step --epochs 6 --out step-straight.safetensors
expect 0 "" train --data cls.csv $run $step --epochs 3 --checkpoint step.ckpt \
    --out step-half.safetensors
expect 0 "" train --data cls.csv --quiet --resume step.ckpt --epochs 6 \
    --out step-resumed.safetensors
same step-straight.safetensors step-resumed.safetensors "a step schedule across a resume"

echo "== regression: the target scaler comes from the checkpoint =="
reg="--scale-target minmax --batch 16 --lr-schedule exponential:0.8"
expect 0 "" train --data reg.csv $run $reg --epochs 6 --out reg-straight.safetensors
expect 0 "" train --data reg.csv $run $reg --epochs 3 --checkpoint reg.ckpt \
    --out reg-half.safetensors
# a file without its largest targets: refitted, the target scaler would change
awk -F, 'NR == 1 || $4 < 1400' reg.csv > reg-small.csv
expect 0 "" train --data reg.csv --quiet --resume reg.ckpt --epochs 6 --out reg-resumed.safetensors
same reg-straight.safetensors reg-resumed.safetensors "a regressor's 3 + 3 epochs == 6"
expect 0 "" train --data reg-small.csv --quiet --resume reg.ckpt --epochs 6 \
    --out reg-small.safetensors
expect 0 "" info reg-small.safetensors --spec
cp out.txt small.json
expect 0 "" info reg.ckpt --spec
scalers=$(/usr/bin/python3 -c 'import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:])
print(a["target_scaler"] == b["target_scaler"] and a["input_scaler"] == b["input_scaler"])' \
    small.json out.txt 2>&1)
[ "$scalers" = True ] && ok "the scalers of a resume on other rows are the checkpoint's" ||
    fail "a resume refitted the scalers: $scalers"
expect 2 "--scale cannot be combined with --resume" train --data reg.csv --resume reg.ckpt \
    --scale none
expect 2 "--scale-target cannot be combined with --resume" train --data reg.csv --resume reg.ckpt \
    --scale-target none

echo "== missing cells: the checkpoint's --fill policy and values =="
awk -F, -v OFS=, 'NR > 1 && NR % 10 == 0 { $1 = "" } { print }' cls.csv > fill.csv
expect 0 "" train --data fill.csv $run --fill mean --epochs 2 --checkpoint fill.ckpt \
    --out fill.safetensors
# the later rows alone (another mean of x1), and the same rows with the gaps filled by hand
# with the checkpoint's value: a resume fills them the checkpoint's way, so the two agree
awk 'NR == 1 || NR > 200' fill.csv > fill-late.csv
expect 0 "" info fill.ckpt --spec
x1=$(/usr/bin/python3 -c 'import json, sys
print(json.load(sys.stdin)["columns"]["fill_values"][0])' < out.txt)
awk -F, -v OFS=, -v v="$x1" 'NR > 1 && $1 == "" { $1 = v } { print }' fill-late.csv > filled.csv
expect 0 "" train --data fill-late.csv --quiet --resume fill.ckpt --epochs 4 --out late.safetensors
expect 0 "" train --data filled.csv --quiet --resume fill.ckpt --epochs 4 --out filled.safetensors
same late.safetensors filled.safetensors "a resume fills missing cells with the checkpoint's values"

echo "== overrides: allowed, with a warning =="
expect 0 "warning: --batch differs from run.ckpt's training options \(batch 32\)" train \
    --data cls.csv --split 0.8,0.2 --quiet --resume run.ckpt --epochs 5 --batch 16 \
    --out override.safetensors
expect 0 "warning: --lr-schedule/--lr-decay/--min-lr differs" train --data cls.csv \
    --split 0.8,0.2 --quiet --resume run.ckpt --epochs 5 --lr-decay 0.5 --out override.safetensors
expect 0 "" train --data cls.csv --split 0.8,0.2 --quiet --resume run.ckpt --epochs 5 --batch 32 \
    --lr-decay 0.9 --out same.safetensors
grep -q warning err.txt && fail "a warning for options equal to the checkpoint's: $(cat err.txt)"

echo "== labels through the checkpoint's classes =="
# the rows sorted by label: the same classes, the same rows; only the order of the rows differs
expect 0 "" train --data sorted.csv --split 0.8,0.2 --quiet --resume run.ckpt --epochs 8 \
    --out sorted.safetensors
expect 0 "" eval --model sorted.safetensors --data cls.csv --json
acc_sorted=$(accuracy)
# a file without the "high" class trains low and mid as the checkpoint's classes 1 and 2
expect 0 "" train --data no-high.csv --quiet --resume run.ckpt --epochs 30 --out no-high.safetensors
expect 0 "" eval --model run.ckpt --data no-high.csv --json
before=$(accuracy)
expect 0 "" eval --model no-high.safetensors --data no-high.csv --json
after=$(accuracy)
echo "accuracy on the rows without 'high': checkpoint $before, after 26 more epochs on them $after;"\
     "sorted rows' model on all rows $acc_sorted"
# labels shifted by one class would leave next to no row right (low trained as high, mid as low)
/usr/bin/python3 -c "import sys
sys.exit(not ($after >= 0.95 and $after > $before and $acc_sorted >= 0.85))" &&
    ok "labels map through the checkpoint's classes" || fail "a resume mapped the labels wrongly"
expect 2 "giant.csv: row 7: label 'giant' is not one of the model's 3 classes" train \
    --data giant.csv --quiet --resume run.ckpt --epochs 8 --out giant.safetensors
[ -e giant.safetensors ] && fail "a model was written despite the unknown label"
expect 2 "cls.csv: the label column 'kind' holds text, but the checkpoint was trained on numeric" \
    train --data cls.csv --quiet --resume reg.ckpt --label kind --epochs 8 --out wrong.safetensors

echo "$failures failure(s)"
[ "$failures" = 0 ]
