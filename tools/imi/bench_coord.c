/* imi bench coord: get, put, CAS and lock/unlock per second with p50/p99 and CPU per call,
 * each through im-infra and through a baseline in the same run, in alternating rounds:
 * the driver's vtable called on the same handle (what the front-end costs), or for etcd
 * in imi-bench (built with libcurl) the same HTTP calls made straight with libcurl (what
 * the whole of im-infra costs against a hand-written client). On mem, a "get call" row
 * gives ns per get through the front-end against the driver slot, in alternating rounds. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "bench.h"
#include "bench_cmp.h"
#include "bench_coord.h"
#include "cli.h"
#include "coord_internal.h"

#define MAX_THREADS 64

/* ---- through im-infra ---------------------------------------------------------------- */

static void *api_init(void *ud) { return ud; }
static void api_done(void *ts) { (void)ts; }

static int api_get(void *ts, const char *key)
{
    imi_buf v = IMI_BUF_INIT;
    int rc = imi_coord_get(ts, NULL, key, &v, NULL);
    imi_buf_free(&v);
    return rc;
}

static int api_put(void *ts, const char *key, const char *val, size_t len)
{
    return imi_coord_put(ts, NULL, key, val, len, NULL);
}

static int api_cas(void *ts, const char *key, int64_t expect, const char *val, size_t len)
{
    return imi_coord_cas(ts, NULL, key, expect, val, len, NULL);
}

static int api_lock_unlock(void *ts, const char *key)
{
    imi_coord_lock *l = NULL;
    int rc = imi_coord_lock_try(ts, NULL, key, 0, 0, &l);
    return rc ? rc : imi_coord_unlock(l, NULL);
}

static const coord_bench_ops api_ops = {
    .name = "im-infra", .thread_init = api_init, .thread_done = api_done, .get = api_get,
    .put = api_put, .cas = api_cas, .lock_unlock = api_lock_unlock,
};

/* ---- straight into the driver's vtable ----------------------------------------------- */

/* The prefixed key, as the front-end builds it (keys here are short). */
static int slot_key(imi_coord *c, const char *key, char *buf, size_t cap)
{
    size_t n = strlen(key);
    if (c->in.prefix_len + n >= cap)
        n = cap - c->in.prefix_len - 1;
    if (c->in.prefix_len)
        memcpy(buf, c->in.prefix, c->in.prefix_len);
    memcpy(buf + c->in.prefix_len, key, n);
    buf[c->in.prefix_len + n] = '\0';
    return (int)(c->in.prefix_len + n);
}

static int slot_get(void *ts, const char *key)
{
    imi_coord *c = ts;
    char k[256];
    int n = slot_key(c, key, k, sizeof k);
    imi_buf v = IMI_BUF_INIT;
    imi_coord_meta m;
    int rc = VT(c)->get(c->in.state, NULL, k, (size_t)n, &v, &m);
    imi_buf_free(&v);
    return rc;
}

static int slot_put(void *ts, const char *key, const char *val, size_t len)
{
    imi_coord *c = ts;
    char k[256];
    int n = slot_key(c, key, k, sizeof k);
    int64_t rev;
    return VT(c)->put(c->in.state, NULL, k, (size_t)n, val, len, 0, &rev);
}

static int slot_cas(void *ts, const char *key, int64_t expect, const char *val, size_t len)
{
    imi_coord *c = ts;
    char k[256];
    int n = slot_key(c, key, k, sizeof k);
    int64_t rev;
    imi_coord_write w = { .op = IMI_COORD_WRITE_PUT, .val = val, .len = len };
    return VT(c)->cas(c->in.state, NULL, k, (size_t)n, IMI_COORD_CMP_VERSION, expect, &w, &rev);
}

/* What a lock try + unlock amounts to: grant, create-if-absent, delete-if-still-ours
 * (by the revision of the write), revoke. */
