/* A prefork server: the parent opens an app and its handles, forks, and the child frees
 * what it inherited. The child must not hang (threads it would join are the parent's) and
 * must not release what the parent still holds (worker ids, registrations, locks, the
 * metrics socket). The mem coord store is per process, so the child's copy of it shows
 * what a shared server would have seen the child do.
 *
 * Each child leaves with _exit, as a forked worker does: what an inherited handle left
 * allocated goes with the process, and the leak checker (run at exit) is not asked. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include "iminfra/iminfra.h"

#define CHILD_LIMIT_S 5

/* Exit codes of a child: 0 done, else the step that failed. */
enum { CHILD_OK, CHILD_REOPEN, CHILD_KEY_GONE, CHILD_KEY_CHANGED };

static imi_app *app_of(const char *text)
{
    imi_config *cfg;
    cr_assert_eq(imi_config_parse(text, "fork.ini", ".", &cfg), IMI_OK, "%s",
                 imi_error_message());
    imi_app *app;
    cr_assert_eq(imi_app_open_config(cfg, &app), IMI_OK, "%s", imi_error_message());
    return app;
}

/* Forks; the child runs fn(ud) under an alarm and leaves with its result. */
static pid_t fork_child(int (*fn)(void *ud), void *ud)
{
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        alarm(CHILD_LIMIT_S); /* a hang ends the child with SIGALRM */
        _exit(fn(ud));
    }
    return pid;
}

static void expect_child_ok(pid_t pid)
{
    int st = 0;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(!WIFSIGNALED(st), "the child was killed by signal %d%s", WTERMSIG(st),
              WTERMSIG(st) == SIGALRM ? " (it hung freeing what it inherited)" : "");
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == CHILD_OK, "the child failed at step %d",
              WEXITSTATUS(st));
}

/* In the child: the key as its copy of the store holds it, through a coord handle of a
 * new app (the supported way for a child to use coord). */
static int child_key_unchanged(const char *ini, const char *key, int64_t mod_rev)
{
    imi_config *cfg;
    imi_app *app;
    imi_coord *c;
    if (imi_config_parse(ini, "child.ini", ".", &cfg) || imi_app_open_config(cfg, &app) ||
        imi_coord_open(app, NULL, &c))
        return CHILD_REOPEN;
    imi_buf v = IMI_BUF_INIT;
    imi_coord_meta m = { 0 };
    int rc = imi_coord_get(c, NULL, key, &v, &m);
    imi_buf_free(&v);
    if (rc)
        return CHILD_KEY_GONE;
    return m.mod_rev == mod_rev ? CHILD_OK : CHILD_KEY_CHANGED;
}

static int64_t mod_rev_of(imi_coord *c, const char *key)
{
    imi_buf v = IMI_BUF_INIT;
    imi_coord_meta m = { 0 };
    cr_assert_eq(imi_coord_get(c, NULL, key, &v, &m), IMI_OK, "%s: %s", key,
                 imi_error_message());
    imi_buf_free(&v);
    return m.mod_rev;
}

/* ---- uid ------------------------------------------------------------------------------ */

static const char uid_ini[] = "[service]\nname = svc\n[coord]\ndriver = mem\n"
                              "[uid]\nepoch = 2020-01-01\n";

typedef struct uid_case {
    imi_app *app;
    imi_uid *u;
    char key[64];
    int64_t rev;
} uid_case;

static int child_frees_uid(void *ud)
{
    uid_case *t = ud;
    imi_uid_free(t->u);
    imi_app_free(t->app);
    return child_key_unchanged(uid_ini, t->key, t->rev);
}

