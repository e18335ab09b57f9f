#!/bin/sh
# test-task-metrics.sh CLANN - the metrics and prediction columns of every task (issue 17):
# a multi-label model's exact-match and per-label accuracy and AUCs as scikit-learn computes
# them from the same predictions; a multiclass eval.json's one-vs-rest curves and calibration;
# a regressor's sample of (actual, predicted) pairs and its R^2 < 0 warning; predict's column
# names. Skipped (77) without /usr/bin/python3, numpy and scikit-learn.
set -u
. "$(dirname "$0")/clitest.sh"
need_python numpy sklearn

# page RUN TEXT...: clann report RUN is well-formed and holds every TEXT.
page() {
    run=$1
    shift
    "$clann" report "$run" > "$run.html" 2> err.txt || { fail "report $run:"; cat err.txt; return; }
    /usr/bin/python3 -c 'import sys, xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1])' "$run.html" ||
        fail "$run.html is not well-formed"
    for text in "$@"; do
        grep -qF -- "$text" "$run.html" || fail "$run.html lacks '$text'"
    done
}

# py CODE: runs Python code (numpy as np, json, csv, sklearn.metrics as M); fails on an
# exception.
py() {
    /usr/bin/python3 -c "import json, csv, numpy as np; from sklearn import metrics as M
$1" || fail "python check failed: $1"
}

/usr/bin/python3 - <<'PY'
import csv
import numpy as np
rng = np.random.default_rng(17)
n = 1200
x = rng.normal(size=(n, 6)).astype(np.float32)
w = rng.normal(size=(6, 4))
# four labels of falling rates, the last rare
y = ((x @ w + rng.normal(size=(n, 4))) > np.array([0, 0.5, 1, 2])).astype(np.float32)
np.save("x.npy", x[:900]); np.save("y.npy", y[:900])
np.save("tx.npy", x[900:]); np.save("ty.npy", y[900:])
z = x[:, :4] @ rng.normal(size=(4, 3)) + rng.normal(size=(n, 3))
names = np.array(["ant", "bee", "cat"])[z.argmax(1)]
with open("mc.csv", "w", newline="") as f:
    c = csv.writer(f, lineterminator="\n"); c.writerow(["a", "b", "c", "d", "kind"])
    c.writerows([list(np.round(x[i, :4], 4)) + [names[i]] for i in range(n)])
price = 200000 + 50000 * x[:, 0] + 30000 * x[:, 1] + rng.normal(size=n) * 10000
with open("house.csv", "w", newline="") as f:
    c = csv.writer(f, lineterminator="\n"); c.writerow(["a", "b", "c", "price"])
    c.writerows([list(np.round(x[i, :3], 4)) + [round(price[i], 2)] for i in range(n)])
with open("buy.csv", "w", newline="") as f:
    c = csv.writer(f, lineterminator="\n"); c.writerow(["a", "b", "buy"])
    c.writerows([[round(float(x[i, 0]), 4), round(float(x[i, 1]), 4),
                  "yes" if x[i, 0] + x[i, 1] > 0 else "no"] for i in range(n)])
PY

echo "== multi-label =="
expect 0 "task: multilabel" train --data x.npy,y.npy --test tx.npy,ty.npy --hidden 32 --epochs 15 \
    --out ml.safetensors --json --logdir mlrun
