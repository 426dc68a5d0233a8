/* Metrics: every component instance of an app counts its calls by operation and result
 * code, their duration (a histogram with fixed buckets) and what its kind adds (cache
 * hits and misses, mq deliveries, db pool use); breakers and rate limiters count
 * process-wide. docs/metrics.md lists every metric.
 *
 * [metrics] listen = 127.0.0.1:9464 serves the same text at http://ADDR/metrics from a
 * thread of the app (off by default; needs a build with libmicrohttpd). */
#ifndef IMINFRA_METRICS_H
#define IMINFRA_METRICS_H

#include <stdbool.h>
#include <stdio.h>
#include "iminfra/app.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Writes every metric of app's open components, and the process-wide ones, in the
 * Prometheus text exposition format 0.0.4. IMI_EINVALID for NULL arguments, IMI_EINTERNAL
 * when writing to f fails. */
int imi_metrics_write(imi_app *app, FILE *f);

/* The table of every metric: one line each, or a Markdown table. */
int imi_metrics_list(FILE *f, bool markdown);

/* The TCP port the [metrics] endpoint listens on (useful with port 0); 0 when off. */
int imi_metrics_port(const imi_app *app);

#ifdef __cplusplus
}
#endif
#endif
