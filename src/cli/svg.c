/*
 * svg.c - the SVG plotting helper of `clann report` (see svg.h).
 */
#include "svg.h"

#include <math.h>
#include <string.h>

/* Tableau's colour-blind-friendly ten. */
static const char *const palette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                      "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

const char *svg_color(size_t i)
{
    return palette[i % (sizeof palette / sizeof *palette)];
}

/* Length of the valid UTF-8 sequence at s, or 0. Checked by hand because an XML parser (and so
 * the test) rejects a page with a stray byte from, say, a Latin-1 file name. */
static size_t utf8_length(const unsigned char *s)
{
    size_t n = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
    if (s[0] >= 0xf8)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    }
    return n;
}

void svg_escape(FILE *f, const char *text)
{
    const unsigned char *s = (const unsigned char *)(text ? text : "");
    while (*s) {
        if (*s < 0x80) {
            switch (*s) {
            case '&': fputs("&amp;", f); break;
            case '<': fputs("&lt;", f); break;
            case '>': fputs("&gt;", f); break;
            case '"': fputs("&quot;", f); break;
            case '\'': fputs("&#39;", f); break;
            default: fputc(*s < 0x20 && *s != '\t' ? '?' : *s, f);
            }
            s++;
            continue;
        }
        size_t n = utf8_length(s);
        if (n == 0) {
            fputc('?', f);
            s++;
        } else {
            fwrite(s, 1, n, f);
            s += n;
        }
    }
}

void svg_range_init(struct svg_range *r)
{
    r->lo = INFINITY;
    r->hi = -INFINITY;
}

void svg_range_add(struct svg_range *r, const double *v, size_t n, bool positive_only)
{
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(v[i]) || (positive_only && v[i] <= 0))
            continue;
        r->lo = fmin(r->lo, v[i]);
        r->hi = fmax(r->hi, v[i]);
    }
}

bool svg_range_empty(const struct svg_range *r)
{
    return !(r->lo <= r->hi);
}

/* 1, 2 or 5 times a power of ten, about span / target. */
static double nice_step(double span, int target)
{
    double raw = span / target;
    double mag = pow(10.0, floor(log10(raw)));
    double f = raw / mag;
    return (f < 1.5 ? 1.0 : f < 3.0 ? 2.0 : f < 7.0 ? 5.0 : 10.0) * mag;
}

/* A range with room to draw: an empty one becomes [0, 1], a single value gets padding. */
static void open_range(double *lo, double *hi)
{
    if (!(*lo <= *hi)) {
        *lo = 0.0;
        *hi = 1.0;
    } else if (*hi - *lo <= 1e-12 * fmax(fabs(*lo), fabs(*hi))) {
        double pad = *lo != 0.0 ? fabs(*lo) * 0.1 : 1.0;
        *lo -= pad;
        *hi += pad;
    }
}

/* Linear ticks: returns the step and widens [lo, hi] to whole steps unless fixed. */
static double linear_ticks(double *lo, double *hi, bool fixed, bool integer)
{
    open_range(lo, hi);
    double step = nice_step(*hi - *lo, 5);
    if (integer && step < 1.0)
        step = 1.0;
    if (!fixed) {
        *lo = floor(*lo / step + 1e-9) * step;
        *hi = ceil(*hi / step - 1e-9) * step;
    }
    return step;
}

static double px_x(const struct svg_chart *c, double x)
{
    double w = c->width - c->left - c->right;
    double p = c->left + (x - c->x_lo) / (c->x_hi - c->x_lo) * w;
    return fmax(-1e4, fmin(1e4, p)); /* far-out points stay printable; the clip hides them */
}

/* NaN for a value that has no place on the axis (y <= 0 on a log axis). */
static double px_y(const struct svg_chart *c, double y)
{
    if (c->log_y)
        y = y > 0.0 ? log10(y) : NAN;
    double h = c->height - c->top - c->bottom;
    double p = c->top + h - (y - c->y_lo) / (c->y_hi - c->y_lo) * h;
    return fmax(-1e4, fmin(1e4, p));
}