static int slot_lock_unlock(void *ts, const char *key)
{
    imi_coord *c = ts;
    char k[256];
    int n = slot_key(c, key, k, sizeof k);
    int64_t lease, granted, rev;
    int rc = VT(c)->lease_grant(c->in.state, NULL, c->lease_ttl_ms, &lease, &granted);
    if (rc)
        return rc;
    imi_coord_write put = { .op = IMI_COORD_WRITE_PUT, .val = c->owner,
                            .len = strlen(c->owner), .lease = lease };
    imi_coord_write del = { .op = IMI_COORD_WRITE_DEL };
    rc = VT(c)->cas(c->in.state, NULL, k, (size_t)n, IMI_COORD_CMP_CREATE_REV, 0, &put, &rev);
    if (!rc)
        rc = VT(c)->cas(c->in.state, NULL, k, (size_t)n, IMI_COORD_CMP_MOD_REV, rev, &del, &rev);
    int rc2 = VT(c)->lease_revoke(c->in.state, NULL, lease);
    return rc ? rc : rc2;
}

static const coord_bench_ops slot_ops = {
    .name = "driver slot", .thread_init = api_init, .thread_done = api_done, .get = slot_get,
    .put = slot_put, .cas = slot_cas, .lock_unlock = slot_lock_unlock,
};

/* ---- the runs ------------------------------------------------------------------------ */

enum { OP_GET, OP_PUT, OP_CAS, OP_LOCK, N_OPS };
static const char *const op_names[N_OPS] = { "get", "put", "cas", "lock+unlock" };

#define ROUNDS 4   /* each side runs in ROUNDS slices, alternating which goes first */

typedef struct result {
    double per_s, p50_us, p99_us;
    double cpu_us;       /* CPU time of the calling thread per call */
} result;

/* Latencies and time of one side of one operation, over its rounds. */
typedef struct acc {
    int64_t *lat;
    long n;
    double secs;
    int64_t cpu_ns;
    long failures;
} acc;

typedef struct job {
    const coord_bench_ops *ops;
    void *ud;
    int op, thread, round;
    long n;
    const char *run_id;
    int64_t *lat;        /* n latencies, ns */
    long failures;
    int first_rc;
    int64_t cpu_ns;
    pthread_barrier_t *start;
} job;

static int64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *job_main(void *arg)
{
    job *j = arg;
    void *ts = j->ops->thread_init(j->ud);
    char key[200], val[64];
    /* A fresh key per run, round and thread: CAS starts at version 0 (create). */
    snprintf(key, sizeof key, "%s/%c%d-%d/t%d", j->run_id, j->ops == &api_ops ? 'a' : 'b',
             j->op, j->round, j->thread);
    int64_t version = 0;
    int vlen = snprintf(val, sizeof val, "value-%d-0123456789abcdef", j->thread);
    if (ts && j->op == OP_GET)
        j->ops->put(ts, key, val, (size_t)vlen);
    pthread_barrier_wait(j->start);
    if (!ts) {
        j->failures = j->n;
        j->first_rc = IMI_ENOMEM;
        return NULL;
    }
    int64_t cpu0 = thread_cpu_ns();
    for (long i = 0; i < j->n; i++) {
        int64_t t0 = imi_now_mono_ns();
        int rc;
        switch (j->op) {
        case OP_GET: rc = j->ops->get(ts, key); break;
        case OP_PUT: rc = j->ops->put(ts, key, val, (size_t)vlen); break;
        case OP_CAS:
            rc = j->ops->cas(ts, key, version, val, (size_t)vlen);
            if (!rc)
                version++;
            break;
        default: rc = j->ops->lock_unlock(ts, key); break;
        }
        j->lat[i] = imi_now_mono_ns() - t0;
        if (rc) {
            if (!j->failures)
                j->first_rc = rc;
            j->failures++;
        }
    }
    j->cpu_ns = thread_cpu_ns() - cpu0;
    j->ops->thread_done(ts);
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* One round: `per` calls on each of `threads` threads, latencies appended to a. */
static int run_round(const coord_bench_ops *ops, void *ud, int op, long per, int threads,
                     const char *run_id, int round, acc *a)
{
    job jobs[MAX_THREADS];
    pthread_t th[MAX_THREADS];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)threads + 1);
    for (int i = 0; i < threads; i++) {
        jobs[i] = (job){ .ops = ops, .ud = ud, .op = op, .thread = i, .round = round, .n = per,
                         .run_id = run_id, .lat = a->lat + a->n + per * i, .start = &start };
        pthread_create(&th[i], NULL, job_main, &jobs[i]);
    }
    pthread_barrier_wait(&start);
    int64_t t0 = imi_now_mono_ns();
    int first_rc = IMI_OK;
    long failures = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        failures += jobs[i].failures;
        a->cpu_ns += jobs[i].cpu_ns;
        if (!first_rc)
            first_rc = jobs[i].first_rc;
    }
    a->secs += (double)(imi_now_mono_ns() - t0) / 1e9;
    pthread_barrier_destroy(&start);
    a->n += per * threads;
    a->failures += failures;
    if (failures)
        fprintf(stderr, "imi bench coord: %s via %s: %ld of %ld calls failed (%s: %s)\n",
                op_names[op], ops->name, failures, per * threads, imi_err_name(first_rc),
                imi_error_message());
    return failures ? IMI_EINTERNAL : IMI_OK;
}

