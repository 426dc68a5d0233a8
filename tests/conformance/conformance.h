/* The conformance suites: one per kind, written once, run against every driver.
 *
 * A case is a plain function over an imi_conf_t; it opens what it needs from t->app
 * (whose config has the driver under test in the [KIND] section) and checks with
 * CONF_CHECK, which records the first failure and returns from the case; handles it
 * opens with imi_conf_keep are freed by the runner if it returns early. The cases run
 * from `imi conformance KIND DRIVER|PATH.so` (CTest runs it once per driver), each in
 * its own child process (isolate.c).
 */
#ifndef IMI_TESTS_CONFORMANCE_H
#define IMI_TESTS_CONFORMANCE_H

#include <stdbool.h>
#include <stdio.h>
#include "iminfra/iminfra.h"

#define IMI_CONF_MAX_HANDLES 16

typedef struct imi_conf_t {
    imi_app *app;             /* opened from the config under test */
    const char *kind;
    char driver[256];         /* the driver name in [KIND] (outlives the app) */
    char unique[72];          /* a string unique to this run and case: use it in keys/topics */
    bool failed;
    char message[1024];
    /* Handles the case opened (imi_conf_keep) and has not freed yet: the runner frees
     * them after the case, so a check that fails and returns early leaks nothing. */
    struct {
        void (*free)(void *);
        void *handle;
    } kept[IMI_CONF_MAX_HANDLES];
    size_t n_kept;
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
 * t->message says why not. Runs in the calling process: see imi_conf_run_all for the
 * isolated run. Takes ownership of cfg. */
bool imi_conf_run_case(const imi_conf_suite *s, size_t i, imi_config *cfg, imi_conf_t *t);

#define IMI_CONF_MSG_MAX 1024
#define IMI_CONF_DEFAULT_TIMEOUT_S 60

/* One run of a suite: what `imi conformance` takes on its command line. */
typedef struct imi_conf_run {
    const char *kind;
    const char *driver;       /* as the user named it (a name or a path): reports only */
    const char *only_case;    /* run this case alone (exact name); NULL: all */
    int timeout_s;            /* per case; 0: IMI_CONF_DEFAULT_TIMEOUT_S */
    const char *junit_path;   /* write JUnit XML there; NULL: none */
    FILE *out;                /* "ok NAME" / "FAIL NAME why" and the closing line */
} imi_conf_run;

/* Runs the cases, each in its own child process with run->timeout_s: a case that crashes
 * fails with "killed by SIGSEGV", one that hangs with "timed out after N s" (its whole
 * process group is killed), and the others still run. Closes with "N passed, M failed".
 * cfg (whose [KIND] names the driver) is not taken. Returns the number of failed cases, or
 * -1 when nothing could run (unknown kind or case, unwritable junit file: said on out). */
int imi_conf_run_all(const imi_conf_run *run, const imi_config *cfg);

/* The work of one child: fills msg (cap bytes) and returns true on success. */
typedef bool (*imi_conf_work_fn)(void *arg, char *msg, size_t cap);
/* Runs fn(arg) in a child process, waiting at most timeout_s. Returns true when it
 * passed; msg tells why not (the work's message, the signal, or the timeout). */
bool imi_conf_isolate(imi_conf_work_fn fn, void *arg, int timeout_s, char *msg, size_t cap);

/* One case's outcome, as the JUnit writer needs it. */
typedef struct imi_conf_result {
    const char *name;
    bool passed;
    double seconds;
    char message[IMI_CONF_MSG_MAX];
} imi_conf_result;
/* Writes one testsuite "<kind>.<driver>" with one testcase per result. */
int imi_conf_junit_write(const char *path, const char *kind, const char *driver,
                         const imi_conf_result *r, size_t n);

/* A working config for an in-tree embedded driver named `driver` (cache mem, mq mem,
 * coord mem, db sqlite on a file in a new temporary folder): IMI_OK with *out set, and
 * *tmpdir (cap bytes) naming the folder to remove with imi_conf_default_cleanup (empty
 * when there is none); IMI_ENOTFOUND when the driver has no default. */
int imi_conf_default_config(const char *kind, const char *driver, imi_config **out,
                            char *tmpdir, size_t cap);
void imi_conf_default_cleanup(const char *tmpdir);
/* Checks that cfg's [kind] sets every option the driver's schema marks IMI_OPT_REQUIRED,
 * loading the driver in a child process (so a driver that crashes at load cannot take
 * the caller down). false with msg "needs option(s) a, b" when some are missing, or with
 * the load error. */
bool imi_conf_required_options(const char *kind, const imi_config *cfg, int timeout_s,
                               char *msg, size_t cap);

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

/* Registers a handle the case opened, with the function that frees it. */
void imi_conf_keep(imi_conf_t *t, void (*free_fn)(void *), void *handle);
/* Frees a handle registered with imi_conf_keep now (NULL: nothing). */
void imi_conf_free(imi_conf_t *t, void *handle);

/* "<unique>:<suffix>" into buf. */
const char *imi_conf_name(const imi_conf_t *t, const char *suffix, char *buf, size_t cap);

#endif