/* %g with a short exponent: 1.95e11 for 1.95e+11, 1e-5 for 1e-05. */
static void short_number(char *buf, size_t size, double v)
{
    snprintf(buf, size, "%g", v);
    char *e = strchr(buf, 'e');
    if (!e)
        return;
    char *digits = e + 1 + (e[1] == '-' || e[1] == '+'), *to = e[1] == '-' ? e + 2 : e + 1;
    while (digits[0] == '0' && digits[1] != '\0')
        digits++;
    memmove(to, digits, strlen(digits) + 1);
}

static void tick_label(char *buf, size_t size, double v, double step)
{
    if (fabs(v) < step * 1e-6)
        v = 0.0; /* k * step can land at 1e-17 instead of 0 */
    short_number(buf, size, v);
}

/* The width of a tick label in pixels at font size 11, on the wide side: digits as DejaVu Sans
 * draws them (0.64 em; Liberation and Arial take 0.56), so that the layout holds with either. */
static double label_width(const char *text)
{
    double em = 0.0;
    for (const char *p = text; *p; p++)
        em += *p == '.' ? 0.32 : *p == '-' ? 0.37 : 0.64;
    return em * 11.0;
}

/* Every stride-th x tick gets a label and a grid line, stride chosen so that labels keep 8
 * pixels apart (long labels in a narrow plot). */
static void draw_x_ticks(struct svg_chart *c, double step)
{
    int y0 = c->top, y1 = c->height - c->bottom;
    char label[32];
    double k0 = ceil(c->x_lo / step - 1e-9), widest = 0.0;
    for (double k = k0; k * step <= c->x_hi + step * 1e-9; k++) {
        tick_label(label, sizeof label, k * step, step);
        widest = fmax(widest, label_width(label));
    }
    double spacing = step / (c->x_hi - c->x_lo) * (c->width - c->left - c->right);
    double stride = spacing > 0.0 ? fmax(1.0, ceil((widest + 8.0) / spacing)) : 1.0;
    for (double k = k0; k * step <= c->x_hi + step * 1e-9; k += stride) {
        double x = px_x(c, k * step);
        tick_label(label, sizeof label, k * step, step);
        fprintf(c->f,
                "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#e4e4e4\"/>\n"
                "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" fill=\"#444\">%s</text>\n",
                x, y0, x, y1, x, y1 + 15, label);
    }
}

/* value is the exponent on a log axis. Without c->f only measures: returns the label's width. */
static double draw_y_tick(struct svg_chart *c, double value, const char *label)
{
    if (!c->f)
        return label_width(label);
    double y = px_y(c, c->log_y ? pow(10.0, value) : value);
    fprintf(c->f,
            "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>\n"
            "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" fill=\"#444\">%s</text>\n",
            c->left, y, c->width - c->right, y, c->left - 5, y + 4, label);
    return label_width(label);
}

/* Draws the y ticks (or, without c->f, only measures them); returns the widest label's width. */
static double draw_y_ticks(struct svg_chart *c, double step)
{
    char label[32];
    double widest = 0.0;
    if (c->log_y) {
        /* Whole decades, thinned so that no more than about eight get a label. */
        int stride = (int)ceil((c->y_hi - c->y_lo) / 8.0);
        for (int k = (int)c->y_lo; k <= (int)c->y_hi; k += stride > 0 ? stride : 1) {
            short_number(label, sizeof label, pow(10.0, k));
            widest = fmax(widest, draw_y_tick(c, k, label));
        }
        return widest;
    }
    for (double k = ceil(c->y_lo / step - 1e-9); k * step <= c->y_hi + step * 1e-9; k++) {
        tick_label(label, sizeof label, k * step, step);
        widest = fmax(widest, draw_y_tick(c, k * step, label));
    }
    return widest;
}

