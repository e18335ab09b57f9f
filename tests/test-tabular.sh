#!/bin/sh
# test-tabular.sh CLANN - ordinary tabular CSV files, used as a new user would (issue 12): the
# README's examples on a generated house-price file of the same shape (R^2 within 0.05 of
# scikit-learn's linear fit), columns by name (any order, extra columns, the model's label
# column), text labels through train/eval/predict, task inference (a count target is a
# regression), missing cells (refused, or --fill), --ignore/--features and one-class data,
# feature columns from flags and specs (issue 17), and train --spec keeping one vocabulary.
# Skipped (77) without /usr/bin/python3, numpy and scikit-learn.
set -u
. "$(dirname "$0")/clitest.sh"
need_python numpy sklearn

# json FILE EXPR: evaluates a Python expression over the JSON object d read from FILE; fails
# the test when it is false.
json() {
    /usr/bin/python3 -c "import json, sys; d = json.load(open(sys.argv[1])); sys.exit(0 if ($2) else 1)" "$1" ||
        { fail "$1: not ($2):"; cat "$1"; }
}

# spec FILE EXPR: json over the model spec of FILE (clann info --spec).
spec() {
    "$clann" info "$1" --spec > spec.json 2> /dev/null || fail "info --spec $1"
    json spec.json "$2"
}

# Data, generated with fixed seeds: house prices in dollars ($100k-900k, a linear signal plus
# noise) for training and testing, the test file once more with its columns shuffled and an
# extra column, a count target (0..300), three text classes with an id column, a yes/no label,
# a file with 5% missing cells (empty, NA, ?, nan, N/A) and labels of one class.
/usr/bin/python3 - <<'PY'
import csv
import numpy as np
from sklearn.linear_model import LinearRegression

def write(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)

def houses(n, rng):
    sqft = rng.uniform(500, 4000, n); beds = rng.integers(1, 6, n)
    age = rng.uniform(0, 80, n); dist = rng.uniform(1, 30, n)
    price = 50000 + 180 * sqft + 15000 * beds - 800 * age - 3000 * dist + rng.normal(0, 25000, n)
    x = np.c_[sqft.round(), beds, age.round(1), dist.round(2)]
    return x, price.round()

rng = np.random.default_rng(12)
hdr = ["sqft", "bedrooms", "age", "distance", "price"]
x, y = houses(1000, rng)
write("house.csv", hdr, [list(r) + [p] for r, p in zip(x, y)])
tx, ty = houses(300, rng)
write("house-test.csv", hdr, [list(r) + [p] for r, p in zip(tx, ty)])
order = [4, 2, 0, 3, 1]
write("house-shuffled.csv", [hdr[i] for i in order] + ["note"],
      [[(list(r) + [p])[i] for i in order] + ["x"] for r, p in zip(tx, ty)])
open("linear_r2.txt", "w").write("%.6f\n" % LinearRegression().fit(x, y).score(tx, ty))

n = 600
a, b = rng.normal(size=n), rng.normal(size=n)
visits = np.clip(np.round(120 + 50 * a + 25 * b + rng.normal(0, 5, n)), 0, 300).astype(int)
write("count.csv", ["a", "b", "visits"], zip(a.round(4), b.round(4), visits))
s = a + b
species = np.where(s > 0.6, "virginica", np.where(s < -0.6, "setosa", "versicolor"))
write("iris.csv", ["id", "a", "b", "species"], zip(range(n), a.round(4), b.round(4), species))
write("iris-unseen.csv", ["id", "a", "b", "species"], [[0, 0.1, 0.2, "setosa"], [1, 0.3, 0.1, "daisy"]])
write("buy.csv", ["a", "b", "buy"], zip(a.round(4), b.round(4), np.where(a > 0, "yes", "no")))
cells = []
for i in range(n):
    row = ["%.4f" % a[i], "%.4f" % b[i], rng.choice(["red", "blue"]), "%.4f" % (2 * a[i] - b[i])]
    for j in range(3):
        if rng.random() < 0.05:
            row[j] = rng.choice(["", "NA", "?", "nan", "N/A"])
    cells.append(row)
