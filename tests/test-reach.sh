#!/bin/sh
# test-reach.sh CLANN - every training option reaches the run from the command line and from a
# spec (issue 17, "Reach"): the learning-rate schedules change the logged rate per epoch as
# computed here, clipping and noise land in the model's training options and change training,
# --checkpoint-best saves exactly the best epoch of its own monitor, a spec printed by
# `clann info --spec` and fed to `train --spec` gives the same model byte for byte, bad keys
# and values are named, help texts list every accepted value, and `tune` prepares data as
# `train` does (its best model carries the scaler; the same options give the same model).
set -u
. "$(dirname "$0")/clitest.sh"
# run CODE ARGS...: clann ARGS must exit CODE (stdout in out.txt, stderr in err.txt).
run() {
    code=$1
    shift
    "$clann" "$@" > out.txt 2> err.txt
    got=$?
    if [ "$got" != "$code" ]; then fail "clann $* exited $got, expected $code:"; cat err.txt
    else ok "clann $* -> $code"; fi
}
# usage PATTERN ARGS...: exit 2 with PATTERN (grep -F) on stderr.
usage() {
    pattern=$1
    shift
    run 2 "$@"
    grep -Fq -- "$pattern" err.txt || { fail "stderr lacks '$pattern':"; cat err.txt; }
}
# The logged learning rate of each epoch (log.csv's learning_rate column), one per line.
lr_column() {
    awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "learning_rate") c = i; next }
             $1 == "epoch" { print $c }' "$1/log.csv"
}
# A training-option value from a model's spec: spec_get FILE PYTHON-EXPR-ON-t.
spec_get() {
    "$clann" info "$1" --spec 2> /dev/null | python3 -c "import json, sys; t = json.load(sys.stdin)['training']; print($2)"
}

# A binary task, 4 features, 300 rows; a held-out test file of the same rule.
gen() {
    awk -v seed="$1" -v n="$2" 'BEGIN { srand(seed); print "a,b,c,d,y";
        for (i = 0; i < n; i++) { s = 0; line = "";
            for (j = 0; j < 4; j++) { v = rand() * 2 - 1; s += v; line = line sprintf("%.5f,", v) }
            printf "%s%d\n", line, (s + (rand() - 0.5) > 0) } }'
}
gen 3 300 > d.csv
gen 4 200 > t.csv
small="--data d.csv --hidden 8 --batch 16 --quiet"

echo "== learning-rate schedules: the logged rate per epoch =="
run 0 train $small --epochs 5 --lr 0.01 --lr-schedule step:2:0.5 --logdir step --out s.st
# step: lr0 * factor ^ floor((epoch - 1) / every)
lr_column step | awk '{ want = 0.01 * 0.5 ^ int((NR - 1) / 2);
    if ((($1 - want) / want) ^ 2 > 1e-12) { print "epoch " NR ": " $1 " != " want; bad = 1 } }
    END { exit bad }' && ok "step:2:0.5" || fail "step schedule's rates"
run 0 train $small --epochs 4 --lr 0.01 --lr-schedule exponential:0.5 --logdir exp --out e.st
# exponential per epoch (300 rows / 16 = 19 steps an epoch): lr0 * 0.5 ^ epoch at its end
lr_column exp | awk '{ want = 0.01 * 0.5 ^ NR;
    if ((($1 - want) / want) ^ 2 > 1e-10) { print "epoch " NR ": " $1 " != " want; bad = 1 } }
    END { exit bad }' && ok "exponential:0.5" || fail "exponential schedule's rates"
[ "$(spec_get e.st "t['schedule']['decay_steps']")" = 19 ] || fail "exponential: decay_steps is not an epoch's 19 steps"
# plateau on training accuracy (it stalls on a noisy rule): halve after 1 epoch without a new
# best, never below 0.004, as computed from the logged accuracy (the logged rate is the one the
# epoch trained with: a cut at its end shows in the next epoch's row)
run 0 train $small --epochs 10 --lr 0.02 --lr-schedule plateau:1:0.5:accuracy --min-lr 0.004 \
    --logdir plat --out p.st
awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) { if ($i == "learning_rate") l = i; if ($i == "accuracy") a = i }
                   lr = 0.02; best = -1; next }
         $1 == "epoch" { if ((($l - lr) / lr) ^ 2 > 1e-10) { print "epoch " $2 ": " $l " != " lr; bad = 1 }
             if ($a > best) { best = $a; wait = 0 } else wait++;
             if (wait >= 1) { lr = lr * 0.5; if (lr < 0.004) lr = 0.004; wait = 0; cuts++ } }
         END { if (cuts < 1) { print "no plateau in 10 epochs"; bad = 1 } exit bad }' plat/log.csv \
    && ok "plateau:1:0.5:accuracy with --min-lr" || fail "plateau schedule's rates"