cp out.txt train.json
cp err.txt train-progress.txt
expect 0 "" eval --model ml.safetensors --data tx.npy,ty.npy --json --logdir mlrun
cp out.txt ml-eval.json
expect 0 "" predict --model ml.safetensors --data tx.npy,ty.npy --out ml-pred.csv
head -1 ml-pred.csv | grep -qx "p0,p1,p2,p3" || fail "multi-label predict header: $(head -1 ml-pred.csv)"
# The figures are scikit-learn's on the predicted probabilities (6 digits in the CSV).
py "
d = json.load(open('ml-eval.json')); m = d['metrics']; t = json.load(open('train.json'))
p = np.loadtxt('ml-pred.csv', delimiter=',', skiprows=1); y = np.load('ty.npy')
pred = (p >= 0.5).astype(int)
assert d['task'] == 'multilabel', d['task']
ok = lambda a, b, tol=1e-6: abs(a - b) <= tol
assert ok(m['subset_accuracy'], M.accuracy_score(y, pred)), m
assert ok(m['hamming_accuracy'], 1 - M.hamming_loss(y, pred)), m
assert m['subset_accuracy'] < m['hamming_accuracy'] - 0.05, m
assert ok(m['macro_roc_auc'], M.roc_auc_score(y, p, average='macro'), 1e-5), m
assert ok(m['micro_roc_auc'], M.roc_auc_score(y, p, average='micro'), 1e-5), m
assert ok(m['micro_f1'], M.f1_score(y, pred, average='micro'), 1e-6), m
per = M.roc_auc_score(y, p, average=None)
assert all(ok(e['roc_auc'], a, 1e-5) for e, a in zip(d['per_label'], per)), d['per_label']
assert [e['support'] for e in d['per_label']] == list(y.sum(0).astype(int))
# the device's accuracy during training is the exact match too
assert ok(t['test_accuracy'], m['subset_accuracy'], 2e-3), (t, m)
assert ok(t['test_subset_accuracy'], m['subset_accuracy'], 2e-3), (t, m)
assert ok(t['test_hamming_accuracy'], m['hamming_accuracy'], 1e-5), (t, m)
assert ok(t['test_macro_auc'], m['macro_roc_auc'], 1e-5) and ok(t['test_micro_auc'], m['micro_roc_auc'], 1e-5), (t, m)
# the last epoch's progress line: accuracy (exact match) and per-label accuracy on the test rows
last = [l for l in open('train-progress.txt') if l.startswith('epoch')][-1].split()
assert ok(float(last[last.index('test_hamming_accuracy') + 1]), m['hamming_accuracy'], 6e-5), last
assert ok(float(last[last.index('test_accuracy') + 1]), m['subset_accuracy'], 6e-5), last
e = json.load(open('mlrun/eval.json'))
assert len(e['per_label']) == 4 and 'roc' in e['per_label'][0] and 'roc' not in d['per_label'][0]
"
page mlrun "Per-label metrics" "ROC curves per label" "label 3 AUC 0."
expect 0 "" eval --model ml.safetensors --data tx.npy,ty.npy
grep -Eq "^task multilabel" out.txt && grep -Eq "subset_accuracy" out.txt && grep -Eq "^ +label +support +precision" out.txt ||
    { fail "eval text of a multi-label model:"; cat out.txt; }
expect 0 "" eval --model ml.safetensors --data tx.npy,ty.npy --threshold 0.3 --json
py "d = json.load(open('out.txt')); assert abs(d['metrics']['threshold'] - 0.3) < 1e-6, d"
expect 2 "a multi-label model takes a number" eval --model ml.safetensors --data tx.npy,ty.npy --threshold f1

echo "== multiclass =="
expect 0 "" train --data mc.csv --hidden 16 --epochs 20 --out mc.safetensors --quiet --logdir mcrun
expect 0 "" eval --model mc.safetensors --data mc.csv --logdir mcrun
expect 0 "" predict --model mc.safetensors --data mc.csv --out mc-pred.csv
head -1 mc-pred.csv | grep -qx "p_ant,p_bee,p_cat,class" || fail "multiclass predict header: $(head -1 mc-pred.csv)"
py "
d = json.load(open('mcrun/eval.json'))
rows = list(csv.DictReader(open('mc-pred.csv'))); truth = [r['kind'] for r in csv.DictReader(open('mc.csv'))]
names = ['ant', 'bee', 'cat']
p = np.array([[float(r['p_' + k]) for k in names] for r in rows])
y = np.array([names.index(t) for t in truth])
assert [c['class'] for c in d['per_class']] == names and d['confusion']['labels'] == names
for k, c in enumerate(d['per_class']):
    assert abs(c['roc_auc'] - M.roc_auc_score(y == k, p[:, k])) < 1e-5, c['roc_auc']
    assert abs(c['average_precision'] - M.average_precision_score(y == k, p[:, k])) < 1e-4
    fpr = c['roc']['fpr']; assert fpr[0] == 0 and fpr[-1] == 1 and 10 < len(fpr) <= 401, len(fpr)