write("missing.csv", ["a", "b", "colour", "y"], cells)
write("one.csv", ["a", "y"], [[a[i].round(4), 1] for i in range(50)])
PY

echo "== the README's house example =="
expect 0 "task: regression" train --data house.csv --label price --split 0.8,0.1,0.1 --scale standard \
    --hidden 64,32 --epochs 50 --early-stop 5 --logdir runs/house --out house.safetensors --json
cp out.txt train.json
json train.json "d['test_r2'] >= 0.9 and d['test_rmse'] < 60000 and abs(d['test_loss'] - d['test_mse']) <= 1e-3 * d['test_mse']"
spec house.safetensors "d['target_scaler']['kind'] == 'standard'"
spec house.safetensors "d['columns']['inputs'] == ['sqft', 'bedrooms', 'age', 'distance'] and d['columns']['label'] == 'price'"
expect 0 "" eval --model house.safetensors --data house-test.csv --label price --json
cp out.txt eval.json
linear=$(cat linear_r2.txt)
json eval.json "d['metrics']['r2'] >= 0.9 and d['metrics']['r2'] >= $linear - 0.05"
json eval.json "abs(d['metrics']['loss'] - d['metrics']['mse']) <= 1e-3 * d['metrics']['mse']"
expect 0 "" report runs/house
grep -q "<svg" out.txt || fail "clann report wrote no chart"
# --scale-target none opts out: the prices are then learned unscaled (and badly).
expect 0 "" train --data house.csv --label price --split 0.8,0.1,0.1 --scale standard \
    --hidden 64,32 --epochs 5 --scale-target none --out raw.safetensors --quiet
spec raw.safetensors "'target_scaler' not in d"

echo "== columns by name =="
# The model's label column is found without --label; columns in another order and an extra
# column give identical metrics.
expect 0 "" eval --model house.safetensors --data house-test.csv --json
cmp -s out.txt eval.json || { fail "eval without --label differs:"; cat out.txt eval.json; }
expect 0 "" eval --model house.safetensors --data house-shuffled.csv --json
cmp -s out.txt eval.json || { fail "eval of the shuffled columns differs:"; cat out.txt eval.json; }
expect 0 "" predict --model house.safetensors --data house-shuffled.csv --out shuffled-pred.csv
expect 0 "" predict --model house.safetensors --data house-test.csv --out pred.csv
cmp -s pred.csv shuffled-pred.csv || fail "predictions depend on the column order"
[ "$(wc -l < pred.csv)" = 301 ] || fail "predict wrote $(wc -l < pred.csv) lines"
cut -d, -f1,2,5 house-test.csv > narrow.csv
expect 2 "no column 'age', 'distance'" eval --model house.safetensors --data narrow.csv
expect 2 "no column 'age', 'distance'" predict --model house.safetensors --data narrow.csv
expect 0 "" train --data house.csv --label price --ignore age,distance --hidden 8 --epochs 2 --quiet --out ignore.safetensors
spec ignore.safetensors "d['columns']['inputs'] == ['sqft', 'bedrooms']"
expect 0 "" train --data house.csv --label price --features sqft --hidden 8 --epochs 2 --quiet --out only.safetensors
spec only.safetensors "d['columns']['inputs'] == ['sqft']"
expect 2 "--ignore: the file has no column 'zip'" train --data house.csv --label price --ignore zip

echo "== task inference =="
expect 0 "task: regression \(.*distinct integer values" train --data count.csv --hidden 16 --epochs 60 \
    --split 0.8,0.2 --test count.csv --json --out count.safetensors
json out.txt "d['task'] == 'regression' and d['test_r2'] > 0.5"
expect 2 "one class only" train --data one.csv --quiet
expect 2 "one class only" train --data one.csv --task binary --quiet

