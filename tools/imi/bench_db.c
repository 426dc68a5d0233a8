/* imi bench db: a prepared point select and a single-row insert, through im-infra and
 * through the backend's own client on the same database, in the same run. The config's
 * [db] is used; without one, a sqlite file under /tmp. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "bench.h"
#include "bench_cmp.h"
#include "bench_db.h"
#include "cli.h"

#define BENCH_DB_MAX_THREADS 8

/* The benchmarked operations of one implementation, behind one signature. */
typedef int (*op_fn)(void *h, int64_t id, const char *v);

typedef struct imi_side {
    imi_db *db;
    char sel[128], ins[128];
} imi_side;

static int imi_select(void *h, int64_t id, const char *v)
{
    (void)v;
    imi_side *s = h;
    imi_db_param p = IMI_DB_PINT(id);
    imi_db_rows *r;
    int rc = imi_db_query_writer(s->db, NULL, s->sel, &p, 1, &r);
    if (rc)
        return rc;
    const char *text = NULL;
    rc = imi_db_rows_next(r, NULL) == 1 ? imi_db_rows_text(r, 0, &text, NULL) : -1;
    imi_db_rows_free(r);
    return rc;
}

static int imi_insert(void *h, int64_t id, const char *v)
{
    imi_side *s = h;
    imi_db_param p[] = { IMI_DB_PINT(id), IMI_DB_PTEXT(v) };
    return imi_db_exec(s->db, NULL, s->ins, p, 2, NULL);
}

typedef struct raw_side {
    const db_bench_raw *raw;
    void *h;
} raw_side;

static int raw_select(void *h, int64_t id, const char *v)
{
    (void)v;
    raw_side *s = h;
    return s->raw->select(s->h, id);
}

static int raw_insert(void *h, int64_t id, const char *v)
{
    raw_side *s = h;
    return s->raw->insert(s->h, id, v);
}

/* One timed run: n calls spread over `threads` threads, thread i on handles[i]. */
typedef struct worker {
    op_fn fn;
    void *h;
    long first, n, failures;
    int64_t id_base;
    bool select;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    char v[32];
    for (long i = 0; i < w->n; i++) {
        long k = w->first + i;
        int64_t id = w->select ? 1 + k % BENCH_DB_PREFILL : w->id_base + k;
        snprintf(v, sizeof v, "value-%lld", (long long)id);
        if (w->fn(w->h, id, v))
            w->failures++;
    }
    return NULL;
}

/* Calls per second of one run; *failures grows by the calls that failed. */
static double run_threads(op_fn fn, void **handles, int threads, long n, long first,
                          int64_t id_base, bool select, long *failures)
{
    worker w[BENCH_DB_MAX_THREADS];
    pthread_t th[BENCH_DB_MAX_THREADS];
    int64_t t0 = imi_now_mono_ns();
    for (int i = 0; i < threads; i++) {
        long per = n / threads + (i < n % threads);
        w[i] = (worker){ .fn = fn, .h = handles[i], .first = first, .n = per,
                         .id_base = id_base, .select = select };
        first += per;
        if (threads == 1)
            work(&w[0]);
        else
            pthread_create(&th[i], NULL, work, &w[i]);
    }
    for (int i = 0; i < threads; i++) {
        if (threads > 1)
            pthread_join(th[i], NULL);
        *failures += w[i].failures;
    }
    return (double)n * 1e9 / (double)(imi_now_mono_ns() - t0);
}

/* Both sides of one comparison over the rounds of o, alternating which goes first. */
static void compare(const imi_bench_opts *o, bench_cmp *c, op_fn imi_fn, void *imi_h,
                    op_fn raw_fn, void **raw_h, long ops, bool select, long *failures)
{
    void *ih[BENCH_DB_MAX_THREADS];
    for (int i = 0; i < c->threads; i++)
        ih[i] = imi_h;
    long per = ops / o->rounds > c->threads ? ops / o->rounds : c->threads;
    for (int r = 0; r < o->rounds; r++) {
        /* inserts: every round and side its own id range */
        int64_t base_i = 1000000000LL + 2LL * r * per, base_r = base_i + per;
        double a = 0, b = 0;
        for (int k = 0; k < 2; k++) {
            bool im = (k == 0) == bench_im_first(r);
            if (im)
                a = run_threads(imi_fn, ih, c->threads, per, r * per, base_i, select, failures);
            else if (raw_fn)
                b = run_threads(raw_fn, raw_h, c->threads, per, r * per, base_r, select,
                                failures);
        }
        bench_cmp_add(c, a, b);
    }
    bench_progress("db %s %s, %d thread(s): %d rounds done", c->driver, c->name, c->threads,
                   o->rounds);
}

