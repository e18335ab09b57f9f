#!/bin/sh
# interop.sh CLANN - trains tiny models with `clann train --spec` on a CSV written here (every
# activation, batch normalization, dropout and noise; regression, multiclass and binary heads;
# an image model with convolutions and pooling),
# writes `clann predict` outputs and checks them with tests/interop_numpy.py, an independent
# safetensors reader and numpy forward pass. Skipped (77) without /usr/bin/python3 and numpy.
set -eu
clann=$(cd "$(dirname "$1")" && pwd)/$(basename "$1") # absolute: the test changes folder
here=$(cd "$(dirname "$0")" && pwd)
if ! /usr/bin/python3 -c 'import numpy' 2>/dev/null; then
    echo "SKIP: /usr/bin/python3 with numpy is not available"
    [ "${CLANN_TESTS_STRICT:-0}" = 1 ] && exit 1 # CI installs numpy: never skip there
    exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
# 200 rows, 4 features, a regression target r, a class c (0..2) and a binary label b.
awk 'BEGIN { srand(7); print "f0,f1,f2,f3,r,c,b";
    for (i = 0; i < 200; i++) { s = 0; line = "";
        for (j = 0; j < 4; j++) { v = rand() * 4 - 2; s += v * (j + 1); line = line sprintf("%.6f,", v) }
        printf "%s%.6f,%d,%d\n", line, s / 4, (s > 2) + (s > -2), (s > 0) } }' > all.csv
cut -d, -f1-5 all.csv > reg.csv
cut -d, -f1-4,6 all.csv > cls.csv
cut -d, -f1-4,7 all.csv > bin.csv
dense() { printf '{"kind": "dense", "units": %s, "activation": "%s"%s}' "$1" "$2" "${3:-}"; }
cat > reg.json <<JSON
{"inputs": 4, "loss": "mse", "max_batch": 32, "seed": 5, "layers": [
 {"kind": "noise", "stddev": 0.05}, $(dense 8 sigmoid), $(dense 8 tanh), $(dense 8 relu),
 {"kind": "batchnorm"}, $(dense 8 leaky_relu ', "alpha": 0.1'), {"kind": "dropout", "rate": 0.2},
 $(dense 8 prelu), $(dense 8 rrelu), $(dense 8 relu6), $(dense 8 elu ', "alpha": 0.7'),
 {"kind": "activation", "activation": "softplus"}, $(dense 6 linear),
 {"kind": "activation", "activation": "softmax"}, $(dense 1 linear ', "use_bias": false')]}
JSON
cat > cls.json <<JSON
{"inputs": 4, "loss": "sparse_softmax_cross_entropy", "max_batch": 32, "seed": 6, "layers": [
 $(dense 8 elu), {"kind": "batchnorm", "momentum": 0.9, "epsilon": 0.01},
 {"kind": "activation", "activation": "leaky_relu", "alpha": 0.2}, $(dense 3 linear)]}
JSON
cat > bin.json <<JSON
{"inputs": 4, "loss": "sigmoid_cross_entropy", "max_batch": 32, "seed": 7, "layers": [
 $(dense 6 tanh), {"kind": "activation", "activation": "relu6"}, $(dense 1 linear)]}
JSON
# An image model: 2 x 9 x 9 images (162 columns), a class from the top-left corner of channel 0;
# conv2d with same padding and stride 2, then valid padding with a 3x2 kernel, max and average
# pooling, flatten and a dense head.
awk 'BEGIN { srand(11); h = ""; for (j = 0; j < 162; j++) h = h sprintf("p%d,", j); print h "c";
    for (i = 0; i < 120; i++) { s = 0; line = "";
        for (j = 0; j < 162; j++) { v = rand() * 2 - 1; if (j < 81 && j % 9 < 4) s += v; line = line sprintf("%.5f,", v) }
        printf "%s%d\n", line, (s > 1.5) + (s > -1.5) } }' > img.csv
conv() { printf '{"kind": "conv2d", "filters": %s, "kernel_h": %s, "kernel_w": %s, %s}' "$@"; }
cat > img.json <<JSON
{"inputs": 162, "input_shape": [2, 9, 9], "loss": "sparse_softmax_cross_entropy", "max_batch": 32,
 "seed": 8, "layers": [
 $(conv 4 3 3 '"stride": 2, "padding": "same", "activation": "relu"'),
 $(conv 6 3 2 '"padding": "valid", "activation": "elu", "alpha": 0.7'),
 {"kind": "max_pool2d", "size": 2, "stride": 1}, {"kind": "avg_pool2d", "size": 2, "stride": 1},
 {"kind": "flatten"}, $(dense 3 linear)]}
JSON
status=0
for m in reg:r cls:c bin:b img:c; do
    name=${m%%:*}
    label=${m##*:}
    "$clann" train --spec "$name.json" --data "$name.csv" --label "$label" --epochs 5 --batch 32 \
        --device cpu --quiet --out "$name.safetensors" > /dev/null
    "$clann" predict --model "$name.safetensors" --data "$name.csv" --label "$label" --device cpu \
        --out "$name.pred.csv" 2> /dev/null
    /usr/bin/python3 "$here/interop_numpy.py" "$name.safetensors" "$name.csv" "$name.pred.csv" \
        "$label" || status=1
done
exit $status
