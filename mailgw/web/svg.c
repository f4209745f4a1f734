/* telemail-mailgw — line charts as inline SVG (see svg.h). */
#include <inttypes.h>
#include <stdbool.h>
#include <time.h>

#include <telemail/buf.h>

#include "web/html.h"
#include "web/svg.h"

/* Colours of the series, in order (the page's style sheet has no say in
 * an attribute, and an SVG without style needs none). */
static const char *const colours[] = {
	"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
};

/* value → pixel, one decimal, as tenths (so the text is exact and stable) */
static long long scale10(int64_t v, int64_t lo, int64_t hi, double px0, double px1)
{
	double t = hi == lo ? 0.5 : (double)(v - lo) / (double)(hi - lo);
	double px = px0 + t * (px1 - px0);
	return (long long)(px * 10.0 + (px >= 0 ? 0.5 : -0.5));
}

static void tenths(struct tm_buf *b, long long v)
{
	tm_buf_printf(b, "%s%lld.%lld", v < 0 ? "-" : "", (v < 0 ? -v : v) / 10, (v < 0 ? -v : v) % 10);
}

static void day(int64_t t, char out[16])
{
	time_t tt = (time_t)t;
	struct tm tmv;
	gmtime_r(&tt, &tmv);
	strftime(out, 16, "%Y-%m-%d", &tmv);
}

int gw_svg_line_chart(struct tm_buf *b, const struct gw_svg_chart *c,
		      const struct gw_svg_series *series, size_t n_series)
{
	unsigned w = c->width ? c->width : 600, h = c->height ? c->height : 200;
	double x0 = GW_SVG_MARGIN_LEFT, x1 = w - GW_SVG_MARGIN_RIGHT;
	double y0 = h - GW_SVG_MARGIN_BOTTOM, y1 = GW_SVG_MARGIN_TOP;   /* y grows downwards */
	bool any = false;
	int64_t xmin = 0, xmax = 0, ymin = c->y_min, ymax = c->y_max;
	bool auto_y = c->y_min == c->y_max;
	for (size_t s = 0; s < n_series; s++)
		for (size_t i = 0; i < series[s].n; i++) {
			const struct gw_svg_point *p = &series[s].points[i];
			if (!any) {
				xmin = xmax = p->x;
				if (auto_y)
					ymin = ymax = p->y < 0 ? p->y : 0;
			}
			any = true;
			xmin = p->x < xmin ? p->x : xmin;
			xmax = p->x > xmax ? p->x : xmax;
			if (auto_y) {
				ymin = p->y < ymin ? p->y : ymin;
				ymax = p->y > ymax ? p->y : ymax;
			}
		}
	if (auto_y && ymax == ymin)
		ymax = ymin + 1;
	tm_buf_printf(b, "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" width=\"%u\" "
		      "height=\"%u\" viewBox=\"0 0 %u %u\" role=\"img\" aria-label=\"", w, h, w, h);
	gw_html_text(b, c->title);
	tm_buf_append_str(b, "\"><title>");
	gw_html_text(b, c->title);
	tm_buf_append_str(b, "</title>");
	tm_buf_printf(b, "<rect x=\"%u\" y=\"%u\" width=\"%u\" height=\"%u\" fill=\"#fff\" "
		      "stroke=\"#999\"/>", GW_SVG_MARGIN_LEFT, GW_SVG_MARGIN_TOP,
		      w - GW_SVG_MARGIN_LEFT - GW_SVG_MARGIN_RIGHT,
		      h - GW_SVG_MARGIN_TOP - GW_SVG_MARGIN_BOTTOM);
	if (!any) {
		tm_buf_printf(b, "<text x=\"%u\" y=\"%u\" text-anchor=\"middle\">no data</text></svg>",
			      w / 2, h / 2);
		return b->data == NULL ? -1 : 0;
	}
	/* axes: the y range at its ends, the first and last day under the x axis */
	char d0[16], d1[16];
	day(xmin, d0);
	day(xmax, d1);
	tm_buf_printf(b, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\" font-size=\"11\">%" PRId64,
		      GW_SVG_MARGIN_LEFT - 4, GW_SVG_MARGIN_TOP + 4, ymax);
	gw_html_text(b, c->y_unit);
	tm_buf_printf(b, "</text><text x=\"%d\" y=\"%d\" text-anchor=\"end\" font-size=\"11\">%" PRId64,
		      GW_SVG_MARGIN_LEFT - 4, (int)h - GW_SVG_MARGIN_BOTTOM, ymin);
	gw_html_text(b, c->y_unit);
	tm_buf_printf(b, "</text><text x=\"%d\" y=\"%u\" font-size=\"11\">%s</text>"
		      "<text x=\"%u\" y=\"%u\" text-anchor=\"end\" font-size=\"11\">%s</text>",
		      GW_SVG_MARGIN_LEFT, h - 10, d0, w - GW_SVG_MARGIN_RIGHT, h - 10, d1);
	for (size_t s = 0; s < n_series; s++) {
		const char *col = colours[s % (sizeof(colours) / sizeof(colours[0]))];
		tm_buf_printf(b, "<polyline class=\"series\" data-series=\"%zu\" fill=\"none\" "
			      "stroke=\"%s\" stroke-width=\"2\" points=\"", s, col);
		for (size_t i = 0; i < series[s].n; i++) {
			const struct gw_svg_point *p = &series[s].points[i];
			if (i > 0)
				tm_buf_append_str(b, " ");
			tenths(b, scale10(p->x, xmin, xmax, x0, x1));
			tm_buf_append_str(b, ",");
			tenths(b, scale10(p->y, ymin, ymax, y0, y1));
		}
		tm_buf_append_str(b, "\"><title>");
		gw_html_text(b, series[s].label);
		tm_buf_append_str(b, "</title></polyline>");
		/* the legend: a swatch and the label, top right, one per line */
		tm_buf_printf(b, "<text x=\"%u\" y=\"%zu\" text-anchor=\"end\" font-size=\"11\" "
			      "fill=\"%s\">", w - GW_SVG_MARGIN_RIGHT - 4,
			      (size_t)GW_SVG_MARGIN_TOP + 14 + 13 * s, col);
		gw_html_text(b, series[s].label);
		tm_buf_append_str(b, "</text>");
	}
	return tm_buf_append_str(b, "</svg>");
}
