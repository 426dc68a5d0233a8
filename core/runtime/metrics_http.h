/* The [metrics] endpoint of an app (metrics_http.c). */
#ifndef IMI_CORE_METRICS_HTTP_H
#define IMI_CORE_METRICS_HTTP_H

#include "iminfra/app.h"

typedef struct imi_metrics_http imi_metrics_http;

/* Listens on host:port (numeric); `where` ("file:line") prefixes the errors. */
int imi_metrics_http_start(imi_app *app, const char *host, const char *port, const char *where,
                           imi_metrics_http **out);
/* Stops the endpoint and frees h; in a forked child it only closes the child's copy of the
 * listening socket (the parent keeps serving) and frees h. */
void imi_metrics_http_stop(imi_metrics_http *h);
int imi_metrics_http_port(const imi_metrics_http *h);

/* Reads [metrics] of the app's config (after its registry exists): sets durations, and
 * starts the endpoint when `listen` is set (metrics_config.c); *out stays NULL when not. */
int imi_metrics_http_from_config(imi_app *app, imi_metrics_http **out);

#endif
