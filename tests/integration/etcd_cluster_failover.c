/* The coord front-end on the etcd driver against a 3-member cluster (started by
 * coord_etcd_cluster.sh through tools/clusters/etcd.sh) whose leader is killed, ROUNDS
 * times, under a steady load: a writer putting a counter, a reader getting it and taking
 * and dropping a lock, a prefix watch, a registration and two held locks.
 *
 * Asserts per round: a write succeeds again soon after the cluster has a new leader
 * (within AFTER_LEADER_MS, plus the deadline of a call caught mid-flight) and within
 * FAILOVER_MAX_MS of the kill; no call outlives its deadline by more than CALL_SLACK_MS; the registration is discoverable; the
 * lock whose lease survived is still held, the one whose lease was revoked meanwhile is
 * reported lost; the killed member rejoins (a read through it alone sees the last
 * write). At the end, the watch that lived through every failover saw exactly the events
 * a fresh watch replays from history: none missed, none repeated.
 *
 *   etcd_cluster_failover CONFIG CLUSTER_SCRIPT ROUNDS
 * CONFIG has a [coord] section whose endpoints are the cluster's. Prints the failover
 * times and their median. Exit status 0 when every check held. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/types.h>
#include "iminfra/iminfra.h"

#define CALL_TIMEOUT_MS 2000
#define CALL_SLACK_MS 500
/* How long etcd itself takes to elect a leader is not the client's doing: 1 to 3 s here,
 * but 10 s has been seen on a loaded 2-core machine (split votes, leader stickiness). The
 * client is held to AFTER_LEADER_MS from the moment a member reports itself leader, and
 * to FAILOVER_MAX_MS from the kill only as a bound on the whole. */
#define AFTER_LEADER_MS 2000
#define FAILOVER_MAX_MS 20000
#define LEADER_WAIT_S 30
/* Longer than FAILOVER_MAX_MS: a lock whose lease was never revoked must survive a
 * failover that long (its keeper reports it lost after a TTL without a renewal). */
#define HELD_TTL_MS 30000
#define MAX_EVENTS 100000

static int failures;

#define CHECK(cond, ...)                                                              \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                      \
            fprintf(stderr, __VA_ARGS__);                                             \
            fputc('\n', stderr);                                                      \
            failures++;                                                               \
        }                                                                             \
    } while (0)

static int64_t now_ms(void) { return imi_now_mono_ns() / 1000000; }

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
    nanosleep(&ts, NULL);
}

static const char *script;

/* Runs the cluster script; its first output line as a number (or -1). */
static int cluster(const char *args)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "bash %s %s", script, args);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    int v = -1;
    if (fscanf(p, "%d", &v) != 1)
        v = 0;
    int st = pclose(p);
    return st == 0 ? v : -1;
}

/* The pid of member n, from the script's pid file. */
static pid_t member_pid(int n)
{
    const char *dir = getenv("IMI_ETCD_CLUSTER_DIR");
    char path[512];
    snprintf(path, sizeof path, "%s/m%d.pid", dir ? dir : "/tmp/imi-etcd-cluster", n);
    FILE *f = fopen(path, "r");
    long pid = -1;
    if (f) {
        if (fscanf(f, "%ld", &pid) != 1)
            pid = -1;
        fclose(f);
    }
    return (pid_t)pid;
}

/* ---- the load ------------------------------------------------------------------------- */

typedef struct load {
    imi_coord *c;
    atomic_bool stop;
    atomic_llong last_ok_ms;        /* when the last successful put started */
    atomic_llong first_ok_after;    /* end of the first successful put started after kill_ms */
    atomic_llong probe_ok_after;    /* the same for the probe's short puts */
    atomic_llong kill_ms;           /* 0: no kill pending */
    atomic_llong max_call_ms;       /* longest put, get or lock call */
    atomic_llong last_rev;          /* revision of the last successful put */
    atomic_long puts_ok, puts_failed, gets_ok, gets_failed, locks_ok;
} load;

