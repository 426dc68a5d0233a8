/* uid: snowflake layout, sequence overflow and clock steps under a fake clock, worker-id
 * sources (lost, unconfirmed, taken again), threads, forked processes over etcd, config,
 * and UUID v4 / v7. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include "iminfra/iminfra.h"
#include "iminfra/coord.h"
#include "iminfra/uid.h"
#include "imi_test.h"

typedef struct fclock {
    int64_t now;
    int waits;
    int64_t last_wait;
} fclock;

static int64_t f_now(void *ud) { return ((fclock *)ud)->now; }
static void f_wait(void *ud, int64_t until)
{
    fclock *f = ud;
    f->waits++;
    f->last_wait = until;
    if (f->now < until)
        f->now = until;
}

#define EPOCH 1704067200000LL

static imi_uid *fake_uid(fclock *f, int worker, int64_t max_back)
{
    static imi_uid_clock clk;
    clk = (imi_uid_clock){ f_now, f_wait, f };
    imi_uid_options o = { .epoch_ms = EPOCH, .max_clock_back_ms = max_back, .clock = &clk };
    imi_uid *u;
    cr_assert_eq(imi_uid_new(&o, worker, &u), IMI_OK, "%s", imi_error_message());
    return u;
}

Test(uid, layout_and_parse)
{
    fclock f = { .now = EPOCH + 123456 };
    imi_uid *u = fake_uid(&f, 837, 0);
    int64_t id;
    cr_assert_eq(imi_uid_next(u, &id), IMI_OK);
    cr_assert_eq(id, (123456LL << 22) | (837LL << 12) | 0);
    cr_assert_eq(imi_uid_next(u, &id), IMI_OK);
    imi_uid_parts p;
    cr_assert_eq(imi_uid_parse(u, id, &p), IMI_OK);
    cr_assert_eq(p.unix_ms, EPOCH + 123456);
    cr_assert_eq(p.worker, 837);
    cr_assert_eq(p.sequence, 1);
    cr_assert_eq(imi_uid_parse(u, -5, &p), IMI_EINVALID);
    cr_assert_eq(imi_uid_worker(u), 837);
    imi_uid_free(u);
    cr_assert_eq(imi_uid_new(NULL, 1024, &u), IMI_EINVALID);
    cr_assert_eq(imi_uid_new(NULL, -1, &u), IMI_EINVALID);
}

Test(uid, sequence_overflow_waits_for_the_next_ms)
{
    fclock f = { .now = EPOCH + 1000 };
    imi_uid *u = fake_uid(&f, 1, 0);
    int64_t id, prev = -1;
    for (int i = 0; i < 4096; i++) {
        cr_assert_eq(imi_uid_next(u, &id), IMI_OK);
        cr_assert_gt(id, prev);
        prev = id;
    }
    cr_assert_eq(f.waits, 0);
    imi_uid_parts p;
    imi_uid_parse(u, id, &p);
    cr_assert_eq(p.sequence, 4095);
    cr_assert_eq(imi_uid_next(u, &id), IMI_OK);
    cr_assert_eq(f.waits, 1, "the 4097th id of a ms waits");
    cr_assert_eq(f.last_wait, EPOCH + 1001);
    imi_uid_parse(u, id, &p);
    cr_assert_eq(p.unix_ms, EPOCH + 1001);
    cr_assert_eq(p.sequence, 0);
    cr_assert_gt(id, prev);
    imi_uid_free(u);
}

Test(uid, clock_back_is_waited_out_up_to_the_bound)
{
    fclock f = { .now = EPOCH + 50000 };
    imi_uid *u = fake_uid(&f, 3, 100);
    int64_t a, b;
    cr_assert_eq(imi_uid_next(u, &a), IMI_OK);
    f.now -= 80;  /* within the bound: waited out */
    cr_assert_eq(imi_uid_next(u, &b), IMI_OK);
    cr_assert_eq(f.waits, 1);
    cr_assert_eq(f.last_wait, EPOCH + 50000);
    cr_assert_gt(b, a);
    f.now -= 500;  /* past it: refused, nothing repeated */
    int64_t c = 0;
    cr_assert_eq(imi_uid_next(u, &c), IMI_EUNAVAILABLE);
    cr_assert(strstr(imi_error_message(), "stepped back 500 ms"), "%s", imi_error_message());
    cr_assert_eq(c, 0);
    f.now += 501;
    cr_assert_eq(imi_uid_next(u, &c), IMI_OK);
    cr_assert_gt(c, b);
    imi_uid_free(u);
}

