/* imi coord [-c FILE] get|put|del|list|watch KEY [VALUE] | lock KEY --ttl S -- CMD... |
 *           register SERVICE ADDR | services SERVICE */
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "cli.h"

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void catch_signals(void)
{
    struct sigaction sa = { .sa_handler = on_signal };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
    nanosleep(&ts, NULL);
}

/* Seconds as text to ms; -1 when not a positive number. */
static int64_t seconds_ms(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (*end || !(v > 0) || v > 1e9)
        return -1;
    return (int64_t)(v * 1000.0 + 0.5);
}

static int outcome(int rc, const char *op, const char *what)
{
    if (rc == IMI_OK)
        return IMI_EXIT_OK;
    if (rc == IMI_ENOTFOUND) {
        fprintf(stderr, "imi: coord %s %s: not found\n", op, what);
        return IMI_EXIT_NOTFOUND;
    }
    return cli_fail(rc, "coord %s %s", op, what);
}

static int print_kv(void *ud, const char *key, const void *val, size_t len,
                    const imi_coord_meta *meta)
{
    (void)ud;
    (void)meta;
    printf("%s\t%.*s\n", key, (int)len, (const char *)val);
    return 0;
}

static int print_instance(void *ud, const char *instance, const char *addr)
{
    (void)ud;
    printf("%s\t%s\n", instance, addr);
    return 0;
}

typedef struct watch_state {
    atomic_long seen;
} watch_state;

static void print_event(void *ud, const imi_coord_event *ev)
{
    watch_state *w = ud;
    const char *type = ev->type == IMI_COORD_EVENT_PUT      ? "PUT"
                       : ev->type == IMI_COORD_EVENT_DELETE ? "DELETE"
                                                            : "LOST";
    printf("%s %lld %.*s", type, (long long)ev->meta.mod_rev, (int)ev->key_len,
           ev->key ? ev->key : "");
    if (ev->type == IMI_COORD_EVENT_PUT)
        printf("\t%.*s", (int)ev->value_len, (const char *)ev->value);
    putchar('\n');
    fflush(stdout);
    atomic_fetch_add(&w->seen, 1);
}

static int do_watch(imi_coord *c, const char *key, bool prefix, long count, int64_t timeout_ms)
{
    watch_state st = { 0 };
    imi_coord_watch *w = NULL;
    int rc = imi_coord_watch_start(c, NULL, key, prefix ? IMI_COORD_WATCH_PREFIX : 0, 0,
                                   print_event, &st, &w);
    if (rc)
        return outcome(rc, "watch", key);
    catch_signals();
    int64_t end = timeout_ms > 0 ? imi_now_mono_ns() / 1000000 + timeout_ms : 0;
    while (!stop_flag && (count <= 0 || atomic_load(&st.seen) < count) &&
           (!end || imi_now_mono_ns() / 1000000 < end))
        sleep_ms(20);
    imi_coord_watch_cancel(w);
    return IMI_EXIT_OK;
}

static void lock_lost(void *ud)
{
    (void)ud;
    fprintf(stderr, "imi: coord lock: the lock was lost while the command ran\n");
}

static int do_lock(imi_coord *c, const char *key, int64_t ttl_ms, int64_t wait_ms, char **cmd)
{
    imi_ctx *ctx = imi_ctx_new(wait_ms); /* no --wait: no deadline */
    imi_coord_lock *l = NULL;
    int rc = imi_coord_lock_acquire(c, ctx, key, ttl_ms, 0, &l);
    imi_ctx_free(ctx);
    if (rc)
        return outcome(rc, "lock", key);
    imi_coord_lock_on_lost(l, lock_lost, NULL);
    pid_t pid = fork();
    if (pid == 0) {
        execvp(cmd[0], cmd);
        fprintf(stderr, "imi: coord lock: cannot run %s\n", cmd[0]);
        _exit(127);
    }
    int status = 0;
    if (pid < 0)
        status = 127 << 8;
    else
        while (waitpid(pid, &status, 0) < 0)
            ;
    rc = imi_coord_unlock(l, NULL);
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (rc) {
        cli_fail(rc, "coord unlock %s", key);
        return code ? code : IMI_EXIT_ERROR;
    }
    return code;
}

static int do_register(imi_coord *c, const char *service, const char *addr, const char *name,
                       int64_t ttl_ms, int64_t for_ms)
{
    imi_coord_registration *r = NULL;
    int rc = imi_coord_register(c, NULL, service, name, addr, ttl_ms, &r);
    if (rc)
        return outcome(rc, "register", service);
    printf("%s\n", imi_coord_registration_instance(r));
    fflush(stdout);
    catch_signals();
    int64_t end = for_ms > 0 ? imi_now_mono_ns() / 1000000 + for_ms : 0;
    while (!stop_flag && (!end || imi_now_mono_ns() / 1000000 < end))
        sleep_ms(50);
    return outcome(imi_coord_deregister(r, NULL), "deregister", service);
}

