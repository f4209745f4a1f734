/* telemail-mailgw — server-drawn charts: a line chart as inline SVG, no
 * script. The x axis is time (Unix seconds), the y axis a value; each
 * series is one <polyline> whose points attribute lists "x,y" pairs in the
 * chart's pixel coordinates, rounded to 0.1, in the order given. Labels go
 * through gw_html_text. */
#ifndef GW_WEB_SVG_H
#define GW_WEB_SVG_H

#include <stddef.h>
#include <stdint.h>

struct tm_buf;

struct gw_svg_point {
	int64_t x;   /* Unix seconds */
	int64_t y;
};

struct gw_svg_series {
	const char *label;                   /* legend text */
	const struct gw_svg_point *points;   /* by x */
	size_t n;
};

struct gw_svg_chart {
	const char *title;     /* aria-label and <title> */
	unsigned width, height;   /* pixels; 0: 600 x 200 */
	int64_t y_min, y_max;  /* y_min == y_max: from the data (0 .. max) */
	const char *y_unit;    /* "%", "pages" … shown on the axis */
};

/* The plot area inside the chart (margins for the axis labels). */
#define GW_SVG_MARGIN_LEFT 60
#define GW_SVG_MARGIN_RIGHT 10
#define GW_SVG_MARGIN_TOP 20
#define GW_SVG_MARGIN_BOTTOM 30

/* Append <svg …>…</svg>. A chart without a point says "no data". 0 or -1
 * (out of memory). */
int gw_svg_line_chart(struct tm_buf *b, const struct gw_svg_chart *c,
		      const struct gw_svg_series *series, size_t n_series);

#endif