static void draw_labels(struct svg_chart *c, const struct svg_axes *a)
{
    int pw = c->width - c->left - c->right, ph = c->height - c->top - c->bottom;
    fprintf(c->f, "<text x=\"%d\" y=\"18\" text-anchor=\"middle\" font-size=\"14\" "
                  "font-weight=\"bold\">",
            c->left + pw / 2);
    svg_escape(c->f, a->title);
    fprintf(c->f, "</text>\n<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">", c->left + pw / 2,
            c->height - 8);
    svg_escape(c->f, a->x_label);
    fprintf(c->f, "</text>\n<text transform=\"translate(14 %d) rotate(-90)\" "
                  "text-anchor=\"middle\">",
            c->top + ph / 2);
    svg_escape(c->f, a->y_label);
    fprintf(c->f, "</text>\n");
}

void svg_chart_begin(struct svg_chart *c, FILE *f, int width, int height,
                     const struct svg_axes *a)
{
    /* Ids must be unique in the whole page, which holds many charts. */
    static int next_clip_id;
    *c = (struct svg_chart){.f = f, .width = width, .height = height, .left = 64,
                            .right = a->legend ? 150 : 20, .top = 30, .bottom = 44,
                            .log_y = a->log_y, .clip_id = ++next_clip_id};
    c->x_lo = a->x.lo;
    c->x_hi = a->x.hi;
    double x_step = linear_ticks(&c->x_lo, &c->x_hi, a->fixed_x, a->integer_x);
    double y_step = 0.0;
    if (a->log_y) {
        c->y_lo = svg_range_empty(&a->y) ? 0.0 : floor(log10(a->y.lo) + 1e-9);
        c->y_hi = svg_range_empty(&a->y) ? 1.0 : ceil(log10(a->y.hi) - 1e-9);
        if (c->y_hi <= c->y_lo)
            c->y_hi = c->y_lo + 1.0;
    } else {
        c->y_lo = a->y.lo;
        c->y_hi = a->y.hi;
        y_step = linear_ticks(&c->y_lo, &c->y_hi, a->fixed_y, false);
    }
    /* The left margin from the widest y label: the axis title (a line centred at x = 14) ends
     * near x = 21, then a gap, the label, and 5 pixels to the axis. */
    c->f = NULL;
    c->left = 27 + (int)ceil(draw_y_ticks(c, y_step)) + 4;
    c->left = c->left < 48 ? 48 : c->left;
    c->f = f;
    int pw = width - c->left - c->right, ph = height - c->top - c->bottom;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
               "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"11\" role=\"img\">\n"
               "<title>", width, height, width, height);
    svg_escape(f, a->title);
    /* The clip leaves a few pixels around the frame so that a line along an edge (a TPR of 1)
     * and the markers on it are drawn whole. */
    fprintf(f, "</title>\n<defs><clipPath id=\"clip%d\"><rect x=\"%d\" y=\"%d\" width=\"%d\" "
               "height=\"%d\"/></clipPath></defs>\n"
               "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#fff\"/>\n",
            c->clip_id, c->left - 4, c->top - 4, pw + 8, ph + 8, c->left, c->top, pw, ph);
    draw_x_ticks(c, x_step);
    draw_y_ticks(c, y_step);
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" "
               "stroke=\"#888\"/>\n",
            c->left, c->top, pw, ph);
    draw_labels(c, a);
}

static void write_segment(struct svg_chart *c, const double *px, const double *py, size_t n,
                          const char *color, const char *dash)
{
    if (n == 1) {
        fprintf(c->f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", px[0], py[0],
                color);
        return;
    }
    fprintf(c->f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.8\" "
                  "stroke-linejoin=\"round\"",
            color);
    if (dash)
        fprintf(c->f, " stroke-dasharray=\"%s\"", dash);
    fputs(" points=\"", c->f);
    for (size_t i = 0; i < n; i++)
        fprintf(c->f, "%s%.1f,%.1f", i ? " " : "", px[i], py[i]);
    fputs("\"/>\n", c->f);
}

