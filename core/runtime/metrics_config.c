/* [metrics]: durations = true|false (time calls, default true); duration_sample = N (time
 * one call in N per thread, a power of two from 1 to 1024, default 16: two clock reads
 * cost ~100 ns on some VMs); listen = HOST:PORT (or [V6]:PORT): checked, then the endpoint
 * started. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "iminfra/error.h"
#include "metrics.h"
#include "metrics_http.h"

int imi_metrics_http_from_config(imi_app *app, imi_metrics_http **out)
{
    *out = NULL;
    const imi_config *cfg = imi_app_config(app);
    static const char *const keys[] = { "listen", "durations", "duration_sample", NULL };
    int rc = imi_config_check_keys(cfg, "metrics", keys, NULL);
    if (rc)
        return rc;
    int timed = 1;
    if ((rc = imi_config_get_bool(cfg, "metrics", "durations", &timed)))
        return rc;
    int64_t sample = IMI_METRIC_SAMPLE_DEFAULT;
    if ((rc = imi_config_get_int(cfg, "metrics", "duration_sample", &sample)))
        return rc;
    if (sample < 1 || sample > 1024 || (sample & (sample - 1))) {
        int sline = 0;
        imi_config_get(cfg, "metrics", "duration_sample", &sline);
        return imi_error_set(IMI_ECONFIG, 0, "%s:%d: [metrics] duration_sample = %lld must be a "
                             "power of two from 1 to 1024", imi_config_name(cfg), sline,
                             (long long)sample);
    }
    imi_metrics_reg_set_timed(imi_app_metrics(app), timed, (unsigned)sample);
    int line = 0;
    const char *v = imi_config_get(cfg, "metrics", "listen", &line);
    if (!v || !*v)
        return IMI_OK;
    char where[300];
    snprintf(where, sizeof where, "%s:%d", imi_config_name(cfg), line);
    char host[64];
    const char *colon = strrchr(v, ':');
    const char *h = v;
    size_t hlen = colon ? (size_t)(colon - v) : 0;
    if (*v == '[' && colon && colon > v && colon[-1] == ']') { /* [::1]:9464 */
        h = v + 1;
        hlen -= 2;
    }
    if (!colon || !hlen || hlen >= sizeof host)
        return imi_error_set(IMI_ECONFIG, 0, "%s: [metrics] listen = '%s' is not HOST:PORT "
                             "(e.g. 127.0.0.1:9464)", where, v);
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    char *end = NULL;
    long port = strtol(colon + 1, &end, 10);
    if (!colon[1] || *end || port < 0 || port > 65535)
        return imi_error_set(IMI_ECONFIG, 0, "%s: [metrics] listen = '%s': the port must be "
                             "0-65535", where, v);
    return imi_metrics_http_start(app, host, colon + 1, where, out);
}
