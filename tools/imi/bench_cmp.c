/* See bench_cmp.h: alternating rounds, median ratio with min and max, the summary. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bench_cmp.h"

#define MAX_ROWS 256

typedef struct row {
    char bench[16], driver[24], name[40], unit[12], baseline[24];
    int threads, rounds;
    long size;
    double im, base, ratio, rmin, rmax;
} row;

static row rows[MAX_ROWS];
static int n_rows;

void bench_cmp_add(bench_cmp *c, double im, double base)
{
    if (c->rounds >= BENCH_MAX_ROUNDS)
        return;
    c->im[c->rounds] = im;
    c->base[c->rounds] = base;
    c->rounds++;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of n values (the mean of the middle two when n is even). */
static double median(const double *v, int n)
{
    double s[BENCH_MAX_ROUNDS];
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

void bench_cmp_stats(const bench_cmp *c, double *im, double *base, double *ratio,
                     double *rmin, double *rmax)
{
    *im = *base = *ratio = *rmin = *rmax = 0;
    if (c->rounds == 0)
        return;
    *im = median(c->im, c->rounds);
    if (!c->baseline_name)
        return;
    *base = median(c->base, c->rounds);
    double r[BENCH_MAX_ROUNDS];
    for (int i = 0; i < c->rounds; i++) {
        double a = c->lower_better ? c->base[i] : c->im[i];
        double b = c->lower_better ? c->im[i] : c->base[i];
        r[i] = b > 0 ? a / b : 0;
    }
    *ratio = median(r, c->rounds);
    *rmin = *rmax = r[0];
    for (int i = 1; i < c->rounds; i++) {
        *rmin = r[i] < *rmin ? r[i] : *rmin;
        *rmax = r[i] > *rmax ? r[i] : *rmax;
    }
}

static void keep(const bench_cmp *c, double im, double base, double ratio, double rmin,
                 double rmax)
{
    if (n_rows == MAX_ROWS)
        return;
    row *r = &rows[n_rows++];
    snprintf(r->bench, sizeof r->bench, "%s", c->bench);
    snprintf(r->driver, sizeof r->driver, "%s", c->driver);
    snprintf(r->name, sizeof r->name, "%s", c->name);
    snprintf(r->unit, sizeof r->unit, "%s", c->unit);
    snprintf(r->baseline, sizeof r->baseline, "%s", c->baseline_name ? c->baseline_name : "-");
    r->threads = c->threads;
    r->rounds = c->rounds;
    r->size = c->size;
    r->im = im, r->base = base, r->ratio = ratio, r->rmin = rmin, r->rmax = rmax;
}

static void text_row(FILE *f, const row *r)
{
    char what[64];
    if (r->size)
        snprintf(what, sizeof what, "%s %ldB", r->name, r->size);
    else
        snprintf(what, sizeof what, "%s", r->name);
    char base[32] = "-";
    if (strcmp(r->baseline, "-"))
        snprintf(base, sizeof base, "%.1f", r->base);
    fprintf(f, "%-6s %-9s %-22s %3d %12.1f %12s %-7s %-16s", r->bench, r->driver, what,
            r->threads, r->im, base, r->unit, r->baseline);
    if (strcmp(r->baseline, "-"))
        fprintf(f, " %6.3f [%5.3f..%5.3f]\n", r->ratio, r->rmin, r->rmax);
    else
        fprintf(f, "      -\n");
}

static void text_header(FILE *f)
{
    fprintf(f, "%-6s %-9s %-22s %3s %12s %12s %-7s %-16s %6s %s\n", "bench", "driver", "case",
            "thr", "im-infra", "baseline", "unit", "baseline is", "ratio", "[min..max]");
}

void bench_cmp_report(const imi_bench_opts *o, const bench_cmp *c)
{
    double im, base, ratio, rmin, rmax;
    bench_cmp_stats(c, &im, &base, &ratio, &rmin, &rmax);
    keep(c, im, base, ratio, rmin, rmax);
    if (!o->json) {
        static int printed;
        if (!printed++)
            text_header(stdout);
        text_row(stdout, &rows[n_rows - 1]);
        fflush(stdout);
        return;
    }
    printf("{\"bench\":\"%s\",\"driver\":\"%s\",\"case\":\"%s\",\"threads\":%d,",
           c->bench, c->driver, c->name, c->threads);
    if (c->size)
        printf("\"size\":%ld,", c->size);
    printf("\"unit\":\"%s\",\"higher_is_better\":%s,\"im_infra\":%.3f,", c->unit,
           c->lower_better ? "false" : "true", im);
    if (c->baseline_name)
        printf("\"baseline\":%.3f,\"baseline_name\":\"%s\",\"ratio\":%.4f,\"ratio_min\":%.4f,"
               "\"ratio_max\":%.4f,", base, c->baseline_name, ratio, rmin, rmax);
    else
        printf("\"baseline\":null,\"baseline_name\":null,\"ratio\":null,\"ratio_min\":null,"
               "\"ratio_max\":null,");
    if (c->ids_per_s > 0)
        printf("\"ids_per_s\":%.0f,", c->ids_per_s);
    printf("\"rounds\":%d}\n", c->rounds);
    fflush(stdout);
}

void bench_summary(const imi_bench_opts *o)
{
    FILE *f = o->json ? stderr : stdout;
    fprintf(f, "\nsummary: %d comparison(s), median of alternating rounds; ratio > 1: im-infra "
            "ahead\n", n_rows);
    text_header(f);
    for (int i = 0; i < n_rows; i++)
        text_row(f, &rows[i]);
}

void bench_progress(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("imi bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int bench_thread_sweep(const imi_bench_opts *o, int out[4])
{
    if (o->threads > 0) {
        out[0] = o->threads;
        return 1;
    }
    for (int i = 0; i < 4; i++)
        out[i] = 1 << i;
    return 4;
}