void svg_chart_line(struct svg_chart *c, const double *x, const double *y, size_t n,
                    const char *color, const char *dash, bool markers)
{
    fprintf(c->f, "<g clip-path=\"url(#clip%d)\">\n", c->clip_id);
    /* Runs of drawable points, written in chunks so that any length fits the buffers. */
    double px[256], py[256];
    size_t run = 0;
    for (size_t i = 0; i <= n; i++) {
        bool ok = i < n && isfinite(x[i]) && isfinite(y[i]) && (!c->log_y || y[i] > 0.0);
        if (ok) {
            px[run] = px_x(c, x[i]);
            py[run] = px_y(c, y[i]);
            run++;
            if (markers)
                fprintf(c->f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>\n",
                        px[run - 1], py[run - 1], color);
        }
        if ((!ok && run > 0) || run == 256) {
            write_segment(c, px, py, run, color, dash);
            /* A full chunk carries its last point over so that the line stays joined. */
            if (ok) {
                px[0] = px[run - 1];
                py[0] = py[run - 1];
                run = 1;
            } else {
                run = 0;
            }
        }
    }
    fputs("</g>\n", c->f);
}

void svg_chart_points(struct svg_chart *c, const double *x, const double *y, size_t n,
                      const char *color)
{
    fprintf(c->f, "<g clip-path=\"url(#clip%d)\" fill=\"%s\" fill-opacity=\"0.45\">\n",
            c->clip_id, color);
    for (size_t i = 0; i < n; i++) {
        if (isfinite(x[i]) && isfinite(y[i]) && (!c->log_y || y[i] > 0.0))
            fprintf(c->f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2\"/>\n", px_x(c, x[i]),
                    px_y(c, y[i]));
    }
    fputs("</g>\n", c->f);
}

void svg_chart_legend(struct svg_chart *c, const char *label, const char *color,
                      const char *dash)
{
    int x = c->width - c->right + 12, y = c->top + 8 + 16 * c->n_legend++;
    if (y > c->height - c->bottom)
        return; /* no room left; the chart's title says what the lines are */
    fprintf(c->f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" "
                  "stroke-width=\"2\"",
            x, y, x + 22, y, color);
    if (dash)
        fprintf(c->f, " stroke-dasharray=\"%s\"", dash);
    fprintf(c->f, "/>\n<text x=\"%d\" y=\"%d\">", x + 28, y + 4);
    /* Cut to the margin's room (long class names), at a character boundary, with "...". */
    char cut[128];
    snprintf(cut, sizeof cut, "%s", label ? label : "");
    size_t n = strlen(cut);
    while (n > 3 && label_width(cut) * 1.1 > c->right - 30) {
        for (n -= 4; n > 0 && ((unsigned char)cut[n] & 0xc0) == 0x80; n--)
            ;
        memcpy(cut + n, "...", 4);
        n += 3;
    }
    svg_escape(c->f, cut);
    fputs("</text>\n", c->f);
}

void svg_chart_end(struct svg_chart *c)
{
    fputs("</svg>\n", c->f);
}

/* Light to dark blue by t in [0, 1]. */
static void cell_color(char *buf, size_t size, double t)
{
    static const double from[3] = {247, 251, 255}, to[3] = {8, 48, 107};
    t = isfinite(t) ? fmax(0.0, fmin(1.0, t)) : 0.0;
    snprintf(buf, size, "rgb(%d,%d,%d)", (int)(from[0] + (to[0] - from[0]) * t),
             (int)(from[1] + (to[1] - from[1]) * t), (int)(from[2] + (to[2] - from[2]) * t));
}

struct heatmap_layout {
    int cell, left, top, width, height;
    bool rotate; /* column labels turned when they are wider than a cell */
};

static struct heatmap_layout heatmap_layout(const char *const *labels, size_t n)
{
    struct heatmap_layout l = {.left = 90, .top = 44};
    l.cell = (int)fmax(6.0, fmin(64.0, 400.0 / (double)n));
    size_t longest = 1;
    for (size_t i = 0; i < n; i++)
        longest = labels[i] && strlen(labels[i]) > longest ? strlen(labels[i]) : longest;
    longest = longest > 14 ? 14 : longest;
    /* Row labels end 5 px left of the grid; the turned "true" title ends near x = 21. */
    int label_px = (int)ceil((double)longest * 0.64 * 11.0 * 1.1);
    l.left = 32 + label_px > l.left ? 32 + label_px : l.left;
    l.rotate = (double)longest * 6.5 > l.cell;
    int below = l.rotate ? 8 + (int)((double)longest * 4.6) : 22;
    l.width = l.left + l.cell * (int)n + 20;
    l.height = l.top + l.cell * (int)n + below + 20;
    if (l.width < 300)
        l.width = 300;
    return l;
}

