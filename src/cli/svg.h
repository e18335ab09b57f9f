/*
 * svg.h - a small SVG plotting helper for `clann report`: line charts on linear or log axes with
 * ticks, grid and legend, and heatmaps, written straight to a FILE. Every piece of text goes
 * through svg_escape(), so the output is well-formed XML whatever the labels hold.
 */
#ifndef CLANN_CLI_SVG_H
#define CLANN_CLI_SVG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Writes text as XML character data or a quoted attribute value: markup characters become
 * entities; control characters and bytes that are not valid UTF-8 become '?'. */
void svg_escape(FILE *f, const char *text);

/* A data range grown by svg_range_add(); empty while lo > hi. */
struct svg_range {
    double lo, hi;
};

void svg_range_init(struct svg_range *r);
/* Widens r by the finite values of v; only by the positive ones when positive_only (log axes). */
void svg_range_add(struct svg_range *r, const double *v, size_t n, bool positive_only);
bool svg_range_empty(const struct svg_range *r);

/* What a chart shows. Unless fixed, a range is widened to whole ticks. */
struct svg_axes {
    const char *title, *x_label, *y_label;
    struct svg_range x, y;
    bool log_y;            /* y on a log10 scale: the range must be positive */
    bool fixed_x, fixed_y; /* draw the range exactly (e.g. [0, 1] for rates) */
    bool integer_x;        /* x ticks at whole numbers only (epochs) */
    bool legend;           /* reserve the right margin for a legend */
};

struct svg_chart {
    FILE *f;
    int width, height;
    int left, right, top, bottom; /* margins around the plot area */
    double x_lo, x_hi, y_lo, y_hi; /* the ranges drawn; log10 of y on a log axis */
    bool log_y;
    int clip_id;
    int n_legend;
};

/* Opens an <svg> element and draws the frame, grid, ticks, title and axis labels. */
void svg_chart_begin(struct svg_chart *c, FILE *f, int width, int height,
                     const struct svg_axes *axes);
/* Draws y against x; the line breaks at non-finite points (and at y <= 0 on a log axis). Points
 * get markers when asked, and always when they stand alone. dash: NULL for a solid line, else
 * an SVG dash array such as "6 3". */
void svg_chart_line(struct svg_chart *c, const double *x, const double *y, size_t n,
                    const char *color, const char *dash, bool markers);
/* Draws the points (x, y) as small translucent dots, no line (scatter plots); non-finite
 * points are left out. */
void svg_chart_points(struct svg_chart *c, const double *x, const double *y, size_t n,
                      const char *color);
/* Adds an entry to the legend in the right margin. */
void svg_chart_legend(struct svg_chart *c, const char *label, const char *color,
                      const char *dash);
void svg_chart_end(struct svg_chart *c);

/* A square heatmap of n x n values, row-major: row = true class, column = predicted. Cells are
 * shaded by their share of the row and labelled with the value when there is room. */
void svg_heatmap(FILE *f, const char *title, const char *const *labels, const double *values,
                 size_t n);

/* The i-th colour of a palette that stays apart for colour-blind readers (cycles). */
const char *svg_color(size_t i);

#endif /* CLANN_CLI_SVG_H */
