/* imi bench db: a prepared point select and a single-row insert, through im-infra and
 * through the backend's own client on the same database, in the same run. The config's
 * [db] is used; without one, a sqlite file under /tmp. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "bench.h"
#include "bench_db.h"
#include "cli.h"

#define PREFILL 1000

typedef struct result {
    const char *op, *impl;
    double ops_per_s, p50_us, p99_us, mean_us;
    long failures;
} result;

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void summarize(result *r, int64_t *lat, long n, int64_t total_ns)
{
    qsort(lat, (size_t)n, sizeof *lat, cmp_i64);
    r->ops_per_s = (double)n / ((double)total_ns / 1e9);
    r->p50_us = (double)lat[n / 2] / 1e3;
    r->p99_us = (double)lat[n * 99 / 100] / 1e3;
    r->mean_us = (double)total_ns / (double)n / 1e3;
}

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

/* One implementation's side of a benchmark: its latencies and running time so far. */
typedef struct side_run {
    op_fn fn;
    void *h;
    int64_t *lat;
    long done;
    int64_t total_ns;
    long failures;
} side_run;

static void run_block(side_run *sr, long n, int64_t id_base, bool select)
{
    char v[32];
    int64_t t0 = imi_now_mono_ns();
    for (long i = 0; i < n; i++) {
        long k = sr->done + i;
        int64_t id = select ? 1 + k % PREFILL : id_base + k;
        snprintf(v, sizeof v, "value-%lld", (long long)id);
        int64_t s = imi_now_mono_ns();
        if (sr->fn(sr->h, id, v))
            sr->failures++;
        sr->lat[k] = imi_now_mono_ns() - s;
    }
    sr->total_ns += imi_now_mono_ns() - t0;
    sr->done += n;
}

/* Runs a and b in alternating blocks, so that the noise of a shared machine falls on both
 * alike, and fills ra and rb. */
static void measure_pair(result *ra, result *rb, side_run *a, side_run *b, long ops,
                         int64_t base_a, int64_t base_b, bool select)
{
    enum { ROUNDS = 10 };
    for (int r = 0; r < ROUNDS; r++) {
        long n = ops / ROUNDS + (r < ops % ROUNDS);
        run_block(a, n, base_a, select);
        if (b)
            run_block(b, n, base_b, select);
    }
    summarize(ra, a->lat, ops, a->total_ns);
    ra->failures = a->failures;
    if (b) {
        summarize(rb, b->lat, ops, b->total_ns);
        rb->failures = b->failures;
    }
}