static void note_call(load *l, int64_t start)
{
    int64_t d = now_ms() - start;
    long long m = atomic_load(&l->max_call_ms);
    while (d > m && !atomic_compare_exchange_weak(&l->max_call_ms, &m, d)) {
    }
}

static void *writer(void *arg)
{
    load *l = arg;
    for (long i = 0; !atomic_load(&l->stop); i++) {
        char v[32];
        snprintf(v, sizeof v, "%ld", i);
        imi_ctx *ctx = imi_ctx_new(CALL_TIMEOUT_MS);
        int64_t start = now_ms(), rev = 0;
        int rc = imi_coord_put(l->c, ctx, "load/counter", v, strlen(v), &rev);
        imi_ctx_free(ctx);
        note_call(l, start);
        if (rc == IMI_OK) {
            atomic_fetch_add(&l->puts_ok, 1);
            atomic_store(&l->last_rev, rev);
            long long k = atomic_load(&l->kill_ms), none = 0;
            if (k && start >= k)
                atomic_compare_exchange_strong(&l->first_ok_after, &none, now_ms());
        } else {
            atomic_fetch_add(&l->puts_failed, 1);
        }
        sleep_ms(rc == IMI_OK ? 10 : 20);
    }
    return NULL;
}

/* Short puts (PROBE_TIMEOUT_MS) started every few ms: when does a write that starts
 * after the kill succeed, without waiting out the deadline of one caught mid-flight? */
#define PROBE_TIMEOUT_MS 400
static void *prober(void *arg)
{
    load *l = arg;
    while (!atomic_load(&l->stop)) {
        imi_ctx *ctx = imi_ctx_new(PROBE_TIMEOUT_MS);
        int64_t start = now_ms();
        int rc = imi_coord_put(l->c, ctx, "probe/x", "1", 1, NULL);
        imi_ctx_free(ctx);
        long long k = atomic_load(&l->kill_ms), none = 0;
        if (rc == IMI_OK && k && start >= k)
            atomic_compare_exchange_strong(&l->probe_ok_after, &none, now_ms());
        sleep_ms(rc == IMI_OK ? 25 : 5);
    }
    return NULL;
}

static void *reader(void *arg)
{
    load *l = arg;
    while (!atomic_load(&l->stop)) {
        imi_ctx *ctx = imi_ctx_new(CALL_TIMEOUT_MS);
        imi_buf v = IMI_BUF_INIT;
        int64_t start = now_ms();
        int rc = imi_coord_get(l->c, ctx, "load/counter", &v, NULL);
        note_call(l, start);
        imi_buf_free(&v);
        atomic_fetch_add(rc == IMI_OK || rc == IMI_ENOTFOUND ? &l->gets_ok : &l->gets_failed, 1);
        imi_coord_lock *lk = NULL;
        start = now_ms();
        if (imi_coord_lock_try(l->c, ctx, "load-lock", 5000, 0, &lk) == IMI_OK) {
            imi_coord_unlock(lk, ctx);
            atomic_fetch_add(&l->locks_ok, 1);
        }
        note_call(l, start);
        imi_ctx_free(ctx);
        sleep_ms(20);
    }
    return NULL;
}

/* ---- the watch ------------------------------------------------------------------------ */

typedef struct events {
    pthread_mutex_t mu;
    int64_t *revs;
    int n, lost;
} events;

static void on_event(void *ud, const imi_coord_event *ev)
{
    events *e = ud;
    pthread_mutex_lock(&e->mu);
    if (ev->type == IMI_COORD_EVENT_LOST)
        e->lost++;
    else if (e->n < MAX_EVENTS)
        e->revs[e->n++] = ev->meta.mod_rev;
    pthread_mutex_unlock(&e->mu);
}

static int64_t events_last(events *e)
{
    pthread_mutex_lock(&e->mu);
    int64_t r = e->n ? e->revs[e->n - 1] : 0;
    pthread_mutex_unlock(&e->mu);
    return r;
}