echo "== text labels =="
expect 0 "task: multiclass \(text labels of 3 classes" train --data iris.csv --ignore id --hidden 16 \
    --epochs 40 --batch 32 --out iris.safetensors --quiet
spec iris.safetensors "d['columns']['classes'] == ['setosa', 'versicolor', 'virginica']"
expect 0 "" eval --model iris.safetensors --data iris.csv --json
json out.txt "d['metrics']['accuracy'] > 0.85"
expect 0 "" predict --model iris.safetensors --data iris.csv --out iris-pred.csv
/usr/bin/python3 - <<'PY' || fail "predicted class names do not match the labels"
import csv
truth = [r["species"] for r in csv.DictReader(open("iris.csv"))]
pred = [r["class"] for r in csv.DictReader(open("iris-pred.csv"))]
agree = sum(t == p for t, p in zip(truth, pred)) / len(truth)
assert len(pred) == len(truth) and set(pred) <= {"setosa", "versicolor", "virginica"} and agree > 0.85, agree
PY
expect 2 "row 3: label 'daisy' is not one of the model's 3 classes" eval --model iris.safetensors --data iris-unseen.csv
expect 0 "positive class 'yes'" train --data buy.csv --hidden 8 --epochs 20 --batch 32 --out buy.safetensors --quiet
expect 0 "" predict --model buy.safetensors --data buy.csv --out buy-pred.csv
/usr/bin/python3 - <<'PY' || fail "binary predictions are not yes/no"
import csv
truth = [r["buy"] for r in csv.DictReader(open("buy.csv"))]
pred = [r["class"] for r in csv.DictReader(open("buy-pred.csv"))]
assert set(pred) <= {"yes", "no"} and sum(t == p for t, p in zip(truth, pred)) > 0.9 * len(truth)
PY

echo "== missing cells =="
expect 2 "missing cells in 'a' \([0-9]+\), 'b' \([0-9]+\), 'colour' \([0-9]+\); choose --fill" train --data missing.csv --quiet
expect 0 "" train --data missing.csv --fill median --hidden 16 --epochs 30 --batch 32 --split 0.8,0.1,0.1 --out missing.safetensors --quiet --json
json out.txt "d['test_r2'] > 0.8"
spec missing.safetensors "d['columns']['fill'] == 'median' and len(d['columns']['fill_values']) == 3"
expect 0 "" eval --model missing.safetensors --data missing.csv --json
json out.txt "d['count'] == 600 and d['metrics']['r2'] > 0.8"
expect 0 "dropped [0-9]+ of 600 rows" train --data missing.csv --fill drop --hidden 8 --epochs 2 --quiet --out drop.safetensors
expect 2 "--fill: 'max'" train --data missing.csv --fill max

echo "== feature columns from flags and from a spec =="
# Every kind by flag; the model file records them, and its spec (clann info --spec) trains the
# same model again (the same seed gives the same loss). The label needs the age buckets, the
# store ids and the colour: a model that read wrong ids would not reach 0.9.
/usr/bin/python3 - <<'PY'
import csv
import numpy as np
rng = np.random.default_rng(5)
n = 2000
age = rng.uniform(18, 80, n).round(1)
store = rng.integers(0, 40, n)
city = rng.integers(0, 300, n)
colour = rng.choice(["red", "green", "blue"], n)
y = ((age > 40) ^ (store % 2 == 0)) | (colour == "red")
with open("shop.csv", "w", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["age", "store", "city", "colour", "label"])
    for i in range(n):
        w.writerow([age[i], store[i], "c%d" % city[i], colour[i], "yes" if y[i] else "no"])
np.save("x.npy", np.c_[age, store]); np.save("y.npy", y.astype(float))
PY
expect 0 "" train --data shop.csv --bucketize age=30,40,50 --identity store=40 --hash city=64 \
    --cross colour,store=200 --embed city=4,colour_x_store=onehot --hidden 16 --epochs 30 \
    --lr 0.01 --out shop.safetensors --json --quiet
