/* Every metric im-infra exports, in one table: imi_metrics_write walks it, and
 * `imi stats --list-metrics --markdown` prints it for docs/metrics.md. */
#include <string.h>
#include "iminfra/driver/driver.h"
#include "iminfra/error.h"
#include "iminfra/metrics.h"
#include "metrics.h"

#define CALLS_HELP(what) "Calls of " what " operations, by operation and result code"
#define DURATION_HELP(what) "Duration of " what " operations (driver call included)"
#define IDL "instance, driver"

const imi_metric_def imi_metric_defs[] = {
    { "imi_cache_calls_total", "counter", CALLS_HELP("cache"), IDL ", op, code",
      IMI_KIND_CACHE, IMI_MSRC_CALLS, 0, NULL },
    { "imi_cache_call_duration_seconds", "histogram", DURATION_HELP("cache"), IDL ", op, le",
      IMI_KIND_CACHE, IMI_MSRC_DURATION, 0, NULL },
    { "imi_cache_hits_total", "counter", "get and hget calls that found their key", IDL,
      IMI_KIND_CACHE, IMI_MSRC_EXTRA, IMI_CACHE_X_HITS, NULL },
    { "imi_cache_misses_total", "counter", "get and hget calls that did not find their key",
      IDL, IMI_KIND_CACHE, IMI_MSRC_EXTRA, IMI_CACHE_X_MISSES, NULL },

    { "imi_mq_calls_total", "counter", CALLS_HELP("mq producer"), IDL ", op, code",
      IMI_KIND_MQ, IMI_MSRC_CALLS, 0, NULL },
    { "imi_mq_call_duration_seconds", "histogram", DURATION_HELP("mq producer"),
      IDL ", op, le", IMI_KIND_MQ, IMI_MSRC_DURATION, 0, NULL },
    { "imi_mq_published_total", "counter", "Messages the backend accepted", IDL,
      IMI_KIND_MQ, IMI_MSRC_EXTRA, IMI_MQ_X_PUBLISHED, NULL },
    { "imi_mq_publish_failed_total", "counter", "Messages the backend refused or lost", IDL,
      IMI_KIND_MQ, IMI_MSRC_EXTRA, IMI_MQ_X_PUBLISH_FAILED, NULL },
    { "imi_mq_delivered_total", "counter", "Messages handed to a subscription's handler",
      IDL, IMI_KIND_MQ, IMI_MSRC_EXTRA, IMI_MQ_X_DELIVERED, NULL },
    { "imi_mq_acked_total", "counter", "Deliveries whose handler succeeded", IDL,
      IMI_KIND_MQ, IMI_MSRC_EXTRA, IMI_MQ_X_ACKED, NULL },
    { "imi_mq_nacked_total", "counter", "Deliveries whose handler failed", IDL,
      IMI_KIND_MQ, IMI_MSRC_EXTRA, IMI_MQ_X_NACKED, NULL },
    { "imi_mq_redelivered_total", "counter", "Deliveries that were a second or later attempt",
      IDL, IMI_KIND_MQ, IMI_MSRC_EXTRA, IMI_MQ_X_REDELIVERED, NULL },
    { "imi_mq_dead_lettered_total", "counter",
      "Messages sent to the dead-letter topic after their last attempt", IDL,
      IMI_KIND_MQ, IMI_MSRC_EXTRA, IMI_MQ_X_DEAD_LETTERED, NULL },

    { "imi_db_calls_total", "counter", CALLS_HELP("db"), IDL ", op, code",
      IMI_KIND_DB, IMI_MSRC_CALLS, 0, NULL },
    { "imi_db_call_duration_seconds", "histogram", DURATION_HELP("db"), IDL ", op, le",
      IMI_KIND_DB, IMI_MSRC_DURATION, 0, NULL },
    { "imi_db_endpoint_statements_total", "counter",
      "Statements run, by the endpoint that ran them", IDL ", endpoint",
      IMI_KIND_DB, IMI_MSRC_EXTRA, IMI_DB_X_WRITER_CALLS, "endpoint=\"writer\"" },
    { "imi_db_endpoint_statements_total", "counter",
      "Statements run, by the endpoint that ran them", IDL ", endpoint",
      IMI_KIND_DB, IMI_MSRC_EXTRA, IMI_DB_X_READER_CALLS, "endpoint=\"reader\"" },
    { "imi_db_pool_in_use", "gauge", "Connections taken from the pools, all endpoints", IDL,
      IMI_KIND_DB, IMI_MSRC_EXTRA, IMI_DB_X_POOL_IN_USE, NULL },
    { "imi_db_pool_idle", "gauge", "Open connections waiting in the pools, all endpoints",
      IDL, IMI_KIND_DB, IMI_MSRC_EXTRA, IMI_DB_X_POOL_IDLE, NULL },
    { "imi_db_pool_waits_total", "counter", "Times a caller waited for a pooled connection",
      IDL, IMI_KIND_DB, IMI_MSRC_EXTRA, IMI_DB_X_POOL_WAITS, NULL },

    { "imi_coord_calls_total", "counter", CALLS_HELP("coord"), IDL ", op, code",
      IMI_KIND_COORD, IMI_MSRC_CALLS, 0, NULL },
    { "imi_coord_call_duration_seconds", "histogram", DURATION_HELP("coord"), IDL ", op, le",
      IMI_KIND_COORD, IMI_MSRC_DURATION, 0, NULL },

    { "imi_breaker_transitions_total", "counter",
      "Circuit breaker state changes in this process, by the state entered", "to",
      0, IMI_MSRC_GLOBAL, IMI_GC_BREAKER_TO_CLOSED, "to=\"closed\"" },
    { "imi_breaker_transitions_total", "counter",
      "Circuit breaker state changes in this process, by the state entered", "to",
      0, IMI_MSRC_GLOBAL, IMI_GC_BREAKER_TO_OPEN, "to=\"open\"" },
    { "imi_breaker_transitions_total", "counter",
      "Circuit breaker state changes in this process, by the state entered", "to",
      0, IMI_MSRC_GLOBAL, IMI_GC_BREAKER_TO_HALF_OPEN, "to=\"half_open\"" },
    { "imi_ratelimit_grants_total", "counter", "Rate limiter takes granted in this process",
      "", 0, IMI_MSRC_GLOBAL, IMI_GC_RATELIMIT_GRANTED, NULL },
    { "imi_ratelimit_refusals_total", "counter", "Rate limiter takes refused in this process",
      "", 0, IMI_MSRC_GLOBAL, IMI_GC_RATELIMIT_REFUSED, NULL },
};
const size_t imi_n_metric_defs = sizeof imi_metric_defs / sizeof imi_metric_defs[0];

int imi_metrics_list(FILE *f, bool markdown)
{
    if (!f)
        return imi_error_set(IMI_EINVALID, 0, "imi_metrics_list: no file");
    if (markdown)
        fprintf(f, "| metric | type | labels | help |\n|---|---|---|---|\n");
    for (size_t i = 0; i < imi_n_metric_defs; i++) {
        const imi_metric_def *d = &imi_metric_defs[i];
        if (i && !strcmp(d->name, imi_metric_defs[i - 1].name))
            continue;
        if (markdown)
            fprintf(f, "| `%s` | %s | %s | %s |\n", d->name, d->type, d->labels, d->help);
        else
            fprintf(f, "%s %s {%s} %s\n", d->name, d->type, d->labels, d->help);
    }
    return ferror(f) ? imi_error_set(IMI_EINTERNAL, 0, "imi_metrics_list: write failed")
                     : IMI_OK;
}
