/* The conformance suites: one per kind, written once, run against every driver.
 *
 * A case is a plain function over an imi_conf_t; it opens what it needs from t->app
 * (whose config has the driver under test in the [KIND] section) and checks with
 * CONF_CHECK, which records the first failure and returns from the case. The same
 * cases run under Criterion (tests/conformance/runner.c, one CTest test per driver) and
 * from `imi conformance KIND DRIVER|PATH.so`.
 */
#ifndef IMI_TESTS_CONFORMANCE_H
#define IMI_TESTS_CONFORMANCE_H

#include <stdbool.h>
#include <stdio.h>
#include "iminfra/iminfra.h"

typedef struct imi_conf_t {
    imi_app *app;             /* opened from the config under test */
    const char *kind;
    char driver[256];         /* the driver name in [KIND] (outlives the app) */
    char unique[48];          /* a string unique to this run and case: use it in keys/topics */
    bool failed;
    char message[1024];
} imi_conf_t;

typedef void (*imi_conf_fn)(imi_conf_t *t);

typedef struct imi_conf_case {
    const char *name;
    imi_conf_fn fn;
} imi_conf_case;

typedef struct imi_conf_suite {
    const char *kind;
    const imi_conf_case *cases;
    size_t n_cases;
} imi_conf_suite;

/* Suites, one per kind, defined in <kind>_suite.c. */
const imi_conf_suite *imi_conf_suite_find(const char *kind);

/* Opens the app, runs one case, closes the app. Returns true when the case passed;
 * t->message says why not. */
bool imi_conf_run_case(const imi_conf_suite *s, size_t i, imi_config *cfg, imi_conf_t *t);
/* Runs every case whose name contains filter (NULL: all), printing "ok NAME" or
 * "FAIL NAME: why" per case and a closing "N passed, M failed". Takes ownership of cfg.
 * Returns the number of failures. */
int imi_conf_run_all(const char *kind, imi_config *cfg, const char *filter, FILE *out);

void imi_conf_fail(imi_conf_t *t, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Records a failure and returns from the case when cond is false. */
#define CONF_CHECK(t, cond, ...)                                             \
    do {                                                                     \
        if (!(cond)) {                                                       \
            imi_conf_fail((t), __FILE__, __LINE__, __VA_ARGS__);             \
            return;                                                          \
        }                                                                    \
    } while (0)

/* Checks that expr returns want; the message names both codes and the error detail. */
#define CONF_CHECK_RC(t, expr, want)                                                   \
    do {                                                                               \
        int conf_rc_ = (expr);                                                         \
        if (conf_rc_ != (want)) {                                                      \
            imi_conf_fail((t), __FILE__, __LINE__, "%s returned %s, expected %s (%s)", \
                          #expr, imi_err_name(conf_rc_), imi_err_name(want),           \
                          imi_error_message());                                        \
            return;                                                                    \
        }                                                                              \
    } while (0)

#define CONF_OK(t, expr) CONF_CHECK_RC(t, expr, IMI_OK)

/* "<unique>:<suffix>" into buf. */
const char *imi_conf_name(const imi_conf_t *t, const char *suffix, char *buf, size_t cap);

#endif