usage "--lr-schedule: 'cosine:3' is not constant, step:EVERY:FACTOR" train $small --lr-schedule cosine:3
usage "--lr-schedule: the factor '2' must be in (0, 1]" train $small --lr-schedule step:2:2
usage "--lr-decay and --lr-schedule cannot be combined" train $small --lr-decay 0.9 --lr-schedule constant
usage "--lr-schedule: 'val_f1' is not one of loss|accuracy|val_loss|val_accuracy|val_auc" \
    train $small --lr-schedule plateau:2:0.5:val_f1

echo "== clipping and noise reach the run =="
run 0 train $small --epochs 3 --json --out plain.st
plain_loss=$(python3 -c "import json; print(json.load(open('out.txt'))['train_loss'])")
for opt in "--clip-global-norm 0.05" "--gradient-noise 0.5" "--weight-noise 0.3"; do
    run 0 train $small --epochs 3 --json $opt --out noisy.st
    loss=$(python3 -c "import json; print(json.load(open('out.txt'))['train_loss'])")
    key=$(echo "$opt" | sed 's/^--\([a-z-]*\) .*/\1/' | tr - _)
    value=$(spec_get noisy.st "t['$key']")
    [ "$value" = "${opt##* }" ] || fail "$opt: the model's training options say $key=$value"
    [ "$loss" != "$plain_loss" ] && ok "$opt changes training ($plain_loss -> $loss)" \
        || fail "$opt left the training loss at $plain_loss"
done
run 1 train $small --epochs 1 --label-noise 0.1
grep -q "label noise applies to regression targets only" err.txt || fail "--label-noise on a classifier: $(cat err.txt)"
usage "--gradient-noise: '-1' must be a number >= 0" train $small --gradient-noise -1

echo "== --checkpoint-best on its own monitor =="
# The test file is the validation data (no dev split): the best file holds the epoch of the
# best val_accuracy (logged as test_accuracy: the figures are on the test file), while early
# stopping's --monitor is val_loss.
run 0 train $small --test t.csv --epochs 12 --lr 0.05 --monitor val_loss --checkpoint-best best.st \
    --checkpoint-monitor val_accuracy --logdir ck --out last.st
best=$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "test_accuracy") c = i; b = -1; next }
                $1 == "epoch" && $c > b { b = $c } END { printf "%.4f", b }' ck/log.csv)
run 0 eval --model best.st --data t.csv --json
got=$(python3 -c "import json; d = json.load(open('out.txt')); print('%.4f' % d.get('metrics', d)['accuracy'])")
[ "$got" = "$best" ] && ok "best.st scores the best logged val_accuracy $best" \
    || fail "best.st scores $got, the best logged val_accuracy is $best"
[ "$(spec_get last.st "t['checkpoint']['monitor']")" = val_accuracy ] || fail "checkpoint monitor not in the spec"
# a monitor that improves every epoch (training loss) saves every epoch: the last one is the file
run 0 train $small --epochs 4 --checkpoint-best every.st --checkpoint-monitor loss --out final.st
cmp -s every.st final.st && ok "loss improves every epoch: the best file is the final model" \
    || fail "best-on-loss file differs from the final model"
usage "--checkpoint-monitor needs --checkpoint-best PATH" train $small --checkpoint-monitor loss
usage "--checkpoint-monitor: 'val_f1' is not one of" train $small --checkpoint-best b.st --checkpoint-monitor val_f1

echo "== the clip scaler =="
run 0 train $small --epochs 1 --scale clip:-0.5:0.5 --out clip.st
"$clann" info clip.st --spec 2> /dev/null | grep -q '"input_scaler":{"kind":"clip","lo":-0.5,"hi":0.5}' \
    && ok "--scale clip:-0.5:0.5 in the model" || fail "the clip scaler is not in the model"
usage "--scale: 'clip': expected clip:LO:HI" train $small --scale clip
usage "--scale: 'clip:2:1': LO must be below HI" train $small --scale clip:2:1
usage "--scale-target: 'log:0:1': expected log alone" train $small --scale-target log:0:1

echo "== the spec round trip keeps every option =="
run 0 train $small --epochs 4 --lr 0.01 --split 0.8,0.2 --lr-schedule plateau:2:0.5:val_accuracy \
    --min-lr 0.001 --clip-global-norm 5 --clip-norm 3 --clip-value 2 --gradient-noise 0.01 \
    --weight-noise 0.02 --early-stop 3 --monitor val_loss --checkpoint-best rt-best.st \
    --checkpoint-monitor val_auc --scale clip:-2:2 --logdir rt --out a.st