cp out.txt shop-train.json
json shop-train.json "d['train_accuracy'] > 0.9"
spec shop.safetensors "[(c['name'], c['kind'], c['output'], c['dimension']) for c in d['features']['columns']] == [('age', 'bucketized', 'indicator', 4), ('store', 'identity', 'embedding', 3), ('city', 'hash', 'embedding', 4), ('colour', 'vocabulary', 'indicator', 4), ('colour_x_store', 'crossed', 'indicator', 200)]"
spec shop.safetensors "d['features']['columns'][0]['boundaries'] == [30, 40, 50] and d['features']['columns'][4]['columns'] == ['colour', 'store'] and d['features']['columns'][1]['num_buckets'] == 40"
cp spec.json shop-spec.json
expect 0 "" info shop.safetensors
grep -Eq "age +bucketized +4 +indicator" out.txt && grep -Eq "colour_x_store +crossed +200 +indicator" out.txt ||
    { fail "info lists the feature columns wrongly:"; cat out.txt; }
expect 0 "" eval --model shop.safetensors --data shop.csv --json
json out.txt "d['metrics']['accuracy'] > 0.9"
expect 0 "" train --data shop.csv --spec shop-spec.json --epochs 30 --out shop-again.safetensors --json --quiet
json out.txt "d['train_loss'] == $(/usr/bin/python3 -c "import json; print(json.load(open('shop-train.json'))['train_loss'])")"
# A spec written by hand: kinds and options only; the vocabulary and "inputs" are fitted.
printf '%s\n' '{"format": "clann-model", "loss": "sigmoid_cross_entropy",' \
    '"optimizer": {"kind": "adam", "learning_rate": 0.01}, "features": {"columns": [' \
    '{"kind": "bucketized", "columns": ["age"], "boundaries": [30, 40, 50], "output": "indicator"},' \
    '{"kind": "identity", "columns": ["store"], "num_buckets": 40, "dimension": 3},' \
    '{"kind": "hash", "columns": ["city"], "num_buckets": 64},' \
    '{"kind": "vocabulary", "columns": ["colour"], "output": "indicator"},' \
    '{"kind": "crossed", "columns": ["colour", "store"], "num_buckets": 200, "dimension": 4}]},' \
    '"layers": [{"kind": "features"}, {"kind": "dense", "units": 16, "activation": "relu"},' \
    '{"kind": "dense", "units": 1}]}' > shop-hand.json
expect 0 "features: shop-hand.json's feature columns -> 5 model inputs" train --data shop.csv \
    --spec shop-hand.json --epochs 30 --out shop-hand.safetensors --json
json out.txt "d['train_accuracy'] > 0.9"
spec shop-hand.safetensors "d['inputs'] == 5 and sorted(d['features']['columns'][3]['vocabulary']) == ['blue', 'green', 'red']"
expect 2 "--hash: the file has no column 'zip'" train --data shop.csv --hash zip=10
expect 2 "--hash city=0: expected a bucket count" train --data shop.csv --hash city=0
expect 2 "--bucketize: column 'colour' is text" train --data shop.csv --bucketize colour=1,2
expect 2 "--bucketize age: boundaries must be numbers in increasing order" train --data shop.csv --bucketize age=50,30
expect 2 "--cross colour: a cross needs two columns" train --data shop.csv --cross colour=5
expect 2 "--identity: 'label' is the label column" train --data shop.csv --identity label=3
expect 2 "--identity: column 'city' is also given to --hash" train --data shop.csv --hash city=10 --identity city=5
expect 2 "--embed: no categorical column 'age'" train --data shop.csv --embed age=3
expect 2 "--embed city=x: expected a dimension" train --data shop.csv --embed city=x
expect 2 "--hash: column 'city' is not an input" train --data shop.csv --ignore city --hash city=5
expect 2 "--hash cannot be combined with --spec" train --data shop.csv --spec shop-spec.json --hash city=5
expect 2 "--hash: feature columns need a CSV" train --data x.npy,y.npy --hash city=5
expect 1 "feature 'store'.*row" train --data shop.csv --identity store=10 --epochs 1 --quiet