static const db_bench_raw *raw_for(imi_db *db)
{
    const char *d = imi_db_dialect(db);
    if (!strcmp(d, "sqlite"))
        return bench_db_raw_sqlite();
    if (!strcmp(d, "postgresql"))
        return bench_db_raw_postgres();
    if (!strcmp(d, "mysql"))
        return bench_db_raw_mysql();
    return NULL;
}

/* The config: the file's, when it has a [db]; else sqlite in a temporary file. */
static imi_app *open_bench_app(const imi_bench_opts *o, char *tmp_db, size_t cap)
{
    imi_config *cfg = NULL;
    tmp_db[0] = '\0';
    if (o->config_path && imi_config_load(o->config_path, &cfg) == IMI_OK &&
        imi_config_has_section(cfg, "db")) {
        imi_app *app = NULL;
        if (imi_app_open_config(cfg, &app))
            cli_fail(imi_error_code(), "config %s", o->config_path);
        return app;
    }
    imi_config_free(cfg);
    snprintf(tmp_db, cap, "/tmp/imi-bench-db-%d.db", (int)getpid());
    char text[512];
    snprintf(text, sizeof text, "[log]\nlevel = warn\n[db]\ndriver = sqlite\npool_size = 8\npath = %s\n", tmp_db);
    imi_app *app = NULL;
    if (imi_config_parse(text, "bench-db", "/tmp", &cfg) || imi_app_open_config(cfg, &app)) {
        cli_fail(imi_error_code(), "bench config");
        return NULL;
    }
    return app;
}

/* The pgbench -S figure on the same server, when pgbench is installed: one client, the
 * same number of prepared point selects. Its tables are created and dropped here. */
static void pgbench(imi_app *app, long ops, char *out, size_t cap)
{
    const char *uri = imi_config_get(imi_app_config(app), "db", "writer", NULL);
    if (!uri || system("command -v pgbench >/dev/null 2>&1") != 0)
        return;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "pgbench -i -s 1 -q '%s' >/dev/null 2>&1 && "
             "pgbench -n -S -M prepared -c 1 -t %ld '%s' 2>/dev/null; "
             "pgbench -i -I d '%s' >/dev/null 2>&1", uri, ops, uri, uri);
    FILE *p = popen(cmd, "r");
    if (!p)
        return;
    char line[256];
    double tps = 0;
    while (fgets(line, sizeof line, p))
        if (!strncmp(line, "tps = ", 6))
            tps = atof(line + 6);
    pclose(p);
    if (tps > 0)
        snprintf(out, cap, "pgbench -S -M prepared, 1 client, same server: %.0f tps", tps);
}

