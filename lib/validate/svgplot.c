/* The --plot picture: max |A-B| per time step on a log scale, one polyline
 * per series (module pair, layer, direction), with axes and a legend. The
 * SVG is written by hand: it is a few dozen elements. */
#include "validate/validate_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define W 900.0
#define H 480.0
#define LEFT 80.0
#define RIGHT 260.0
#define TOP 50.0
#define BOTTOM 60.0
/* Errors of exactly 0 are drawn at the bottom of the scale. */
#define FLOOR_EXP (-12)
/* Points per polyline at most. */
#define MAX_POINTS 1000

static const char *const palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                      "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

static void xml_text(FILE *f, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

static double log_err(double e) {
    if (!(e > 0)) return FLOOR_EXP;
    if (isinf(e)) return 3; /* NaN/Inf mismatches: pinned to the top */
    double l = log10(e);
    return l < FLOOR_EXP ? FLOOR_EXP : l;
}

static void write_svg(FILE *f, const rnnck_validation *v) {
    size_t ns = rnnck_validation_series_count(v);
    int64_t steps = 1;
    double lo = 0, hi = FLOOR_EXP;
    int first = 1;
    for (size_t i = 0; i < ns; i++) {
        const rnnck_error_series *s = rnnck_validation_series_at(v, i);
        if (s->steps > steps) steps = s->steps;
        for (int64_t t = 0; t < s->steps; t++) {
            double l = log_err(s->max_abs[t]);
            if (first || l < lo) lo = l;
            if (first || l > hi) hi = l;
            first = 0;
        }
    }
    double atol = rnnck__validation_atol(v);
    double latol = atol > 0 ? log10(atol) : FLOOR_EXP;
    if (latol < lo) lo = latol;
    if (latol > hi) hi = latol;
    int dlo = (int)floor(lo), dhi = (int)ceil(hi);
    if (dhi <= dlo) dhi = dlo + 1;
    double pw = W - LEFT - RIGHT, ph = H - TOP - BOTTOM;
#define XP(t) (LEFT + (steps > 1 ? (double)(t) / (double)(steps - 1) : 0.5) * pw)
#define YP(l) (TOP + (1.0 - ((l) - dlo) / (double)(dhi - dlo)) * ph)
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
               "font-family=\"sans-serif\" font-size=\"12\">\n", W, H, W, H);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    fprintf(f, "<text x=\"%.1f\" y=\"24\" font-size=\"15\">rnnck validate: max |A-B| per time step (%s)</text>\n", LEFT,
            rnnck_validation_passed(v) ? "pass" : "MISMATCH");
    /* Decade grid and labels on the log axis. */
    for (int d = dlo; d <= dhi; d++) {
        double y = YP(d);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#dddddd\"/>\n", LEFT, y, LEFT + pw, y);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">1e%d</text>\n", LEFT - 6, y + 4, d);
    }
    /* Time ticks: about ten. */
    int64_t every = steps > 10 ? (steps + 9) / 10 : 1;
    for (int64_t t = 0; t < steps; t += every) {
        double x = XP(t);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n", x, TOP + ph, x, TOP + ph + 5);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%lld</text>\n", x, TOP + ph + 18, (long long)t);
    }
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n", LEFT, TOP + ph, LEFT + pw, TOP + ph);
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n", LEFT, TOP, LEFT, TOP + ph);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">time step</text>\n", LEFT + pw / 2, H - 16);
    fprintf(f, "<text transform=\"translate(18 %.1f) rotate(-90)\" text-anchor=\"middle\">max |A-B| (log scale)</text>\n",
            TOP + ph / 2);
    /* The tolerance floor: lines above it are where A and B diverge. */
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#999999\" stroke-dasharray=\"2 3\"/>\n",
            LEFT, YP(latol), LEFT + pw, YP(latol));
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" fill=\"#777777\" text-anchor=\"end\">atol %g</text>\n", LEFT + pw - 4,
            YP(latol) - 4, atol);
    for (size_t i = 0; i < ns; i++) {
        const rnnck_error_series *s = rnnck_validation_series_at(v, i);
        const char *color = palette[i % (sizeof palette / sizeof *palette)];
        /* Reverse directions dashed, so a pair of lines reads at a glance. */
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\"%s points=\"", color,
                s->reverse ? " stroke-dasharray=\"6 3\"" : "");
        /* Long runs: one point per bucket of steps, its maximum, so the file
         * stays small and no spike is lost. */
        int64_t bucket = s->steps > MAX_POINTS ? (s->steps + MAX_POINTS - 1) / MAX_POINTS : 1;
        for (int64_t t0 = 0; t0 < s->steps; t0 += bucket) {
            double m = 0;
            for (int64_t t = t0; t < t0 + bucket && t < s->steps; t++)
                if (s->max_abs[t] > m) m = s->max_abs[t];
            fprintf(f, "%s%.1f,%.1f", t0 ? " " : "", XP(t0), YP(log_err(m)));
        }
        fprintf(f, "\"/>\n");
        const rnnck_validation_pair *p = rnnck_validation_pair_at(v, s->pair);
        const char *mod = p && p->module_a ? p->module_a : "";
        char label[300];
        snprintf(label, sizeof label, "%s%slayer %lld %s (%s)", mod, *mod ? ": " : "", (long long)s->layer,
                 s->reverse ? "reverse" : "forward", s->input_case);
        double ly = TOP + 10 + 18.0 * (double)i;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"%s/>\n",
                W - RIGHT + 15, ly, W - RIGHT + 40, ly, color, s->reverse ? " stroke-dasharray=\"6 3\"" : "");
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">", W - RIGHT + 46, ly + 4);
        xml_text(f, label);
        fprintf(f, "</text>\n");
    }
    if (ns == 0) fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">no series to draw</text>\n", LEFT + 10, TOP + 20);
    fprintf(f, "</svg>\n");
#undef XP
#undef YP
}

rnnck_status rnnck_validation_plot_svg(const rnnck_validation *v, const char *path) {
    rnnck__err_clear();
    if (!v || !path) return rnnck__err(RNNCK_E_USAGE, "rnnck_validation_plot_svg: NULL argument");
    rnnck__atomic a;
    rnnck_status st = rnnck__atomic_begin(&a, path, true);
    if (st) return st;
    write_svg(a.fp, v);
    if (ferror(a.fp)) {
        rnnck__atomic_abort(&a);
        return rnnck__err(RNNCK_E_WRITE, "%s: write failed", path);
    }
    return rnnck__atomic_commit(&a);
}
