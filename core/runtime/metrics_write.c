/* imi_metrics_write: the Prometheus text format over the metric table. */
#include <inttypes.h>
#include <string.h>
#include "iminfra/error.h"
#include "iminfra/metrics.h"
#include "instance.h"
#include "loader.h"
#include "metrics.h"

typedef struct writer {
    FILE *f;
    const imi_metric_def *def;
} writer;

/* A label value with \, " and newline escaped. */
static void put_value(FILE *f, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            fputc('\\', f);
        if (*v == '\n')
            fputs("\\n", f);
        else
            fputc(*v, f);
    }
}

/* The instance label: "sessions" for [cache.sessions], "default" for [cache]. */
static const char *instance_label(const imi_metrics_node *n)
{
    const char *dot = strchr(n->section, '.');
    return dot ? dot + 1 : "default";
}

static void put_labels(FILE *f, const imi_metrics_node *n)
{
    fputs("instance=\"", f);
    put_value(f, instance_label(n));
    fputs("\",driver=\"", f);
    put_value(f, n->driver);
    fputc('"', f);
}

static void write_calls(FILE *f, const imi_metric_def *d, const imi_metrics_node *in)
{
    const imi_op_metrics *m = &in->block;
    for (unsigned op = 0; op < m->n_ops; op++)
        for (unsigned c = 0; c < IMI_METRIC_CODES; c++) {
            uint64_t n = imi_op_metrics_calls(m, op, c);
            if (!n)
                continue;
            fprintf(f, "%s{", d->name);
            put_labels(f, in);
            fprintf(f, ",op=\"%s\",code=\"%s\"} %" PRIu64 "\n", in->ops[op],
                    imi_metric_code_label(c), n);
        }
}

static void write_duration(FILE *f, const imi_metric_def *d, const imi_metrics_node *in)
{
    const imi_op_metrics *m = &in->block;
    for (unsigned op = 0; op < m->n_ops; op++) {
        uint64_t count = 0, b[IMI_METRIC_BUCKETS];
        for (unsigned i = 0; i < IMI_METRIC_BUCKETS; i++)
            count += b[i] = imi_op_metrics_bucket(m, op, i);
        if (!count)
            continue;
        /* Stripes are read one after the other while calls go on: the sums are taken
         * from the same reads, so buckets stay cumulative and +Inf equals _count. */
        uint64_t cum = 0;
        for (unsigned i = 0; i < IMI_METRIC_BUCKETS; i++) {
            cum += b[i];
            fprintf(f, "%s_bucket{", d->name);
            put_labels(f, in);
            fprintf(f, ",op=\"%s\",le=\"", in->ops[op]);
            if (i < IMI_METRIC_BUCKETS - 1)
                fprintf(f, "%g", (double)imi_metric_bounds_ns[i] / 1e9);
            else
                fputs("+Inf", f);
            fprintf(f, "\"} %" PRIu64 "\n", cum);
        }
        fprintf(f, "%s_sum{", d->name);
        put_labels(f, in);
        fprintf(f, ",op=\"%s\"} %.9f\n", in->ops[op],
                (double)imi_op_metrics_sum_ns(m, op) / 1e9);
        fprintf(f, "%s_count{", d->name);
        put_labels(f, in);
        fprintf(f, ",op=\"%s\"} %" PRIu64 "\n", in->ops[op], count);
    }
}

static void write_extra(FILE *f, const imi_metric_def *d, imi_metrics_node *in)
{
    if (!in->read_extras)
        return;
    uint64_t v[IMI_METRIC_EXTRA_MAX] = { 0 };
    imi_metrics_node_extras(in, v);
    fprintf(f, "%s{", d->name);
    put_labels(f, in);
    if (d->label)
        fprintf(f, ",%s", d->label);
    fprintf(f, "} %" PRIu64 "\n", d->arg < IMI_METRIC_EXTRA_MAX ? v[d->arg] : 0);
}

static void each_series(imi_metrics_node *in, void *ud)
{
    writer *w = ud;
    const imi_metric_def *d = w->def;
    if (in->kind != d->kind)
        return;
    switch (d->src) {
    case IMI_MSRC_CALLS:
        write_calls(w->f, d, in);
        break;
    case IMI_MSRC_DURATION:
        write_duration(w->f, d, in);
        break;
    case IMI_MSRC_EXTRA:
        write_extra(w->f, d, in);
        break;
    case IMI_MSRC_GLOBAL:
        break;
    }
}

int imi_metrics_write(imi_app *app, FILE *f)
{
    if (!app || !f)
        return imi_error_set(IMI_EINVALID, 0, "imi_metrics_write: %s is required",
                             app ? "a file" : "an app");
    writer w = { .f = f };
    for (size_t i = 0; i < imi_n_metric_defs; i++) {
        const imi_metric_def *d = &imi_metric_defs[i];
        if (!i || strcmp(d->name, imi_metric_defs[i - 1].name))
            fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", d->name, d->help, d->name, d->type);
        if (d->src == IMI_MSRC_GLOBAL) {
            fprintf(f, "%s%s%s%s %" PRIu64 "\n", d->name, d->label ? "{" : "",
                    d->label ? d->label : "", d->label ? "}" : "",
                    imi_metrics_global((imi_global_counter)d->arg));
            continue;
        }
        w.def = d;
        imi_metrics_reg_each(imi_app_metrics(app), each_series, &w);
    }
    if (fflush(f) || ferror(f))
        return imi_error_set(IMI_EINTERNAL, 0, "imi_metrics_write: writing failed");
    return IMI_OK;
}
