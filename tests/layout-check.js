// layout-check.js - injected into a report page by test-report-browser.sh and run by headless
// chromium: measures every text of every SVG chart as the browser lays it out and writes into
// the page (a <pre id="layout-check">) each text that overlaps another of its chart or falls
// outside the chart, for the test to read from --dump-dom.
(function () {
    var problems = [], texts = 0, charts = document.querySelectorAll('svg');
    charts.forEach(function (svg, i) {
        var title = svg.querySelector('title'), name = title ? title.textContent : 'chart ' + i;
        var frame = svg.getBoundingClientRect();
        var boxes = Array.prototype.map.call(svg.querySelectorAll('text'), function (t) {
            var r = t.getBoundingClientRect(); // rotated titles: the box around them
            // a pixel of slack on every side: glyph boxes include the line's leading
            var turn = /rotate\(([-0-9.]+)\)/.exec(t.getAttribute('transform') || '');
            return {text: t.textContent, l: r.left + 1, r: r.right - 1, t: r.top + 1,
                    b: r.bottom - 1, turn: turn ? turn[1] : null};
        });
        texts += boxes.length;
        // A y-axis title (turned text) owns its column over the chart's whole height: a tick
        // label that enters it would touch the title wherever the two meet.
        Array.prototype.forEach.call(svg.querySelectorAll('text'), function (t, k) {
            if (!/rotate\(-90\)/.test(t.getAttribute('transform') || ''))
                return;
            boxes.forEach(function (b, j) {
                if (j != k && b.l < boxes[k].r && boxes[k].l < b.r)
                    problems.push(name + ': "' + b.text + '" enters the column of the axis ' +
                                  'title "' + boxes[k].text + '"');
            });
        });
        boxes.forEach(function (a, k) {
            if (a.l < frame.left - 1 || a.r > frame.right + 1 || a.t < frame.top - 1 ||
                a.b > frame.bottom + 1)
                problems.push(name + ': "' + a.text + '" outside the chart');
            for (var j = k + 1; j < boxes.length; j++) {
                var b = boxes[j];
                // parallel turned labels (a heatmap's columns): their boxes, not glyphs, meet
                if (a.turn !== null && a.turn === b.turn)
                    continue;
                if (a.l < b.r && b.l < a.r && a.t < b.b && b.t < a.b)
                    problems.push(name + ': "' + a.text + '" overlaps "' + b.text + '"');
            }
        });
    });
    var pre = document.createElement('pre');
    pre.id = 'layout-check';
    pre.textContent = 'LAYOUT charts=' + charts.length + ' texts=' + texts + ' problems=' +
                      problems.length + '\n' + problems.join('\n') + '\nEND LAYOUT';
    document.body.appendChild(pre);
})();