static void print_results(const imi_bench_opts *o, imi_db *db, long ops, const result *res,
                          size_t n, const char *note)
{
    if (o->json) {
        printf("{\"bench\":\"db\",\"driver\":\"%s\",\"dialect\":\"%s\",\"ops\":%ld,\"results\":[",
               imi_db_driver_name(db), imi_db_dialect(db), ops);
        for (size_t i = 0; i < n; i++)
            printf("%s{\"op\":\"%s\",\"impl\":\"%s\",\"ops_per_s\":%.0f,\"p50_us\":%.2f,"
                   "\"p99_us\":%.2f,\"failures\":%ld}", i ? "," : "", res[i].op, res[i].impl,
                   res[i].ops_per_s, res[i].p50_us, res[i].p99_us, res[i].failures);
        printf("]");
        if (note)
            printf(",\"note\":\"%s\"", note);
        printf("}\n");
        return;
    }
    printf("imi bench db: driver %s (%s), %ld ops per row, 1 thread\n", imi_db_driver_name(db),
           imi_db_dialect(db), ops);
    printf("%-14s %-12s %10s %9s %9s\n", "operation", "through", "ops/s", "p50 us", "p99 us");
    for (size_t i = 0; i < n; i++) {
        printf("%-14s %-12s %10.0f %9.2f %9.2f%s\n", res[i].op, res[i].impl, res[i].ops_per_s,
               res[i].p50_us, res[i].p99_us, res[i].failures ? "  (failures!)" : "");
        if (i % 2 == 1 && !strcmp(res[i].op, res[i - 1].op))
            printf("%-14s ratio im-infra/raw %.3f, front-end + vtable %+.2f us/op\n", "",
                   res[i - 1].ops_per_s / res[i].ops_per_s, res[i - 1].mean_us - res[i].mean_us);
    }
    if (note)
        printf("%s\n", note);
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
    snprintf(text, sizeof text, "[log]\nlevel = warn\n[db]\ndriver = sqlite\npath = %s\n", tmp_db);
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
    snprintf(sql, sizeof sql, "CREATE TABLE %s (id BIGINT PRIMARY KEY, v VARCHAR(64))", table);
    snprintf(side.sel, sizeof side.sel, "SELECT v FROM %s WHERE id = ?", table);
    snprintf(side.ins, sizeof side.ins, "INSERT INTO %s (id, v) VALUES (?, ?)", table);
    int64_t *lat = malloc((size_t)ops * sizeof *lat);
    rc = lat ? imi_db_exec(side.db, NULL, sql, NULL, 0, NULL) : IMI_ENOMEM;
    imi_db_tx *tx = NULL;
    if (!rc && (imi_db_caps(side.db) & IMI_DB_CAP_TX))
        rc = imi_db_begin(side.db, NULL, &tx);
    for (int64_t id = 1; !rc && id <= PREFILL; id++) {
        imi_db_param p[] = { IMI_DB_PINT(id), IMI_DB_PTEXT("prefilled value") };
        rc = tx ? imi_db_tx_exec(tx, NULL, side.ins, p, 2, NULL)
                : imi_db_exec(side.db, NULL, side.ins, p, 2, NULL);
    }
    if (tx)
        rc = rc ? (imi_db_rollback(tx, NULL), rc) : imi_db_commit(tx, NULL);
    int code = 0;
    if (rc) {
        code = cli_fail(rc, "db bench setup");
        goto out;
    }
    const db_bench_raw *raw = raw_for(side.db);
    raw_side rs = { .raw = raw };
    char why[256] = "";
    if (raw && !(rs.h = raw->open(app, table, why, sizeof why)))
        raw = NULL;
    if (!raw && !why[0])
        snprintf(why, sizeof why, "no raw baseline for dialect '%s' in this build",
                 imi_db_dialect(side.db));

    result res[4] = { 0 };
    int64_t *lat2 = malloc((size_t)ops * sizeof *lat2);
    if (!lat2) {
        code = cli_fail(IMI_ENOMEM, "db bench");
        goto out;
    }
    /* Warm both paths (statement caches, pages) before measuring. */
    long warm = ops < 1000 ? ops : 1000;
    side_run wa = { .fn = imi_select, .h = &side, .lat = lat };
    side_run wb = { .fn = raw_select, .h = &rs, .lat = lat2 };
    result ignored[2];
    measure_pair(&ignored[0], &ignored[1], &wa, raw ? &wb : NULL, warm, 0, 0, true);

    side_run sa = { .fn = imi_select, .h = &side, .lat = lat };
    side_run sb = { .fn = raw_select, .h = &rs, .lat = lat2 };
    res[0] = (result){ .op = "point select", .impl = "im-infra" };
    res[1] = (result){ .op = "point select", .impl = raw ? raw->name : "" };
    measure_pair(&res[0], &res[1], &sa, raw ? &sb : NULL, ops, 0, 0, true);
    side_run ia = { .fn = imi_insert, .h = &side, .lat = lat };
    side_run ib = { .fn = raw_insert, .h = &rs, .lat = lat2 };
    result *ins = raw ? &res[2] : &res[1];
    ins[0] = (result){ .op = "insert", .impl = "im-infra" };
    ins[1] = (result){ .op = "insert", .impl = raw ? raw->name : "" };
    measure_pair(&ins[0], &ins[1], &ia, raw ? &ib : NULL, ops, 1000000000, 2000000000, false);
    size_t n = raw ? 4 : 2;
    if (raw)
        raw->close(rs.h);
    free(lat2);
    char pgb[160] = "";
    if (!strcmp(imi_db_dialect(side.db), "postgresql"))
        pgbench(app, ops, pgb, sizeof pgb);
    if (*pgb && !raw)
        snprintf(why + strlen(why), sizeof why - strlen(why), "; %s", pgb);
    print_results(o, side.db, ops, res, n, raw ? (*pgb ? pgb : NULL) : why);
    for (size_t i = 0; i < n; i++)
        if (res[i].failures)
            code = 1;
out:
    snprintf(sql, sizeof sql, "DROP TABLE %s", table);
    imi_db_exec(side.db, NULL, sql, NULL, 0, NULL);
    imi_db_free(side.db);
    cli_print_counters(app, "counters of the db bench");
    imi_app_free(app);
    free(lat);
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
