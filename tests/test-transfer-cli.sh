#!/bin/sh
# test-transfer-cli.sh CLANN - transfer learning from the command line: --init-from copies
# layers from another model file, --freeze keeps layers bit for bit, `clann info` and the spec
# show trainable vs total, fine-tuning later, checkpoints keep the flags, and clear errors.
set -u
. "$(dirname "$0")/clitest.sh"

# check WHAT CONDITION...: a named shell test.
check() {
    what=$1
    shift
    if "$@"; then echo "ok: $what"; else echo "FAIL: $what"; failures=$((failures + 1)); fi
}

# tensor FILE NAME: the hex of a tensor's bytes in a safetensors file.
tensor() {
    python3 - "$1" "$2" <<'PY'
import json, struct, sys
with open(sys.argv[1], 'rb') as f:
    n = struct.unpack('<Q', f.read(8))[0]
    head = json.loads(f.read(n))
    a, b = head[sys.argv[2]]['data_offsets']
    f.seek(8 + n + a)
    print(f.read(b - a).hex())
PY
}

awk 'BEGIN { srand(5); print "a,b,c,d,y";
    for (i = 0; i < 200; i++) { s = 0; line = "";
        for (j = 0; j < 4; j++) { v = rand() * 2 - 1; s += v; line = line sprintf("%.5f,", v) }
        printf "%s%d\n", line, (s > 0.5) + (s > -0.5) } }' > d.csv
common="--data d.csv --batch 16 --quiet --epochs 3"

echo "== --init-from and --freeze =="
expect 0 "model: 115 parameters, 115 trained$" train $common --hidden 8,6 --out base.safetensors
expect 0 "model: 115 parameters, 75 trained \(frozen layers 0\)" train $common --hidden 8,6 \
    --init-from base.safetensors:all-but-last --freeze 0 --out ft.safetensors
grep -q "init-from: 2 layer(s) copied from base.safetensors" err.txt ||
    { echo "FAIL: no init-from note"; cat err.txt; failures=$((failures + 1)); }
k0=$(tensor base.safetensors layers.0.dense.kernel)
check "the frozen layer is the base's, bit for bit" \
    [ "$k0" = "$(tensor ft.safetensors layers.0.dense.kernel)" ]
check "the copied, trained layer moved" \
    [ "$(tensor base.safetensors layers.1.dense.kernel)" != "$(tensor ft.safetensors layers.1.dense.kernel)" ]
expect 0 "" info ft.safetensors
check "info: trainable vs total" grep -q "^parameters: 115 (75 trained)" out.txt
check "info: the frozen layer trains nothing" grep -Eq "^ +0 +dense +8 +relu +40 +0 " out.txt
expect 0 "" info ft.safetensors --spec
cp out.txt ft.json
check "spec: trainable and init_from" grep -q '"trainable":false,"init_from":{"file":"base.safetensors","layer":0}' ft.json

echo "== the spec trains the same way =="
expect 0 "model: 115 parameters, 75 trained \(frozen layers 0\)" train $common --spec ft.json \
    --out spec.safetensors
check "spec: layer 0 from the base, frozen" [ "$k0" = "$(tensor spec.safetensors layers.0.dense.kernel)" ]

echo "== fine-tuning later: every layer from the fine-tuned model, nothing frozen =="
expect 0 "model: 115 parameters, 115 trained$" train $common --hidden 8,6 \
    --init-from ft.safetensors --out tuned.safetensors
check "fine-tuning moves layer 0" [ "$k0" != "$(tensor tuned.safetensors layers.0.dense.kernel)" ]

echo "== checkpoints keep the frozen layers =="
expect 0 "" train $common --hidden 8,6 --freeze all-but-last --checkpoint run.ckpt --out run.safetensors
expect 0 "" train --data d.csv --batch 16 --quiet --epochs 5 --resume run.ckpt --out resumed.safetensors
check "resume: layer 0 still frozen" \
    [ "$(tensor run.ckpt layers.0.dense.kernel)" = "$(tensor resumed.safetensors layers.0.dense.kernel)" ]
check "resume: layer 1 still frozen" \
    [ "$(tensor run.ckpt layers.1.dense.kernel)" = "$(tensor resumed.safetensors layers.1.dense.kernel)" ]
check "resume: the head trains" \
    [ "$(tensor run.ckpt layers.2.dense.kernel)" != "$(tensor resumed.safetensors layers.2.dense.kernel)" ]

echo "== errors =="
expect 1 "layer 1 of base.safetensors \(dense 8x6 \+bias, 54 parameters\) does not fit layer 1 of this model \(dense 8x5 \+bias, 45 parameters\)" \
    train $common --hidden 8,5 --init-from base.safetensors
expect 1 "missing.safetensors" train $common --hidden 8,6 --init-from missing.safetensors:0
expect 2 "--freeze: 'first' is not a layer list" train $common --freeze first
expect 2 "--freeze: the model has no layer 9" train $common --hidden 8,6 --freeze 0,9
expect 2 "--init-from cannot be combined with --resume" train $common --resume run.ckpt \
    --init-from base.safetensors
expect 2 "--freeze cannot be combined with --resume" train $common --resume run.ckpt --freeze 0

echo "$failures failure(s)"
[ "$failures" = 0 ]
