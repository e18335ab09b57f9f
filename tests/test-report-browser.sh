#!/bin/sh
# test-report-browser.sh CLANN LAYOUT_JS - renders `clann report` pages of real training runs
# in headless chromium and checks the layout the browser computes: no text of a chart overlaps
# another (tick labels, axis titles, legend, the heatmap's class names) and none falls outside
# its chart. tests/layout-check.js measures each text's box in the page and writes what it finds
# into the DOM, which --dump-dom returns. Each page also carries a planted pair of overlapping
# texts, which the check must find (so a check that sees nothing fails). A screenshot of each
# page is taken too and left in $CLANN_REPORT_SHOTS when that is set. Skips (77) without
# chromium, fails then under CLANN_TESTS_STRICT=1 (CI installs it).
set -u
CLANN=${1:?usage: test-report-browser.sh CLANN LAYOUT_JS}
JS=${2:?usage: test-report-browser.sh CLANN LAYOUT_JS}
BROWSER=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$BROWSER" ]; then
    echo "SKIP: chromium is not installed (apt-get install chromium)"
    [ "${CLANN_TESTS_STRICT:-0}" = 1 ] && exit 1
    exit 77
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cd "$TMP" || exit 1
FAILS=0
fail() {
    echo "FAIL: $*" >&2
    FAILS=$((FAILS + 1))
}

# Three runs whose charts stress the layout: a binary classifier with monitors and a decaying
# learning rate (0.00198...), a regressor on prices in dollars with no target scaling (losses
# near 1e11), a 12-class classifier with long class names (the confusion matrix).
awk 'BEGIN { srand(7); print "a,b,c,d,y";
    for (i = 0; i < 1500; i++) { a = rand() * 2 - 1; b = rand() * 2 - 1; c = rand(); d = rand();
        printf "%.4f,%.4f,%.4f,%.4f,%d\n", a, b, c, d, (a + 0.5 * b + 0.3 * (rand() - 0.5) > 0) } }' \
    > binary.csv
awk 'BEGIN { srand(8); print "rooms,area,age,price";
    for (i = 0; i < 1500; i++) { r = 1 + int(rand() * 6); s = 40 + rand() * 200; g = rand() * 80;
        printf "%d,%.1f,%.1f,%.0f\n", r, s, g, 30000 * r + 2500 * s - 900 * g + 200000 * rand() } }' \
    > price.csv
awk 'BEGIN { srand(9); print "x1,x2,x3,category";
    for (i = 0; i < 2400; i++) { k = i % 12; printf "%.4f,%.4f,%.4f,category-number-%02d-long-name\n",
        k / 12 + 0.08 * rand(), (k % 3) / 3 + 0.1 * rand(), rand(), k } }' > classes.csv
for f in binary price classes; do
    head -n 1201 "$f.csv" > "$f-train.csv"
    { head -n 1 "$f.csv"; tail -n +1202 "$f.csv"; } > "$f-test.csv"
done
run() {
    name=$1
    shift
    "$CLANN" train --device cpu --data "$name-train.csv" --test "$name-test.csv" --logdir "run-$name" \
        --out "$name.safetensors" --quiet "$@" > "train-$name.txt" 2>&1 ||
        { fail "train $name: $(cat "train-$name.txt")"; return; }
    "$CLANN" report "run-$name" > "$name.html" 2> "report-$name.txt" ||
        fail "report $name: $(cat "report-$name.txt")"
}
run binary --epochs 12 --monitor-every 5 --hidden 16,8
run price --label price --epochs 8 --scale-target none --hidden 16 --lr-decay 0.5
run classes --label category --epochs 10 --hidden 32

# The planted overlap, then the check (a file beside the page), just before </body>.
PLANT='<svg xmlns="http://www.w3.org/2000/svg" width="200" height="40"><title>planted</title><text x="10" y="20">PLANTED-ONE</text><text x="30" y="24">PLANTED-TWO</text></svg>'
cp "$JS" layout-check.js
for name in binary price classes; do
    [ -s "$name.html" ] || continue
    sed "s#</body>#$PLANT<script src=\"layout-check.js\"></script></body>#" "$name.html" \
        > "$name-check.html"
    # Its own profile folder: other chromium instances (parallel tests) do not collide with it.
    timeout 120 "$BROWSER" --headless --no-sandbox --disable-gpu --user-data-dir="$TMP/profile" \
        --run-all-compositor-stages-before-draw --virtual-time-budget=5000 \
        --dump-dom "file://$TMP/$name-check.html" > "$name-dom.html" 2> "$name-chromium.txt"
    sed -n 's/.*\(LAYOUT charts=\)/\1/; /^LAYOUT charts=/,/END LAYOUT/p' "$name-dom.html" \
        > "$name-layout.txt"
    head -n 1 "$name-layout.txt"
    if ! grep -q 'LAYOUT charts=' "$name-layout.txt"; then
        fail "$name: chromium gave no layout result: $(tail -n 3 "$name-chromium.txt")"
        continue
    fi
    grep -q 'planted: "PLANTED-ONE" overlaps "PLANTED-TWO"' "$name-layout.txt" ||
        fail "$name: the check missed the planted overlap"
    charts=$(sed -n 's/.*charts=\([0-9]*\).*/\1/p' "$name-layout.txt")
    texts=$(sed -n 's/.*texts=\([0-9]*\).*/\1/p' "$name-layout.txt")
    [ "$charts" -ge 6 ] && [ "$texts" -ge 60 ] ||
        fail "$name: only $charts charts and $texts texts were measured"
    grep -v -e '^LAYOUT' -e '^END LAYOUT' -e '^planted' -e '^$' "$name-layout.txt" > "$name-bad.txt"
    if [ -s "$name-bad.txt" ]; then
        fail "$name: texts overlap or leave their chart:"
        cat "$name-bad.txt" >&2
    fi
    timeout 120 "$BROWSER" --headless --no-sandbox --disable-gpu --user-data-dir="$TMP/profile" \
        --window-size=1200,4200 --screenshot="$TMP/$name.png" "file://$TMP/$name.html" \
        > /dev/null 2>&1
    [ "$(head -c 8 "$name.png" 2>/dev/null | od -An -c | tr -d ' ')" = '211PNG\r\n032\n' ] ||
        fail "$name: no PNG screenshot"
    [ -n "${CLANN_REPORT_SHOTS:-}" ] && mkdir -p "$CLANN_REPORT_SHOTS" && cp "$name.png" "$CLANN_REPORT_SHOTS/"
done
# The losses near 1e11 get tick labels with short exponents (1.95e11, not 1.95e+11).
grep -o '<text[^>]*>[^<]*</text>' price.html | sed 's/<[^>]*>//g' | grep -E '^[-0-9.e+]+$' > price-ticks.txt
grep -q 'e1[01]$' price-ticks.txt || fail "price: no tick label like 2e11: $(tr '\n' ' ' < price-ticks.txt)"
! grep -q 'e+' price-ticks.txt || fail "price: a tick label with a long exponent: $(grep 'e+' price-ticks.txt)"

[ "$FAILS" -eq 0 ] && echo "report browser: all checks passed" && exit 0
echo "report browser: $FAILS failure(s)" >&2
exit 1