"$clann" info a.st --spec > A.json 2> /dev/null
run 0 train --data d.csv --split 0.8,0.2 --quiet --spec A.json --out b.st
"$clann" info b.st --spec > B.json 2> /dev/null
cmp -s A.json B.json && ok "info --spec -> train --spec -> info --spec is identical" \
    || { fail "the round-tripped spec differs:"; diff A.json B.json; }
cmp -s a.st b.st && ok "and so is the model file, byte for byte" || fail "the round-tripped model differs"
# a flag beside --spec overrides just that option
run 0 train --data d.csv --split 0.8,0.2 --quiet --spec A.json --epochs 2 --weight-noise 0 --out c.st
[ "$(spec_get c.st "(t['epochs'], t['weight_noise'], t['clip_global_norm'])")" = "(2, 0, 5)" ] \
    && ok "--epochs and --weight-noise override the spec's" || fail "flags beside --spec: $(spec_get c.st "t")"
# unknown keys and values are errors naming them
python3 -c "import json; s = json.load(open('A.json')); s['training']['gradient_nosie'] = 0.1; json.dump(s, open('bad1.json', 'w'))"
run 1 train --data d.csv --quiet --spec bad1.json
grep -Fq "training.gradient_nosie: unknown key" err.txt || fail "unknown training key: $(cat err.txt)"
python3 -c "import json; s = json.load(open('A.json')); s['training']['schedule']['kind'] = 'cosine'; json.dump(s, open('bad2.json', 'w'))"
run 1 train --data d.csv --quiet --spec bad2.json
grep -Fq "training.schedule.kind" err.txt && grep -Fq "cosine" err.txt || fail "unknown schedule kind: $(cat err.txt)"

echo "== help lists every accepted value =="
run 0 train --help
for want in "--monitor VALUE" "val_auc" "leaky_relu" "rmsprop|nesterov" "none|standard|minmax|log|clip" \
    "constant|step|exponential|plateau" "zero|mean|median|mode|drop" "regression|binary|multiclass|multilabel" \
    "--checkpoint-monitor" "--clip-global-norm" "--gradient-noise" "--weight-noise" "--label-noise"; do
    grep -Fq -- "$want" out.txt || fail "train --help lacks '$want'"
done
run 0 tune --help
grep -Fq "loss|accuracy|val_loss|val_accuracy|val_auc" out.txt || fail "tune --help lacks the monitors"
grep -Fq -- "--lr-schedule" out.txt || fail "tune --help lacks --lr-schedule"

echo "== tune prepares data as train does =="
run 0 tune $small --epochs 2 --grid "lr=0.001,0.01" --repeats 1 --scale minmax --out tuned.st
"$clann" info tuned.st --spec 2> /dev/null | grep -q '"input_scaler":{"kind":"minmax"' \
    && ok "tune's best model carries --scale minmax" || fail "tune's best model has no minmax scaler"
# the same options in train and in a one-run tune: the same model, byte for byte
opts="--data d.csv --hidden 8 --batch 16 --epochs 3 --lr 0.01 --split 0.7,0.3 --seed 7 --scale minmax --clip-global-norm 2 --quiet"
run 0 train $opts --out t1.st
run 0 tune $opts --grid "dropout=0" --repeats 1 --out t2.st
cmp -s t1.st t2.st && ok "train and tune with the same options write the same model" \
    || { fail "train and tune differ:"; "$clann" info t1.st --spec > t1.json; "$clann" info t2.st --spec > t2.json; diff t1.json t2.json; }
run 0 tune $small --epochs 2 --grid "lr=0.001,0.01" --repeats 1 --monitor val_auc --json --out auc.st
grep -q '"monitor": "val_auc", "mode": "max"' out.txt && ok "tune scores val_auc" || fail "tune --monitor val_auc: $(cat out.txt)"
run 0 tune $small --epochs 2 --grid "lr-schedule=step:1:0.5|constant clip-global-norm=1,5" --repeats 1 --out sched.st
[ "$(grep -c 'lr-schedule=' out.txt)" = 5 ] && ok "tune varies the new options (4 rows and the best)" \
    || { fail "tune over --lr-schedule and --clip-global-norm:"; cat out.txt; }
usage "tune: --dev and --split cannot be combined" tune $small --grid "lr=0.1" --dev t.csv --split 0.8,0.2

if [ "$failures" -ne 0 ]; then
    echo "$failures failure(s)"
    exit 1
fi
echo "all reach checks passed"