/* Waits up to ms for the watch to reach revision rev. */
static bool events_reach(events *e, int64_t rev, int64_t ms)
{
    for (int64_t end = now_ms() + ms; now_ms() < end; sleep_ms(20))
        if (events_last(e) >= rev)
            return true;
    return events_last(e) >= rev;
}

/* ---- helpers -------------------------------------------------------------------------- */

static int count_instances(void *ud, const char *instance, const char *addr)
{
    (void)instance;
    (void)addr;
    (*(int *)ud)++;
    return 0;
}

static void on_lost(void *ud) { atomic_fetch_add((atomic_int *)ud, 1); }

static int cmp_ll(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* A handle on the config's [coord] with other endpoints (NULL: as configured). */
static imi_coord *open_coord(const char *config, const char *endpoints, imi_app **app)
{
    imi_config *cfg = NULL;
    imi_coord *c = NULL;
    if (imi_config_load(config, &cfg) != IMI_OK ||
        (endpoints && imi_config_set(cfg, "coord", "endpoints", endpoints) != IMI_OK) ||
        imi_app_open_config(cfg, app) != IMI_OK || imi_coord_open(*app, NULL, &c) != IMI_OK) {
        fprintf(stderr, "FAIL: opening coord on %s: %s\n", config, imi_error_message());
        exit(1);
    }
    return c;
}

/* Keeps trying op for up to ms; its last code. */
#define RETRY_FOR(ms, rc, op)                                                         \
    do {                                                                              \
        int64_t end_ = now_ms() + (ms);                                               \
        while (((rc) = (op)) != IMI_OK && now_ms() < end_)                            \
            sleep_ms(50);                                                             \
    } while (0)

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s CONFIG CLUSTER_SCRIPT ROUNDS\n", argv[0]);
        return 2;
    }
    const char *config = argv[1];
    script = argv[2];
    int rounds = atoi(argv[3]);
    setvbuf(stdout, NULL, _IOLBF, 0);

    imi_app *app, *app2;
    imi_coord *c = open_coord(config, NULL, &app);
    imi_coord *c2 = open_coord(config, NULL, &app2); /* the "other client" */
    int rc;
    if ((rc = imi_coord_ping(c, NULL)) != IMI_OK) {
        fprintf(stderr, "FAIL: etcd cluster not reachable: %s\n", imi_error_message());
        return 1;
    }

    /* values over etcd's request limit (1.5 MiB) and over its gateway's message limit
     * (2 MiB): refused as invalid, not as a backend that may come back */
    size_t sizes[] = { 1600 * 1024, 3 * 1024 * 1024 };
    for (size_t i = 0; i < 2; i++) {
        char *big = calloc(1, sizes[i]);
        /* etcd takes over a second to refuse 2 MB of JSON on a busy machine */
        imi_ctx *slow = imi_ctx_new(15000);
        rc = big ? imi_coord_put(c, slow, "big", big, sizes[i], NULL) : IMI_ENOMEM;
        imi_ctx_free(slow);
        CHECK(rc == IMI_EINVALID, "a put of %zu bytes: %s (%s)", sizes[i], imi_err_name(rc),
              imi_error_message());
        printf("a put of %zu bytes: %s: %s\n", sizes[i], imi_err_name(rc), imi_error_message());
        free(big);
    }

    events live = { .revs = calloc(MAX_EVENTS, sizeof(int64_t)) };
    pthread_mutex_init(&live.mu, NULL);
    imi_coord_watch *w = NULL;
    int64_t start_rev = 0;
    CHECK(imi_coord_put(c, NULL, "load/start", "1", 1, &start_rev) == IMI_OK, "first put: %s",
          imi_error_message());
    CHECK(imi_coord_watch_start(c, NULL, "load/", IMI_COORD_WATCH_PREFIX, start_rev + 1,
                                on_event, &live, &w) == IMI_OK, "watch: %s", imi_error_message());
    imi_coord_registration *reg = NULL;
    CHECK(imi_coord_register(c, NULL, "failover-svc", "r1", "127.0.0.1:7000", 3000, &reg) == IMI_OK,
          "register: %s", imi_error_message());
    imi_coord_lock *held = NULL;
    atomic_int held_lost = 0;
    CHECK(imi_coord_lock_try(c, NULL, "held-lock", HELD_TTL_MS, 0, &held) == IMI_OK, "lock: %s",
          imi_error_message());
    if (held)
        imi_coord_lock_on_lost(held, on_lost, &held_lost);

    load l = { .c = c };
    pthread_t tw, tr, tp;
    pthread_create(&tw, NULL, writer, &l);
    pthread_create(&tr, NULL, reader, &l);
    pthread_create(&tp, NULL, prober, &l);
    sleep_ms(500);

    int64_t *times = calloc((size_t)rounds, sizeof(int64_t));
    int64_t *wtimes = calloc((size_t)rounds, sizeof(int64_t));
    int measured = 0;
    for (int round = 1; round <= rounds; round++) {
        /* a lock whose lease the other client revokes while the leader is down */
        imi_coord_lock *doomed = NULL;
        atomic_int doomed_lost = 0;
        CHECK(imi_coord_lock_try(c, NULL, "doomed-lock", 5000, 0, &doomed) == IMI_OK,
              "round %d: lock: %s", round, imi_error_message());
        if (doomed)
            imi_coord_lock_on_lost(doomed, on_lost, &doomed_lost);
        imi_buf v = IMI_BUF_INIT;
        imi_coord_meta m = { 0 };
        CHECK(imi_coord_get(c2, NULL, "doomed-lock", &v, &m) == IMI_OK && m.lease,
              "round %d: the doomed lock's key: %s", round, imi_error_message());
        imi_buf_free(&v);

        int leader = cluster("leader");
        CHECK(leader >= 1 && leader <= 3, "round %d: no leader found", round);
        if (leader < 1)
            break;
        char args[64];
        snprintf(args, sizeof args, "kill %d", leader);
        atomic_store(&l.first_ok_after, 0);
        atomic_store(&l.probe_ok_after, 0);
        atomic_store(&l.max_call_ms, 0);
        /* kill -9 from here, so the clock starts when the signal is sent */
        pid_t pid = member_pid(leader);
        CHECK(pid > 0 && kill(pid, SIGKILL) == 0, "round %d: killing member %d", round, leader);
        int64_t kill_at = now_ms();
        atomic_store(&l.kill_ms, kill_at);
        CHECK(cluster(args) >= 0, "round %d: the script's kill of member %d", round, leader);
        /* the cluster's own failover: when a member reports itself the new leader */
        snprintf(args, sizeof args, "leader %d", LEADER_WAIT_S);
        int next = cluster(args);
        int64_t led_at = now_ms();
        CHECK(next >= 1 && next <= 3 && next != leader, "round %d: no new leader within %d s "
              "(%d)", round, LEADER_WAIT_S, next);

        RETRY_FOR(FAILOVER_MAX_MS, rc, imi_coord_lease_revoke(c2, NULL, m.lease));
        CHECK(rc == IMI_OK, "round %d: revoking the doomed lock's lease: %s", round,
              imi_error_message());

        while (!atomic_load(&l.first_ok_after) && now_ms() - kill_at < FAILOVER_MAX_MS + 2000)
            sleep_ms(5);
        while (!atomic_load(&l.probe_ok_after) && now_ms() - kill_at < FAILOVER_MAX_MS + 2000)
            sleep_ms(5);
        int64_t first = atomic_load(&l.first_ok_after), probe = atomic_load(&l.probe_ok_after);
        CHECK(first && first - kill_at <= FAILOVER_MAX_MS,
              "round %d: no successful write within %d ms of killing the leader", round,
              FAILOVER_MAX_MS);
        CHECK(probe && probe - kill_at <= FAILOVER_MAX_MS,
              "round %d: no successful probe write within %d ms of killing the leader", round,
              FAILOVER_MAX_MS);
        /* a writer call sent while there was no leader waits out its deadline first */
        CHECK(!first || first - led_at <= CALL_TIMEOUT_MS + AFTER_LEADER_MS,
              "round %d: the first write succeeded %lld ms after the new leader was seen",
              round, (long long)(first - led_at));
        CHECK(!probe || probe - led_at <= PROBE_TIMEOUT_MS + AFTER_LEADER_MS,
              "round %d: the first probe write succeeded %lld ms after the new leader was seen",
              round, (long long)(probe - led_at));
        if (first && probe) {
            times[measured] = probe - kill_at;
            wtimes[measured++] = first - kill_at;
        }
        printf("round %d: killed leader m%d; m%d led after %lld ms; first write succeeded "
               "after %lld ms (probe, %d ms deadline), %lld ms (load writer, %d ms deadline)\n",
               round, leader, next, (long long)(led_at - kill_at),
               probe ? (long long)(probe - kill_at) : -1LL, PROBE_TIMEOUT_MS,
               first ? (long long)(first - kill_at) : -1LL, CALL_TIMEOUT_MS);

        /* the registration stays discoverable, the held lock stays held */
        int found = 0;
        for (int64_t end = now_ms() + 5000; !found && now_ms() < end; sleep_ms(100)) {
            found = 0;
            imi_coord_discover(c2, NULL, "failover-svc", count_instances, &found);
        }
        CHECK(found == 1, "round %d: %d instances of the registration after the failover",
              round, found);
        RETRY_FOR(3000, rc, held ? imi_coord_lock_held(held, NULL) : IMI_EINVALID);
        CHECK(rc == IMI_OK && !atomic_load(&held_lost), "round %d: the held lock was lost (%s)",
              round, imi_error_message());
        /* the revoked one is reported lost by the keeper (it renews every TTL/3) */
        for (int64_t end = now_ms() + 6000; !atomic_load(&doomed_lost) && now_ms() < end;)
            sleep_ms(20);
        CHECK(atomic_load(&doomed_lost) == 1, "round %d: the lock with a revoked lease was not "
              "reported lost", round);
        if (doomed) {
            CHECK(imi_coord_lock_held(doomed, NULL) == IMI_ECONFLICT, "round %d: lock_held of "
                  "the lost lock", round);
            CHECK(imi_coord_unlock(doomed, NULL) == IMI_ECONFLICT, "round %d: unlock of the lost "
                  "lock", round);
        }

        /* the member comes back and serves what was written while it was down */
        snprintf(args, sizeof args, "restart %d", leader);
        CHECK(cluster(args) >= 0, "round %d: member %d did not rejoin", round, leader);
        int64_t last = atomic_load(&l.last_rev);
        imi_app *app3;
        char eps[256] = "", cmd[600];
        snprintf(cmd, sizeof cmd, "bash %s endpoints", script);
        FILE *p = popen(cmd, "r");
        if (p && fgets(eps, sizeof eps, p))
            eps[strcspn(eps, "\n")] = '\0';
        if (p)
            pclose(p);
        /* the restarted member's URL: the leader-th of the list */
        char *tok = eps, *one = NULL;
        for (int i = 1; i <= leader && tok; i++) {
            one = tok;
            tok = strchr(tok, ',');
            if (tok)
                *tok++ = '\0';
        }
        imi_coord *c3 = open_coord(config, one, &app3);
        imi_coord_meta m3 = { 0 };
        imi_buf v3 = IMI_BUF_INIT;
        RETRY_FOR(5000, rc, imi_coord_get(c3, NULL, "load/counter", &v3, &m3));
        CHECK(rc == IMI_OK && m3.mod_rev >= last, "round %d: read through the rejoined member "
              "%s: rc %d, mod_rev %lld < %lld (%s)", round, one, rc, (long long)m3.mod_rev,
              (long long)last, imi_error_message());
        printf("round %d: m%d rejoined and serves revision %lld\n", round, leader,
               (long long)m3.mod_rev);
        imi_buf_free(&v3);
        imi_coord_free(c3);
        imi_app_free(app3);
        CHECK(atomic_load(&l.max_call_ms) <= CALL_TIMEOUT_MS + CALL_SLACK_MS,
              "round %d: a call took %lld ms (deadline %d ms)", round,
              (long long)atomic_load(&l.max_call_ms), CALL_TIMEOUT_MS);
        atomic_store(&l.kill_ms, 0);
        sleep_ms(500);
    }

    atomic_store(&l.stop, true);
    pthread_join(tw, NULL);
    pthread_join(tr, NULL);
    pthread_join(tp, NULL);
    int64_t last = atomic_load(&l.last_rev);
    CHECK(events_reach(&live, last, 5000), "the watch did not reach revision %lld (at %lld)",
          (long long)last, (long long)events_last(&live));

    /* the live watch against a replay of the history from the same revision */
    events replay = { .revs = calloc(MAX_EVENTS, sizeof(int64_t)) };
    pthread_mutex_init(&replay.mu, NULL);
    imi_coord_watch *w2 = NULL;
    CHECK(imi_coord_watch_start(c2, NULL, "load/", IMI_COORD_WATCH_PREFIX, start_rev + 1,
                                on_event, &replay, &w2) == IMI_OK, "replay watch: %s",
          imi_error_message());
    CHECK(events_reach(&replay, events_last(&live), 5000), "the replay did not catch up");
    if (w)
        imi_coord_watch_cancel(w);
    if (w2)
        imi_coord_watch_cancel(w2);
    int dup = 0, missed = 0;
    for (int i = 1; i < live.n; i++)
        dup += live.revs[i] <= live.revs[i - 1];
    for (int i = 0, j = 0; i < replay.n; i++) {
        while (j < live.n && live.revs[j] < replay.revs[i])
            j++;
        missed += j >= live.n || live.revs[j] != replay.revs[i];
    }
    printf("watch: %d events through %d failovers, %d repeated, %d missed, %d lost markers "
           "(history has %d)\n", live.n, rounds, dup, missed, live.lost, replay.n);
    CHECK(dup == 0 && missed == 0 && live.lost == 0 && live.n == replay.n,
          "the watch differs from the history");
    printf("load: puts %ld ok / %ld failed, gets %ld ok / %ld failed, lock cycles %ld\n",
           atomic_load(&l.puts_ok), atomic_load(&l.puts_failed), atomic_load(&l.gets_ok),
           atomic_load(&l.gets_failed), atomic_load(&l.locks_ok));
    CHECK(atomic_load(&l.locks_ok) > 0, "no lock cycle succeeded");

    if (held)
        CHECK(imi_coord_unlock(held, NULL) == IMI_OK, "unlock of the held lock: %s",
              imi_error_message());
    if (reg)
        imi_coord_deregister(reg, NULL);
    imi_coord_free(c);
    imi_coord_free(c2);
    imi_app_free(app);
    imi_app_free(app2);

    qsort(times, (size_t)measured, sizeof *times, cmp_ll);
    qsort(wtimes, (size_t)measured, sizeof *wtimes, cmp_ll);
    for (int k = 0; k < 2; k++) {
        int64_t *t = k ? wtimes : times;
        printf("failover, kill -9 of the leader to the first successful write (%s):",
               k ? "load writer" : "probe");
        for (int i = 0; i < measured; i++)
            printf(" %lld ms", (long long)t[i]);
        if (measured)
            printf("; median %lld ms\n", (long long)t[measured / 2]);
        else
            printf(" none\n");
    }
    free(times);
    free(wtimes);
    free(live.revs);
    free(replay.revs);
    if (failures)
        fprintf(stderr, "%d check(s) failed\n", failures);
    return failures ? 1 : 0;
}