static void summarize(acc *a, result *r)
{
    qsort(a->lat, (size_t)a->n, sizeof *a->lat, cmp_i64);
    r->per_s = (double)a->n / a->secs;
    r->p50_us = (double)a->lat[a->n / 2] / 1e3;
    r->p99_us = (double)a->lat[a->n * 99 / 100] / 1e3;
    r->cpu_us = (double)a->cpu_ns / 1e3 / (double)a->n;
}

/* Both sides of one operation in alternating rounds, so drift on a shared machine (and
 * a backend warming up) hits both alike. */
static int run_op(const coord_bench_ops *api, void *api_ud, const coord_bench_ops *base,
                  void *base_ud, int op, long ops_n, int threads, const char *run_id,
                  result *ra, result *rb)
{
    long per = ops_n / threads / ROUNDS > 0 ? ops_n / threads / ROUNDS : 1;
    size_t total = (size_t)(per * threads * ROUNDS);
    acc a = { .lat = calloc(total, sizeof(int64_t)) }, b = { .lat = calloc(total, sizeof(int64_t)) };
    int failures = 0;
    if (!a.lat || !b.lat) {
        free(a.lat);
        free(b.lat);
        return 1;
    }
    for (int round = 0; round < ROUNDS; round++) {
        bool api_first = round % 2 == 0;
        for (int side = 0; side < 2; side++) {
            bool is_api = (side == 0) == api_first;
            failures += run_round(is_api ? api : base, is_api ? api_ud : base_ud, op, per,
                                  threads, run_id, round, is_api ? &a : &b) != IMI_OK;
        }
    }
    summarize(&a, ra);
    summarize(&b, rb);
    free(a.lat);
    free(b.lat);
    return failures;
}

/* ns per call of get, one thread, in alternating rounds: through imi_coord_get, and
 * through the driver's get slot with the prefixed key formatted once beforehand, so the
 * difference is all the front-end adds to a call (checks, enter/leave, prefix, counters). */
static int get_call_rounds(const imi_bench_opts *o, imi_coord *c, const char *run_id,
                           long ops, bench_cmp *cmp)
{
    char key[200], pk[256];
    snprintf(key, sizeof key, "%s/overhead", run_id);
    int rc = imi_coord_put(c, NULL, key, "v", 1, NULL);
    if (rc)
        return rc;
    size_t pn = (size_t)slot_key(c, key, pk, sizeof pk);
    long per = ops / o->rounds > 1000 ? ops / o->rounds : 1000;
    imi_buf v = IMI_BUF_INIT;
    imi_coord_meta m;
    for (int r = 0; r < o->rounds && !rc; r++) {
        double ns[2] = { 0, 0 };
        for (int k = 0; k < 2 && !rc; k++) {
            bool im = (k == 0) == bench_im_first(r);
            int64_t t0 = imi_now_mono_ns();
            for (long i = 0; i < per && !rc; i++)
                rc = im ? imi_coord_get(c, NULL, key, &v, NULL)
                        : VT(c)->get(c->in.state, NULL, pk, pn, &v, &m);
            ns[im ? 0 : 1] = (double)(imi_now_mono_ns() - t0) / (double)per;
        }
        bench_cmp_add(cmp, ns[0], ns[1]);
    }
    imi_buf_free(&v);
    return rc;
}