Test(fork_free, uid_child_frees_without_giving_back_the_parents_worker_id)
{
    uid_case t = { .app = app_of(uid_ini) };
    cr_assert_eq(imi_uid_open(t.app, NULL, &t.u), IMI_OK, "%s", imi_error_message());
    imi_coord *look; /* the same mem store as the generator's own handle */
    cr_assert_eq(imi_coord_open(t.app, NULL, &look), IMI_OK, "%s", imi_error_message());
    int w = imi_uid_worker(t.u);
    cr_assert_geq(w, 0);
    snprintf(t.key, sizeof t.key, "ids/uid-svc/%d", w);
    t.rev = mod_rev_of(look, t.key);

    expect_child_ok(fork_child(child_frees_uid, &t));

    int64_t a, b;
    cr_assert_eq(imi_uid_next(t.u, &a), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(imi_uid_next(t.u, &b), IMI_OK, "%s", imi_error_message());
    cr_assert_gt(b, a);
    cr_assert_eq(imi_uid_worker(t.u), w);
    cr_assert_eq(mod_rev_of(look, t.key), t.rev, "the worker id key was rewritten");
    imi_uid_free(t.u);
    imi_coord_free(look);
    imi_app_free(t.app);
}

/* ---- metrics -------------------------------------------------------------------------- */

/* The status line of GET /metrics on 127.0.0.1:port, "" when nothing answered. */
static void http_status(int port, char *line, size_t cap)
{
    line[0] = '\0';
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = { 5, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    static const char req[] = "GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n";
    ssize_t n = 0;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        write(fd, req, sizeof req - 1) == (ssize_t)(sizeof req - 1))
        n = read(fd, line, cap - 1);
    close(fd);
    line[n > 0 ? n : 0] = '\0';
    line[strcspn(line, "\r\n")] = '\0';
}

static int child_frees_app(void *ud)
{
    imi_app_free(ud);
    return CHILD_OK;
}

Test(fork_free, metrics_child_frees_the_app_and_the_parent_still_serves)
{
    imi_app *app = app_of("[metrics]\nlisten = 127.0.0.1:0\n");
    int port = imi_metrics_port(app);
    cr_assert_gt(port, 0, "no port: %s", imi_error_message());
    char line[256];
    http_status(port, line, sizeof line);
    cr_assert(strstr(line, " 200 "), "before the fork: '%s'", line);

    expect_child_ok(fork_child(child_frees_app, app));

    http_status(port, line, sizeof line);
    cr_assert(strstr(line, " 200 "), "after the child freed its app: '%s'", line);
    imi_app_free(app);
}

/* ---- coord ---------------------------------------------------------------------------- */

static const char coord_ini[] = "[coord]\ndriver = mem\n";

typedef struct coord_case {
    imi_app *app;
    imi_coord *c;
    imi_coord_registration *reg;
    imi_coord_lock *lock;
    imi_coord_watch *watch;
    char reg_key[160];
    int64_t reg_rev, lock_rev;
} coord_case;

static int child_frees_coord(void *ud)
{
    coord_case *t = ud;
    if (imi_coord_watch_cancel(t->watch) || imi_coord_deregister(t->reg, NULL) ||
        imi_coord_unlock(t->lock, NULL))
        return 9;
    imi_coord_free(t->c);
    imi_app_free(t->app);
    int rc = child_key_unchanged(coord_ini, t->reg_key, t->reg_rev);
    return rc ? rc : child_key_unchanged(coord_ini, "locks/job", t->lock_rev);
}

static void on_event(void *ud, const imi_coord_event *ev) { (void)ud; (void)ev; }

static int count_instance(void *ud, const char *instance, const char *addr)
{
    (void)instance; (void)addr;
    ++*(int *)ud;
    return 0;
}

Test(fork_free, coord_child_frees_registration_lock_and_handle_of_the_parent)
{
    coord_case t = { .app = app_of(coord_ini) };
    cr_assert_eq(imi_coord_open(t.app, NULL, &t.c), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(imi_coord_register(t.c, NULL, "web", "w1", "10.0.0.1:80", 0, &t.reg),
                 IMI_OK, "%s", imi_error_message());
    cr_assert_eq(imi_coord_lock_try(t.c, NULL, "locks/job", 0, 0, &t.lock), IMI_OK, "%s",
                 imi_error_message());
    cr_assert_eq(imi_coord_watch_start(t.c, NULL, "cfg/", IMI_COORD_WATCH_PREFIX, 0, on_event,
                                       NULL, &t.watch), IMI_OK, "%s", imi_error_message());
    snprintf(t.reg_key, sizeof t.reg_key, "services/web/%s",
             imi_coord_registration_instance(t.reg));
    t.reg_rev = mod_rev_of(t.c, t.reg_key);
    t.lock_rev = mod_rev_of(t.c, "locks/job");

    expect_child_ok(fork_child(child_frees_coord, &t));

    int n = 0;
    cr_assert_eq(imi_coord_discover(t.c, NULL, "web", count_instance, &n), IMI_OK, "%s",
                 imi_error_message());
    cr_assert_eq(n, 1, "the parent's registration is gone");
    cr_assert_eq(imi_coord_lock_held(t.lock, NULL), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(mod_rev_of(t.c, t.reg_key), t.reg_rev);
    cr_assert_eq(imi_coord_watch_cancel(t.watch), IMI_OK);
    cr_assert_eq(imi_coord_deregister(t.reg, NULL), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(imi_coord_unlock(t.lock, NULL), IMI_OK, "%s", imi_error_message());
    imi_coord_free(t.c);
    imi_app_free(t.app);
}