static int do_simple(imi_coord *c, const char *op, const char *key, const char *value)
{
    imi_ctx *ctx = imi_ctx_new(0);
    int rc;
    if (!strcmp(op, "get")) {
        imi_buf v = IMI_BUF_INIT;
        if ((rc = imi_coord_get(c, ctx, key, &v, NULL)) == IMI_OK) {
            fwrite(v.data, 1, v.len, stdout);
            fputc('\n', stdout);
        }
        imi_buf_free(&v);
    } else if (!strcmp(op, "put")) {
        rc = imi_coord_put(c, ctx, key, value, strlen(value), NULL);
    } else if (!strcmp(op, "del")) {
        rc = imi_coord_del(c, ctx, key, NULL);
    } else if (!strcmp(op, "list")) {
        rc = imi_coord_list(c, ctx, key, print_kv, NULL, NULL);
    } else {
        rc = imi_coord_discover(c, ctx, key, print_instance, NULL);
    }
    imi_ctx_free(ctx);
    return outcome(rc, op, key);
}

static int run(int argc, char **argv)
{
    int bad = 0;
    const char *path = cli_take_config(&imi_cmd_coord, &argc, argv, &bad);
    const char *instance = cli_take_opt(&argc, argv, "--instance", &bad);
    const char *ttl = cli_take_opt(&argc, argv, "--ttl", &bad);
    const char *wait = cli_take_opt(&argc, argv, "--wait", &bad);
    const char *count = cli_take_opt(&argc, argv, "--count", &bad);
    const char *timeout = cli_take_opt(&argc, argv, "--timeout", &bad);
    const char *name = cli_take_opt(&argc, argv, "--name", &bad);
    const char *for_s = cli_take_opt(&argc, argv, "--for", &bad);
    bool prefix = cli_take_flag(&argc, argv, "--prefix");
    if (bad || argc < 2)
        return cli_usage(&imi_cmd_coord, "needs an operation");
    const char *op = argv[1];
    int64_t ttl_ms = ttl ? seconds_ms(ttl) : 0, wait_ms = wait ? seconds_ms(wait) : 0;
    int64_t timeout_ms = timeout ? seconds_ms(timeout) : 0, for_ms = for_s ? seconds_ms(for_s) : 0;
    if (ttl_ms < 0 || wait_ms < 0 || timeout_ms < 0 || for_ms < 0)
        return cli_usage(&imi_cmd_coord, "--ttl, --wait, --timeout and --for take positive seconds");
    char **cmd = NULL;
    if (!strcmp(op, "lock")) {
        if (argc < 5 || strcmp(argv[3], "--") || !ttl)
            return cli_usage(&imi_cmd_coord, "lock needs KEY --ttl S -- CMD...");
        cmd = &argv[4];
    } else if (!strcmp(op, "put") || !strcmp(op, "register")) {
        if (argc != 4)
            return cli_usage(&imi_cmd_coord, "%s needs two arguments", op);
    } else if (!strcmp(op, "list")) {
        if (argc > 3)
            return cli_usage(&imi_cmd_coord, "list takes at most a PREFIX");
    } else if (!strcmp(op, "get") || !strcmp(op, "del") || !strcmp(op, "watch") ||
               !strcmp(op, "services")) {
        if (argc != 3)
            return cli_usage(&imi_cmd_coord, "%s takes one argument", op);
    } else {
        return cli_usage(&imi_cmd_coord, "unknown operation '%s'", op);
    }
    const char *key = argc > 2 ? argv[2] : "";
    imi_app *app = cli_open_app(path);
    if (!app)
        return IMI_EXIT_ERROR;
    imi_coord *c = NULL;
    int rc = imi_coord_open(app, instance, &c);
    if (!rc)
        cli_note_in_process(app, "coord", instance, imi_coord_driver_name(c));
    int code;
    if (rc)
        code = cli_fail(rc, "coord %s", instance ? instance : "[coord]");
    else if (cmd)
        code = do_lock(c, key, ttl_ms, wait_ms, cmd);
    else if (!strcmp(op, "watch"))
        code = do_watch(c, key, prefix, count ? atol(count) : 0, timeout_ms);
    else if (!strcmp(op, "register"))
        code = do_register(c, key, argv[3], name, ttl_ms, for_ms);
    else
        code = do_simple(c, op, key, argc > 3 ? argv[3] : NULL);
    imi_coord_free(c);
    imi_app_free(app);
    return code;
}

const imi_cmd imi_cmd_coord = {
    .name = "coord",
    .summary = "config center, locks and service registry: get, put, watch, lock, register",
    .usage =
        "usage: imi coord [-c FILE] [--instance NAME] OPERATION ...\n"
        "  get KEY                 print the value (exit 3 when missing)\n"
        "  put KEY VALUE\n"
        "  del KEY                 (exit 3 when missing)\n"
        "  list [PREFIX]           KEY<TAB>VALUE per line, in key order\n"
        "  watch KEY [--prefix] [--count N] [--timeout S]\n"
        "                          print PUT/DELETE REVISION KEY[<TAB>VALUE] per event\n"
        "  lock KEY --ttl S [--wait S] -- CMD...\n"
        "                          run CMD holding the lock; exits with CMD's status\n"
        "  register SERVICE ADDR [--name INSTANCE] [--ttl S] [--for S]\n"
        "                          stay registered until SIGINT/SIGTERM (or --for S)\n"
        "  services SERVICE        INSTANCE<TAB>ADDR of each live instance\n",
    .run = run,
};