/* Labels are cut to 14 bytes so that a long class name cannot push the grid off the page; the
 * cut backs off to a character boundary so that it does not leave half a UTF-8 sequence. */
static void short_label(FILE *f, const char *const *labels, size_t i)
{
    char buf[24];
    if (labels && labels[i]) {
        size_t n = strlen(labels[i]);
        if (n > 14)
            for (n = 14; n > 0 && ((unsigned char)labels[i][n] & 0xc0) == 0x80; n--)
                ;
        memcpy(buf, labels[i], n);
        buf[n] = '\0';
    } else {
        snprintf(buf, sizeof buf, "%zu", i);
    }
    svg_escape(f, buf);
}

static void heatmap_axis_labels(FILE *f, const struct heatmap_layout *l,
                                const char *const *labels, size_t n)
{
    int font = l->cell < 11 ? 8 : 11;
    int bottom = l->top + l->cell * (int)n;
    for (size_t i = 0; i < n; i++) {
        double mid = (double)i * l->cell + l->cell / 2.0;
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" font-size=\"%d\">",
                l->left - 5, l->top + mid + 4, font);
        short_label(f, labels, i);
        if (l->rotate)
            fprintf(f, "</text>\n<text transform=\"translate(%.1f %d) rotate(-45)\" "
                       "text-anchor=\"end\" font-size=\"%d\">",
                    l->left + mid + 3, bottom + 8, font);
        else
            fprintf(f, "</text>\n<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" "
                       "font-size=\"%d\">",
                    l->left + mid, bottom + 14, font);
        short_label(f, labels, i);
        fputs("</text>\n", f);
    }
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">predicted</text>\n"
               "<text transform=\"translate(14 %d) rotate(-90)\" text-anchor=\"middle\">true"
               "</text>\n",
            l->left + l->cell * (int)n / 2, l->height - 8, l->top + l->cell * (int)n / 2);
}

static void heatmap_cells(FILE *f, const struct heatmap_layout *l, const double *values,
                          size_t n)
{
    for (size_t r = 0; r < n; r++) {
        double total = 0.0;
        for (size_t k = 0; k < n; k++)
            total += isfinite(values[r * n + k]) ? values[r * n + k] : 0.0;
        for (size_t k = 0; k < n; k++) {
            double v = values[r * n + k], share = total > 0.0 ? v / total : 0.0;
            char fill[32];
            cell_color(fill, sizeof fill, share);
            int x = l->left + (int)k * l->cell, y = l->top + (int)r * l->cell;
            fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\" "
                       "stroke=\"#fff\"><title>true %zu, predicted %zu: %g (%.1f%% of the row)"
                       "</title></rect>\n",
                    x, y, l->cell, l->cell, fill, r, k, isfinite(v) ? v : 0.0, 100.0 * share);
            if (l->cell >= 22 && isfinite(v))
                fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" "
                           "font-size=\"%d\" fill=\"%s\">%g</text>\n",
                        x + l->cell / 2.0, y + l->cell / 2.0 + 4, l->cell >= 36 ? 12 : 9,
                        share > 0.5 ? "#fff" : "#222", v);
        }
    }
}

void svg_heatmap(FILE *f, const char *title, const char *const *labels, const double *values,
                 size_t n)
{
    struct heatmap_layout l = heatmap_layout(labels, n);
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
               "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"11\" role=\"img\">\n"
               "<title>",
            l.width, l.height, l.width, l.height);
    svg_escape(f, title);
    fprintf(f, "</title>\n<text x=\"%d\" y=\"18\" font-size=\"14\" font-weight=\"bold\">",
            l.left);
    svg_escape(f, title);
    fprintf(f, "</text>\n<text x=\"%d\" y=\"34\" fill=\"#555\">shade: share of the true "
               "class</text>\n",
            l.left);
    heatmap_cells(f, &l, values, n);
    heatmap_axis_labels(f, &l, labels, n);
    fputs("</svg>\n", f);
}