int imi_bench_coord(const imi_bench_opts *o)
{
    imi_app *app = cli_open_app(o->config_path);
    if (!app)
        return 1;
    imi_coord *c = NULL;
    int rc = imi_coord_open(app, NULL, &c);
    if (rc) {
        cli_fail(rc, "coord open");
        imi_app_free(app);
        return 1;
    }
    const char *driver = imi_coord_driver_name(c);
    bool local = !strcmp(driver, "mem");
    long ops = o->ops > 0 ? o->ops : local ? 100000 : 2000;
    int threads = o->threads > 0 ? (o->threads > MAX_THREADS ? MAX_THREADS : o->threads) : 1;
    char run_id[96];
    snprintf(run_id, sizeof run_id, "imi-bench/%d-%llx", (int)getpid(),
             (unsigned long long)imi_now_real_ns());
    void *etcd_ud = NULL;
    const coord_bench_ops *direct = bench_coord_etcd_ops(app, &etcd_ud);
    const coord_bench_ops *base = direct ? direct : &slot_ops;
    result api[N_OPS], bl[N_OPS];
    int failures = 0;
    for (int op = 0; op < N_OPS; op++)
        failures += run_op(&api_ops, c, base, direct ? etcd_ud : (void *)c, op, ops, threads,
                           run_id, &api[op], &bl[op]);
    /* The front-end's own cost only shows against a backend without I/O. */
    bench_cmp get_call = { .bench = "coord", .driver = driver, .name = "get call",
                           .unit = "ns/call", .baseline_name = "driver slot", .threads = 1,
                           .lower_better = true };
    double api_ns = 0, slot_ns = 0, ratio, lo, hi;
    int grc = local ? get_call_rounds(o, c, run_id, ops, &get_call) : IMI_OK;
    if (grc) {
        fprintf(stderr, "imi bench coord: get call not measured: %s (%s)\n",
                imi_error_message(), imi_err_name(grc));
        failures++;
    }
    bench_cmp_stats(&get_call, &api_ns, &slot_ns, &ratio, &lo, &hi);
    imi_coord_del_prefix(c, NULL, run_id, NULL);
    if (o->json) {
        printf("{\"bench\":\"coord\",\"driver\":\"%s\",\"ops\":%ld,\"threads\":%d,\"baseline\":\"%s\"",
               driver, ops, threads, base->name);
        for (int op = 0; op < N_OPS; op++)
            printf(",\"%s\":{\"per_s\":%.1f,\"p50_us\":%.1f,\"p99_us\":%.1f,\"cpu_us\":%.2f,"
                   "\"baseline_per_s\":%.1f,\"baseline_p50_us\":%.1f,\"baseline_p99_us\":%.1f,"
                   "\"baseline_cpu_us\":%.2f,\"ratio\":%.3f}",
                   op == OP_LOCK ? "lock_unlock" : op_names[op], api[op].per_s, api[op].p50_us,
                   api[op].p99_us, api[op].cpu_us, bl[op].per_s, bl[op].p50_us, bl[op].p99_us,
                   bl[op].cpu_us, api[op].per_s / bl[op].per_s);
        if (local)
            printf(",\"get_api_ns\":%.1f,\"get_slot_ns\":%.1f", api_ns, slot_ns);
        printf("}\n");
    } else {
        printf("coord (driver %s): %ld ops per operation, %d thread(s); baseline: %s\n", driver,
               ops, threads, base->name);
        printf("  %-12s %11s %8s %8s %7s  %11s %8s %8s %7s  %6s\n", "", "im-infra/s", "p50 us",
               "p99 us", "cpu us", "baseline/s", "p50 us", "p99 us", "cpu us", "ratio");
        for (int op = 0; op < N_OPS; op++)
            printf("  %-12s %11.0f %8.1f %8.1f %7.2f  %11.0f %8.1f %8.1f %7.2f  %6.3f\n",
                   op_names[op], api[op].per_s, api[op].p50_us, api[op].p99_us, api[op].cpu_us,
                   bl[op].per_s, bl[op].p50_us, bl[op].p99_us, bl[op].cpu_us,
                   api[op].per_s / bl[op].per_s);
        if (local) {
            printf("  get via imi_coord_get        %10.1f ns/call\n", api_ns);
            printf("  get via the driver slot      %10.1f ns/call   (front-end: %+.1f ns)\n",
                   slot_ns, api_ns - slot_ns);
        }
    }
    if (local && !grc)
        bench_cmp_report(o, &get_call);
    if (direct)
        bench_coord_etcd_free(etcd_ud);
    imi_coord_free(c);
    cli_print_counters(app, "counters of the coord bench", o->json ? stderr : stdout);
    imi_app_free(app);
    return failures ? 1 : 0;
}