assert abs(d['metrics']['macro_roc_auc'] - M.roc_auc_score(y, p, multi_class='ovr')) < 1e-5
cal = d['calibration']; assert sum(cal['count']) == len(y), cal
top = p.max(1); hit = p.argmax(1) == y
b = np.minimum((top * 10).astype(int), 9)
for i in range(10):
    if cal['count'][i]:
        assert abs(cal['observed'][i] - hit[b == i].mean()) < 1e-6, (i, cal)
"

page mcrun "ROC curves, one vs rest" "Precision-recall curves, one vs rest" "bee AUC 0." \
    "Calibration of the top class" "Confusion matrix"

echo "== regression =="
expect 0 "" train --data house.csv --label price --hidden 16 --epochs 30 --out h.safetensors --quiet --logdir hrun
expect 0 "" eval --model h.safetensors --data house.csv --logdir hrun --json
cp out.txt h-eval.json
expect 0 "" predict --model h.safetensors --data house.csv --out h-pred.csv
head -1 h-pred.csv | grep -qx "pred_price" || fail "regression predict header: $(head -1 h-pred.csv)"
py "
d = json.load(open('hrun/eval.json')); m = d['metrics']
y = np.array([float(r['price']) for r in csv.DictReader(open('house.csv'))])
p = np.array([float(r['pred_price']) for r in csv.DictReader(open('h-pred.csv'))])
assert abs(m['r2'] - M.r2_score(y, p)) < 1e-4 and m['r2'] > 0.8, m
assert abs(m['mae'] - M.mean_absolute_error(y, p)) < 1e-3 * m['mae'], m   # dollars
assert abs(m['rmse'] - M.mean_squared_error(y, p) ** 0.5) < 1e-3 * m['rmse'], m
assert abs(m['target_variance'] - y.var()) < 1e-4 * y.var(), m
s = d['sample']; assert len(s['actual']) == len(s['predicted']) == 1000, len(s['actual'])
assert abs(s['actual'][1] - y[1]) < 0.1 and abs(s['predicted'][0] - p[0]) < 1, (s['actual'][:2], y[:2])
assert 'sample' not in json.load(open('h-eval.json')) and 'warning' not in d
"
page hrun "Predicted vs actual" "Residuals" "R² 0." "RMSE " "MAE "
[ "$(grep -c '<circle cx=' hrun.html)" -ge 2000 ] || fail "hrun.html: fewer than 2 x 1000 points"
grep -q "Warning" hrun.html && fail "hrun.html warns though R^2 > 0"
expect 0 "warning: the training loss ended at .*variance.*scale the target\?" train --data house.csv \
    --label price --hidden 16 --epochs 2 --scale-target none --out raw.safetensors --quiet --logdir rawrun
expect 0 "warning: R\^2 = -[0-9.e+]+ < 0, worse than predicting the mean.*scale the target\?" \
    eval --model raw.safetensors --data house.csv --logdir rawrun
py "d = json.load(open('rawrun/eval.json')); assert d['metrics']['r2'] < 0 and 'variance' in d['warning'], d['metrics']"
page rawrun "Warning" "scale the target?"

echo "== binary predict names its column after the positive class =="
expect 0 "" train --data buy.csv --hidden 8 --epochs 10 --out buy.safetensors --quiet
expect 0 "" predict --model buy.safetensors --data buy.csv --out buy-pred.csv
head -1 buy-pred.csv | grep -qx "p_yes,class" || fail "binary predict header: $(head -1 buy-pred.csv)"
py "
rows = list(csv.DictReader(open('buy-pred.csv')))
assert all((float(r['p_yes']) >= 0.5) == (r['class'] == 'yes') for r in rows)
"
echo "== binary eval names its confusion matrix's classes =="
expect 0 "" eval --model buy.safetensors --data buy.csv --logdir buyrun
py "d = json.load(open('buyrun/eval.json')); assert d['confusion']['labels'] == ['no', 'yes'], d['confusion']"

echo "$failures failure(s)"
[ "$failures" = 0 ]