/* ---- worker-id sources ------------------------------------------------------------------ */

typedef struct fsource {
    atomic_int next_worker;
    atomic_int check_rc;
    atomic_int acquires, releases, checks;
    atomic_int fail_acquire;
} fsource;

static int fs_acquire(void *ud, int *w)
{
    fsource *s = ud;
    if (atomic_load(&s->fail_acquire))
        return imi_error_set(IMI_EUNAVAILABLE, 0, "coord down");
    atomic_fetch_add(&s->acquires, 1);
    *w = atomic_fetch_add(&s->next_worker, 1);
    return IMI_OK;
}
static int fs_check(void *ud)
{
    fsource *s = ud;
    atomic_fetch_add(&s->checks, 1);
    return atomic_load(&s->check_rc);
}
static void fs_release(void *ud) { atomic_fetch_add(&((fsource *)ud)->releases, 1); }

Test(uid, lost_worker_refuses_then_takes_a_new_one)
{
    fsource s = { .next_worker = 5 };
    imi_uid_source src = { fs_acquire, fs_check, fs_release, &s, .check_every_ms = 10,
                           .valid_for_ms = 60000 };
    imi_uid *u;
    cr_assert_eq(imi_uid_new_with_source(NULL, &src, &u), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(imi_uid_worker(u), 5);
    int64_t id;
    cr_assert_eq(imi_uid_next(u, &id), IMI_OK);
    atomic_store(&s.fail_acquire, 1);
    atomic_store(&s.check_rc, IMI_ECONFLICT);   /* the backend says: not yours any more */
    EVENTUALLY(imi_uid_worker(u) == -1);
    cr_assert_eq(imi_uid_next(u, &id), IMI_EUNAVAILABLE);
    EVENTUALLY(atomic_load(&s.releases) == 1);
    atomic_store(&s.check_rc, IMI_OK);
    atomic_store(&s.fail_acquire, 0);
    EVENTUALLY(imi_uid_worker(u) == 6);
    cr_assert_eq(imi_uid_next(u, &id), IMI_OK);
    imi_uid_parts p;
    imi_uid_parse(u, id, &p);
    cr_assert_eq(p.worker, 6);
    /* a source can report a loss itself */
    imi_uid_worker_lost(u);
    cr_assert_eq(imi_uid_next(u, &id), IMI_EUNAVAILABLE);
    EVENTUALLY(imi_uid_worker(u) == 7);
    imi_uid_free(u);
    cr_assert_eq(atomic_load(&s.acquires), 3);
    cr_assert_eq(atomic_load(&s.releases), 3, "every id taken is given back");
}

Test(uid, unconfirmed_worker_stops_issuing)
{
    fsource s = { .next_worker = 1 };
    imi_uid_source src = { fs_acquire, fs_check, fs_release, &s, .check_every_ms = 10,
                           .valid_for_ms = 60 };
    imi_uid *u;
    cr_assert_eq(imi_uid_new_with_source(NULL, &src, &u), IMI_OK);
    int64_t id;
    atomic_store(&s.check_rc, IMI_EUNAVAILABLE);  /* cannot tell: unconfirmed */
    EVENTUALLY(imi_uid_next(u, &id) == IMI_EUNAVAILABLE);
    cr_assert(strstr(imi_error_message(), "not confirmed"), "%s", imi_error_message());
    cr_assert_eq(imi_uid_worker(u), 1, "not lost, only unconfirmed");
    atomic_store(&s.check_rc, IMI_OK);
    EVENTUALLY(imi_uid_next(u, &id) == IMI_OK);
    imi_uid_free(u);
}

Test(uid, failed_first_take_fails_the_open)
{
    fsource s = { .fail_acquire = 1 };
    imi_uid_source src = { fs_acquire, fs_check, fs_release, &s, .check_every_ms = 10,
                           .valid_for_ms = 60 };
    imi_uid *u = NULL;
    cr_assert_eq(imi_uid_new_with_source(NULL, &src, &u), IMI_EUNAVAILABLE);
    cr_assert_null(u);
}

/* ---- uniqueness --------------------------------------------------------------------------- */

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

#define PER_THREAD 50000
typedef struct gen { imi_uid *u; int64_t *out; int bad; } gen;

static void *gen_run(void *arg)
{
    gen *g = arg;
    for (int i = 0; i < PER_THREAD; i++) {
        if (imi_uid_next(g->u, &g->out[i]) || (i && g->out[i] <= g->out[i - 1]))
            g->bad++;
    }
    return NULL;
}

Test(uid, unique_and_increasing_across_threads)
{
    imi_uid *u;
    cr_assert_eq(imi_uid_new(NULL, 9, &u), IMI_OK);
    int64_t *all = malloc(sizeof *all * PER_THREAD * 4);
    gen g[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        g[i] = (gen){ u, all + i * PER_THREAD, 0 };
        pthread_create(&t[i], NULL, gen_run, &g[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(g[i].bad, 0, "thread %d saw a failure or a decrease", i);
    }
    qsort(all, PER_THREAD * 4, sizeof *all, cmp64);
    for (int i = 1; i < PER_THREAD * 4; i++)
        cr_assert_neq(all[i], all[i - 1], "duplicate id %lld", (long long)all[i]);
    imi_uid_parts p;
    imi_uid_parse(u, all[0], &p);
    cr_assert(llabs(p.unix_ms - imi_now_real_ns() / 1000000) < 60000);
    free(all);
    imi_uid_free(u);
}

Test(uid, forked_copy_refuses)
{
    imi_uid *u;
    cr_assert_eq(imi_uid_new(NULL, 2, &u), IMI_OK);
    int64_t id;
    cr_assert_eq(imi_uid_next(u, &id), IMI_OK);
    pid_t pid = fork();
    if (pid == 0)
        _exit(imi_uid_next(u, &id) == IMI_EUNAVAILABLE ? 0 : 1);
    int st;
    waitpid(pid, &st, 0);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child issued from a copy");
    cr_assert_eq(imi_uid_next(u, &id), IMI_OK, "the parent still does");
    imi_uid_free(u);
}

/* ---- config ------------------------------------------------------------------------------ */

static imi_app *app_of(const char *text)
{
    imi_config *cfg;
    cr_assert_eq(imi_config_parse(text, "u.ini", ".", &cfg), IMI_OK, "%s", imi_error_message());
    imi_app *app;
    cr_assert_eq(imi_app_open_config(cfg, &app), IMI_OK, "%s", imi_error_message());
    return app;
}

Test(uid, config_fixed_worker_and_errors)
{
    imi_app *app = app_of("[log]\nlevel = off\n[uid]\nepoch = 2020-01-01\nworker_id = 12\n"
                          "max_clock_back = 250ms\n");
    imi_uid *u;
    cr_assert_eq(imi_uid_open(app, NULL, &u), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(imi_uid_epoch(u), 1577836800000LL);
    cr_assert_eq(imi_uid_worker(u), 12);
    int64_t id;
    cr_assert_eq(imi_uid_next(u, &id), IMI_OK);
    imi_uid_free(u);
    imi_app_free(app);

    const char *bad[][2] = {
        { "[uid]\nworker = 3\n", "u.ini:2: unknown key 'worker'" },
        { "[uid]\n\nworker_id = 1024\n", "u.ini:3: worker_id" },
        { "[uid]\nepoch = yesterday\nworker_id = 1\n", "u.ini:2: epoch" },
        { "[uid]\nepoch = 2999-01-01\nworker_id = 1\n", "u.ini:2: epoch" },
        { "[uid]\nmax_clock_back = -1\nworker_id = 1\n", "u.ini:2: max_clock_back" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        app = app_of(bad[i][0]);
        cr_assert_eq(imi_uid_open(app, NULL, &u), IMI_ECONFIG, "%s", bad[i][0]);
        cr_assert(strstr(imi_error_message(), bad[i][1]), "'%s' not in '%s'", bad[i][1],
                  imi_error_message());
        imi_app_free(app);
    }
}

Test(uid, worker_from_the_mem_coord)
{
    imi_app *app = app_of("[log]\nlevel = off\n[service]\nname = svc\n[coord]\ndriver = mem\n"
                          "[uid]\n");
    imi_uid *a, *b;
    cr_assert_eq(imi_uid_open(app, NULL, &a), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(imi_uid_open(app, NULL, &b), IMI_OK, "%s", imi_error_message());
    int wa = imi_uid_worker(a), wb = imi_uid_worker(b);
    cr_assert(wa >= 0 && wb >= 0);
    int64_t x, y;
    cr_assert_eq(imi_uid_next(a, &x), IMI_OK);
    cr_assert_eq(imi_uid_next(b, &y), IMI_OK);
    cr_assert_neq(x, y);
    imi_uid_free(a);
    imi_uid_free(b);
    imi_app_free(app);
}

/* ---- forked processes sharing etcd -------------------------------------------------------- */

#define PROCS 4
#define PER_PROC 20000

static const char *etcd_endpoint(void)
{
    const char *e = getenv("IMI_ETCD_ENDPOINTS");
    if (!e || !*e)
        e = getenv("IMI_ETCD_ENDPOINT");
    return e && *e ? e : "http://127.0.0.1:12379";
}

static imi_app *etcd_app(const char *prefix)
{
    char text[512];
    snprintf(text, sizeof text, "[log]\nlevel = off\n[service]\nname = uidtest\n"
             "[drivers]\npath = %s/drivers\n[coord]\ndriver = etcd\nendpoints = %s\n"
             "prefix = %s\nlease_ttl = 5s\ntimeout = 3s\n[uid]\n",
             IMI_TEST_BUILD_DIR, etcd_endpoint(), prefix);
    imi_config *cfg;
    if (imi_config_parse(text, "etcd.ini", ".", &cfg))
        return NULL;
    imi_app *app;
    return imi_app_open_config(cfg, &app) ? NULL : app;
}

Test(uid, unique_across_processes_sharing_etcd, .timeout = 60)
{
    char prefix[64];
    snprintf(prefix, sizeof prefix, "imi-test-uid-%d-%lld/", (int)getpid(),
             (long long)(imi_now_real_ns() % 1000000000));
    imi_app *app = etcd_app(prefix);
    cr_assert_not_null(app, "%s", imi_error_message());
    imi_coord *probe;
    imi_ctx *ctx = imi_ctx_new(2000);
    /* tools/test.sh starts etcd; without it this test fails rather than pass unseen. */
    int rc = imi_coord_open(app, NULL, &probe);
    if (!rc)
        rc = imi_coord_ping(probe, ctx);
    cr_assert_eq(rc, IMI_OK, "etcd not reachable at %s (start it: tools/services.sh start etcd): %s",
                 etcd_endpoint(), imi_error_message());
    imi_ctx_free(ctx);
    int fds[PROCS][2];
    pid_t pids[PROCS];
    /* Children keep their worker id until the parent has every child's ids (EOF on
     * hold), so that all of them hold one at the same time. */
    int hold[2];
    cr_assert_eq(pipe(hold), 0);
    for (int i = 0; i < PROCS; i++) {
        cr_assert_eq(pipe(fds[i]), 0);
        pids[i] = fork();
        if (pids[i] == 0) {
            close(fds[i][0]);
            close(hold[1]);
            imi_app *capp = etcd_app(prefix);
            imi_uid *u;
            if (!capp || imi_uid_open(capp, NULL, &u))
                _exit(2);
            int64_t *ids = malloc(sizeof *ids * PER_PROC);
            for (int k = 0; k < PER_PROC; k++)
                if (imi_uid_next(u, &ids[k]))
                    _exit(3);
            size_t len = sizeof *ids * PER_PROC;
            for (size_t off = 0; off < len;) {
                ssize_t n = write(fds[i][1], (char *)ids + off, len - off);
                if (n <= 0)
                    _exit(4);
                off += (size_t)n;
            }
            char c;
            while (read(hold[0], &c, 1) > 0)
                ;
            imi_uid_free(u);
            imi_app_free(capp);
            _exit(0);
        }
        close(fds[i][1]);
    }
    int64_t *all = malloc(sizeof *all * PER_PROC * PROCS);
    for (int i = 0; i < PROCS; i++) {
        size_t len = sizeof *all * PER_PROC, off = 0;
        while (off < len) {
            ssize_t n = read(fds[i][0], (char *)(all + i * PER_PROC) + off, len - off);
            if (n <= 0)
                break;
            off += (size_t)n;
        }
        close(fds[i][0]);
        cr_assert_eq(off, len, "child %d sent %zu of %zu bytes", i, off, len);
    }
    close(hold[0]);
    close(hold[1]);
    for (int i = 0; i < PROCS; i++) {
        int st;
        waitpid(pids[i], &st, 0);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %d failed (%d)", i,
                  WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    }
    int workers[PROCS], nw = 0;
    qsort(all, PER_PROC * PROCS, sizeof *all, cmp64);
    for (int i = 0; i < PER_PROC * PROCS; i++) {
        cr_assert(i == 0 || all[i] != all[i - 1], "duplicate id %lld", (long long)all[i]);
        int w = (int)((all[i] >> 12) & 1023), seen = 0;
        for (int k = 0; k < nw; k++)
            seen |= workers[k] == w;
        if (!seen && nw < PROCS)
            workers[nw++] = w;
        else if (!seen)
            cr_assert_fail("more workers than processes");
    }
    cr_assert_eq(nw, PROCS, "each process held its own worker id");
    free(all);
    ctx = imi_ctx_new(3000);
    imi_coord_del_prefix(probe, ctx, "", NULL);
    imi_ctx_free(ctx);
    imi_coord_free(probe);
    imi_app_free(app);
}

/* ---- UUIDs ----------------------------------------------------------------------------- */

static int cmp_uuid(const void *a, const void *b) { return memcmp(a, b, 16); }

Test(uid, uuid_v4_and_v7)
{
    imi_uuid a = imi_uuid_v4();
    cr_assert_eq(imi_uuid_version(&a), 4);
    cr_assert_eq(a.b[8] & 0xc0, 0x80, "RFC 9562 variant");
    char s[IMI_UUID_STR_LEN + 1];
    imi_uuid_format(&a, s);
    cr_assert_eq(strlen(s), 36);
    cr_assert_eq(s[14], '4');
    imi_uuid back;
    cr_assert_eq(imi_uuid_parse(s, &back), IMI_OK);
    cr_assert_eq(memcmp(&a, &back, 16), 0);
    cr_assert_eq(imi_uuid_v7_unix_ms(&a), -1);
    cr_assert_eq(imi_uuid_parse("not-a-uuid", &back), IMI_EINVALID);
    cr_assert_eq(imi_uuid_parse("0123456789abcdef0123456789abcdef0123", &back), IMI_EINVALID);
    cr_assert_eq(imi_uuid_parse("0123456X-89ab-cdef-0123-456789abcdef", &back), IMI_EINVALID);
    cr_assert_eq(imi_uuid_parse("0123456A-89AB-CDEF-0123-456789ABCDEF", &back), IMI_OK);

    int64_t before = imi_now_real_ns() / 1000000;
    imi_uuid prev = imi_uuid_v7();
    for (int i = 0; i < 20000; i++) {
        imi_uuid v = imi_uuid_v7();
        cr_assert_eq(imi_uuid_version(&v), 7);
        cr_assert_eq(v.b[8] & 0xc0, 0x80);
        cr_assert_gt(memcmp(&v, &prev, 8), 0, "v7 ids of one process increase");
        prev = v;
    }
    int64_t ms = imi_uuid_v7_unix_ms(&prev);
    cr_assert(ms >= before && ms <= imi_now_real_ns() / 1000000 + 50, "v7 time %lld", (long long)ms);

    /* 100k v4s: no two alike */
    enum { N = 100000 };
    imi_uuid *all = malloc(sizeof *all * N);
    for (int i = 0; i < N; i++)
        all[i] = imi_uuid_v4();
    qsort(all, N, sizeof *all, cmp_uuid);
    for (int i = 1; i < N; i++)
        cr_assert_neq(memcmp(&all[i], &all[i - 1], 16), 0, "duplicate v4");
    free(all);
}