echo "== train --spec keeps one vocabulary =="
# A model's spec (clann info --spec) used on a file whose town frequencies differ: the spec's
# vocabulary is the one trained and saved, so the saved model scores what the run printed
# (it scored 0.65 against 0.83 when the run fitted a new vocabulary but saved the old one).
# Without its vocabulary the spec fits one on the new file, and again one is trained and saved.
/usr/bin/python3 - <<'PY'
import csv
import numpy as np
rng = np.random.default_rng(3)
def make(n, p, path):
    t = rng.choice(30, n, p=p)
    x = rng.normal(size=n)
    lab = np.where((t % 3 == 0) ^ (x > 1.5), "good", "bad")
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["town", "x", "label"])
        for i in range(n):
            w.writerow(["town%02d" % t[i], "%.3f" % x[i], lab[i]])
p = np.linspace(1, 3, 30); p /= p.sum()
make(1500, p, "towns-a.csv"); make(1500, p[::-1].copy(), "towns-b.csv")
PY
expect 0 "" train --data towns-a.csv --hidden 16 --epochs 20 --out towns-a.safetensors --quiet
"$clann" info towns-a.safetensors --spec > towns-a.json || fail "info --spec towns-a"
for variant in given fitted; do
    if [ $variant = fitted ]; then
        /usr/bin/python3 -c "import json; d = json.load(open('towns-a.json')); [c.pop('vocabulary', None) for c in d['features']['columns']]; json.dump(d, open('towns-spec.json', 'w'))"
    else
        cp towns-a.json towns-spec.json
    fi
    expect 0 "" train --data towns-b.csv --test towns-b.csv --spec towns-spec.json --epochs 20 \
        --out towns-b.safetensors --json --quiet
    cp out.txt towns-train.json
    expect 0 "" eval --model towns-b.safetensors --data towns-b.csv --json
    json out.txt "abs(d['metrics']['accuracy'] - $(/usr/bin/python3 -c "import json; print(json.load(open('towns-train.json'))['test_accuracy'])")) < 1e-6 and d['metrics']['accuracy'] > 0.8"
    "$clann" info towns-b.safetensors --spec > towns-b.json || fail "info --spec towns-b"
    /usr/bin/python3 - $variant <<'PY' || fail "train --spec ($variant) saved the wrong vocabulary"
import collections, csv, json, sys
def vocabulary(path):
    return [c for c in json.load(open(path))["features"]["columns"] if c["kind"] == "vocabulary"][0]["vocabulary"]
a, b = vocabulary("towns-a.json"), vocabulary("towns-b.json")
counts = collections.Counter(r["town"] for r in csv.DictReader(open("towns-b.csv")))
fitted = sorted(counts, key=lambda v: (-counts[v], v))
assert b == (a if sys.argv[1] == "given" else fitted) and a != fitted, (a, b, fitted)
PY
done

# The same round trips on an OpenCL device, when there is one.
if [ "$CLANN_DEVICE" = cpu ] && "$clann" devices 2>/dev/null | grep -q "opencl:"; then
    echo "== text labels and the house example on OpenCL =="
    expect 0 "" train --device opencl --data iris.csv --ignore id --hidden 16 --epochs 40 --batch 32 --out iris-cl.safetensors --quiet
    expect 0 "" eval --device opencl --model iris-cl.safetensors --data iris.csv --json
    json out.txt "d['metrics']['accuracy'] > 0.85"
    expect 0 "" train --device opencl --data house.csv --label price --split 0.8,0.1,0.1 --scale standard \
        --hidden 64,32 --epochs 50 --early-stop 5 --out house-cl.safetensors --json
    json out.txt "d['test_r2'] >= 0.9"
fi

echo "$failures failure(s)"
[ "$failures" = 0 ]
