/* imi_app: one service's view of im-infra: its config, its root logger and the drivers
 * it has loaded. Components (imi_cache_open, imi_mq_open, ...) open from an app.
 *
 * Threads: open and close an app on one thread; while it is open, its config, logger and
 * drivers may be used from many threads, and components opened from many.
 *
 * fork: a child may only free what it inherited (the app, component handles, their locks,
 * registrations, ids, watches and subscriptions, uid generators). There a free releases
 * nothing outside the process and joins nothing: the parent keeps its keys, leases,
 * sockets and /metrics port, and memory that threads of the parent may have been using
 * is left to the process (a forked worker leaves with _exit or exec). Using an inherited
 * handle for anything else is not supported: the child opens its own app.
 */
#ifndef IMINFRA_APP_H
#define IMINFRA_APP_H

#include "iminfra/config.h"
#include "iminfra/clog.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct imi_app imi_app;

/* Loads the config file (NULL: $IMI_CONFIG, then config/default.ini) and opens the
 * logger of [log]. On failure the error detail says what and where. The first open sets
 * SIGPIPE to ignored if the process left it at its default action (a server closing a
 * connection must fail a call, not end the process); a handler of the process's own
 * stays. */
int imi_app_open(const char *config_path, imi_app **out);
/* The same over a config already loaded; the app takes ownership of cfg. */
int imi_app_open_config(imi_config *cfg, imi_app **out);
void imi_app_free(imi_app *app);

const imi_config *imi_app_config(const imi_app *app);
imi_logger *imi_app_logger(imi_app *app);
const char *imi_app_service(const imi_app *app);   /* [service] name, "" when unset */

/* The default config path: $IMI_CONFIG, else "config/default.ini". */
const char *imi_default_config_path(void);
const char *imi_version(void);

#ifdef __cplusplus
}
#endif
#endif