int imi_bench_db(const imi_bench_opts *o)
{
    long ops = o->ops > 0 ? o->ops : 20000;
    char tmp_db[256];
    imi_app *app = open_bench_app(o, tmp_db, sizeof tmp_db);
    if (!app)
        return 1;
    imi_side side = { 0 };
    int rc = imi_db_open(app, NULL, &side.db);
    if (rc) {
        imi_app_free(app);
        return cli_fail(rc, "db open");
    }
    char table[64], sql[256];
    snprintf(table, sizeof table, "imi_bench_%d", (int)getpid());
    snprintf(sql, sizeof sql, "CREATE TABLE %s " BENCH_DB_COLUMNS, table);
    snprintf(side.sel, sizeof side.sel, "SELECT v FROM %s WHERE id = ?", table);
    snprintf(side.ins, sizeof side.ins, "INSERT INTO %s (id, v) VALUES (?, ?)", table);
    rc = imi_db_exec(side.db, NULL, sql, NULL, 0, NULL);
    imi_db_tx *tx = NULL;
    if (!rc && (imi_db_caps(side.db) & IMI_DB_CAP_TX))
        rc = imi_db_begin(side.db, NULL, &tx);
    for (int64_t id = 1; !rc && id <= BENCH_DB_PREFILL; id++) {
        imi_db_param p[] = { IMI_DB_PINT(id), IMI_DB_PTEXT(BENCH_DB_PREFILLED) };
        rc = tx ? imi_db_tx_exec(tx, NULL, side.ins, p, 2, NULL)
                : imi_db_exec(side.db, NULL, side.ins, p, 2, NULL);
    }
    if (tx)
        rc = rc ? (imi_db_rollback(tx, NULL), rc) : imi_db_commit(tx, NULL);
    int code = 0;
    raw_side rs[BENCH_DB_MAX_THREADS] = { 0 };
    void *rh[BENCH_DB_MAX_THREADS];
    int n_raw = 0;
    if (rc) {
        code = cli_fail(rc, "db bench setup");
        goto out;
    }
    /* Threads beyond the pool would wait for a connection while the baseline has one
     * each: the sweep stops at the pool's size. */
    int64_t pool = 4;
    imi_config_get_int(imi_app_config(app), "db", "pool_size", &pool);
    int sweep[4], n_sweep = bench_thread_sweep(o, sweep), max_t = 1;
    for (int i = 0; i < n_sweep; i++)
        if (sweep[i] > pool || sweep[i] > BENCH_DB_MAX_THREADS) {
            bench_progress("db: %d threads skipped: [db] pool_size is %lld, the bench runs up "
                           "to %d", sweep[i], (long long)pool, BENCH_DB_MAX_THREADS);
            n_sweep = i;
        }
    for (int i = 0; i < n_sweep; i++)
        max_t = sweep[i] > max_t ? sweep[i] : max_t;
    const db_bench_raw *raw = raw_for(side.db);
    char why[256] = "";
    for (; raw && n_raw < max_t; n_raw++) {
        rs[n_raw].raw = raw;
        rh[n_raw] = &rs[n_raw];
        if (!(rs[n_raw].h = raw->open(app, table, why, sizeof why)))
            raw = NULL;
    }
    if (!raw && !why[0])
        snprintf(why, sizeof why, "no raw baseline for dialect '%s' in this build",
                 imi_db_dialect(side.db));
    if (!raw)
        bench_progress("db: %s", why);
    const char *driver = imi_db_driver_name(side.db);
    long failures = 0;
    /* Warm both paths (statement caches, pages) before measuring. */
    bench_cmp warm = { .bench = "db", .driver = driver, .name = "warm-up", .threads = 1 };
    imi_bench_opts wo = *o;
    wo.rounds = 1;
    compare(&wo, &warm, imi_select, &side, raw ? raw_select : NULL, rh, ops < 2000 ? ops : 2000,
            true, &failures);
    for (int i = 0; i < n_sweep; i++) {
        bench_cmp c = { .bench = "db", .driver = driver, .name = "point select",
                        .unit = "ops/s", .baseline_name = raw ? raw->name : NULL,
                        .threads = sweep[i] };
        compare(o, &c, imi_select, &side, raw ? raw_select : NULL, rh, ops, true, &failures);
        bench_cmp_report(o, &c);
        double im, base, ratio, lo, hi;
        bench_cmp_stats(&c, &im, &base, &ratio, &lo, &hi);
        if (!o->json && raw && sweep[i] == 1)
            printf("%-40s front-end + vtable: %+.2f us per call\n", "", 1e6 / im - 1e6 / base),
                fflush(stdout);
    }
    bench_cmp c = { .bench = "db", .driver = driver, .name = "insert", .unit = "ops/s",
                    .baseline_name = raw ? raw->name : NULL, .threads = 1 };
    compare(o, &c, imi_insert, &side, raw ? raw_insert : NULL, rh, ops, false, &failures);
    bench_cmp_report(o, &c);
    char pgb[160] = "";
    if (!o->json && !strcmp(imi_db_dialect(side.db), "postgresql"))
        pgbench(app, ops, pgb, sizeof pgb);
    if (*pgb)
        printf("%s\n", pgb);
    if (failures)
        code = cli_fail(IMI_EINTERNAL, "bench db: %ld calls failed", failures);
out:
    for (int i = 0; i < n_raw; i++)
        if (rs[i].h)
            rs[i].raw->close(rs[i].h);
    snprintf(sql, sizeof sql, "DROP TABLE %s", table);
    imi_db_exec(side.db, NULL, sql, NULL, 0, NULL);
    imi_db_free(side.db);
    cli_print_counters(app, "counters of the db bench", o->json ? stderr : stdout);
    imi_app_free(app);
    if (tmp_db[0]) {
        char f[300];
        unlink(tmp_db);
        snprintf(f, sizeof f, "%s-wal", tmp_db);
        unlink(f);
        snprintf(f, sizeof f, "%s-shm", tmp_db);
        unlink(f);
    }
    return code;
}
