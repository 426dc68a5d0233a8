/* clog buffered and async sinks: nothing lost at close, exit or a fatal signal, WARN
 * flushed at once, lines never split, async block never drops, async drop counts. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include "iminfra/app.h"
#include "iminfra/clog.h"
#include "iminfra/config.h"
#include "iminfra/error.h"
#include "test_clog_util.h"

TestSuite(clog_sinks, .init = clog_setup, .fini = clog_teardown, .timeout = 60);

static imi_logger *open_sink(size_t buffer, int64_t interval_ms, bool async,
                             imi_log_on_full on_full, const char *out)
{
    imi_log_options o = { .service = "svc", .level = IMI_LOG_DEBUG, .output = out,
                          .buffer_bytes = buffer, .flush_interval_ms = interval_ms,
                          .async = async, .on_full = on_full };
    imi_logger *lg = NULL;
    int rc = imi_logger_open(&o, &lg);
    cr_assert_eq(rc, IMI_OK, "%s", imi_error_message());
    return lg;
}

static size_t lines_now(void)
{
    return clog_each_line(clog_path, NULL, NULL);
}

/* Checks that line i of each thread comes once and in order; pad makes long lines. */
typedef struct seqs {
    long next[8];
    size_t dropped_lines;
    uint64_t dropped;
} seqs;

static void check_seq(json_t *j, void *arg)
{
    seqs *s = arg;
    json_t *d = json_object_get(j, "dropped");
    if (d) {
        cr_assert_str_eq(clog_str(j, "level"), "warn");
        s->dropped += (uint64_t)json_integer_value(d);
        s->dropped_lines++;
        return;
    }
    long th = (long)json_integer_value(json_object_get(j, "th"));
    long i = (long)json_integer_value(json_object_get(j, "i"));
    cr_assert(th >= 0 && th < 8);
    cr_assert_geq(i, s->next[th], "thread %ld line %ld after %ld", th, i, s->next[th]);
    s->next[th] = i + 1;
}

typedef struct job {
    imi_logger *lg;
    int th;
    long lines;
} job;

static char pad[3000];

static void *work(void *arg)
{
    job *j = arg;
    for (long i = 0; i < j->lines; i++) {
        size_t n = (size_t)((i * 7919 + j->th * 31) % 2900);
        IMI_INFO(j->lg, NULL, "w", IMI_FINT("th", j->th), IMI_FINT("i", i),
                 IMI_FBYTES("pad", pad, n));
    }
    return NULL;
}

static void run_threads(imi_logger *lg, int n, long lines)
{
    memset(pad, 'p', sizeof pad);
    pthread_t t[8];
    job jobs[8];
    for (int i = 0; i < n; i++) {
        jobs[i] = (job){ .lg = lg, .th = i, .lines = lines };
        cr_assert_eq(pthread_create(&t[i], NULL, work, &jobs[i]), 0);
    }
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
}

Test(clog_sinks, buffered_holds_lines_until_warn_and_close)
{
    imi_logger *lg = open_sink(64 * 1024, 60000, false, IMI_LOG_BLOCK, clog_path);
    for (int i = 0; i < 50; i++)
        IMI_INFO(lg, NULL, "held", IMI_FINT("i", i));
    cr_assert_eq(lines_now(), 0, "INFO lines written before a flush");
    IMI_WARN(lg, NULL, "now", IMI_FINT("i", 50));
    cr_assert_eq(lines_now(), 51, "a WARN line did not flush the buffer");
    IMI_INFO(lg, NULL, "held", IMI_FINT("i", 51));
    IMI_DEBUG(lg, NULL, "held", IMI_FINT("i", 52));
    cr_assert_eq(lines_now(), 51);
    imi_logger_free(lg);
    cr_assert_eq(lines_now(), 53, "close lost lines");
}

/* The async writer sleeps while the queue is short and is woken by a WARN line alone. */
Test(clog_sinks, async_holds_lines_until_warn)
{
    imi_logger *lg = open_sink(64 * 1024, 60000, true, IMI_LOG_BLOCK, clog_path);
    for (int i = 0; i < 50; i++)
        IMI_INFO(lg, NULL, "held", IMI_FINT("i", i));
    usleep(100000);
    cr_assert_eq(lines_now(), 0, "INFO lines written before a WARN, a full queue or the interval");
    IMI_WARN(lg, NULL, "now", IMI_FINT("i", 50));
    size_t n = 0;
    for (int i = 0; i < 200 && (n = lines_now()) < 51; i++)
        usleep(10000);
    cr_assert_eq(n, 51, "a WARN line did not wake the writer within 2 s");
    IMI_INFO(lg, NULL, "held", IMI_FINT("i", 51));
    imi_logger_free(lg);
    cr_assert_eq(lines_now(), 52, "close lost lines");
}

Test(clog_sinks, buffered_flushes_on_interval)
{
    imi_logger *lg = open_sink(64 * 1024, 20, false, IMI_LOG_BLOCK, clog_path);
    IMI_INFO(lg, NULL, "tick", IMI_FINT("i", 1));
    size_t n = 0;
    for (int i = 0; i < 200 && (n = lines_now()) == 0; i++)
        usleep(10000);
    cr_assert_eq(n, 1, "a 20 ms flush interval left the line unwritten for 2 s");
    imi_logger_free(lg);
}

/* A child logs and ends the way given; the parent finds every line in the file. */
static void child_ends(bool async, int how)
{
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        if (how)
            signal(how, SIG_DFL); /* a handler the test runner may have set would stay */
        imi_logger *lg = open_sink(64 * 1024, 60000, async, IMI_LOG_BLOCK, clog_path);
        for (int i = 0; i < 1000; i++)
            IMI_INFO(lg, NULL, "before the end", IMI_FINT("th", 0), IMI_FINT("i", i));
        if (how == 0)
            exit(0);
        imi_logger_free(lg);
        lg = open_sink(64 * 1024, 60000, async, IMI_LOG_BLOCK, clog_path);
        for (int i = 1000; i < 2000; i++)
            IMI_INFO(lg, NULL, "before the end", IMI_FINT("th", 0), IMI_FINT("i", i));
        /* Async: let the writer finish a batch it may be writing (a write(2) in flight
         * when the process dies can be cut); what is still queued is the handler's. */
        if (async)
            usleep(200000);
        if (how == SIGSEGV)
            raise(SIGSEGV);
        else
            abort();
        _exit(3);
    }
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    if (how == 0)
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
    else
        cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == how, "not killed by %d: status %d",
                  how, st);
    seqs s = { .next = { 0 } };
    size_t n = clog_each_line(clog_path, check_seq, &s);
    cr_assert_eq(n, how == 0 ? 1000u : 2000u, "%zu lines in the file", n);
}

Test(clog_sinks, buffered_written_at_exit) { child_ends(false, 0); }
Test(clog_sinks, async_written_at_exit) { child_ends(true, 0); }
Test(clog_sinks, buffered_written_before_abort) { child_ends(false, SIGABRT); }
Test(clog_sinks, buffered_written_before_segv) { child_ends(false, SIGSEGV); }
Test(clog_sinks, async_written_before_abort) { child_ends(true, SIGABRT); }

Test(clog_sinks, buffered_lines_whole_under_threads)
{
    imi_logger *lg = open_sink(8192, 5, false, IMI_LOG_BLOCK, clog_path);
    run_threads(lg, 4, 3000);
    imi_logger_free(lg);
    seqs s = { .next = { 0 } };
    cr_assert_eq(clog_each_line(clog_path, check_seq, &s), 12000);
}

Test(clog_sinks, async_block_never_drops)
{
    imi_logger *lg = open_sink(8192, 5, true, IMI_LOG_BLOCK, clog_path);
    run_threads(lg, 4, 5000);
    imi_logger_free(lg);
    seqs s = { .next = { 0 } };
    cr_assert_eq(clog_each_line(clog_path, check_seq, &s), 20000);
    cr_assert_eq(s.dropped_lines, 0);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(s.next[i], 5000);
}

typedef struct drain {
    int fd;
    size_t got;
} drain;

static void *drain_fifo(void *arg)
{
    drain *d = arg;
    FILE *out = fopen(clog_path, "w");
    char buf[65536];
    ssize_t n;
    while ((n = read(d->fd, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
        if (n > 0)
            d->got += fwrite(buf, 1, (size_t)n, out);
    fclose(out);
    return NULL;
}

/* The writer is stuck on a FIFO nobody reads: the queue fills and lines are dropped,
 * counted, and reported once the reader starts. */
Test(clog_sinks, async_drop_counts_and_reports)
{
    char fifo[160];
    snprintf(fifo, sizeof fifo, "%s/fifo", clog_dir);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    int rfd = open(fifo, O_RDONLY | O_NONBLOCK);
    cr_assert_geq(rfd, 0);
    imi_logger *lg = open_sink(8192, 5, true, IMI_LOG_DROP, fifo);
    run_threads(lg, 2, 2000);
    fcntl(rfd, F_SETFL, 0);
    drain d = { .fd = rfd };
    pthread_t t;
    pthread_create(&t, NULL, drain_fifo, &d);
    imi_logger_free(lg);
    pthread_join(t, NULL);
    close(rfd);
    seqs s = { .next = { 0 } };
    size_t n = clog_each_line(clog_path, check_seq, &s);
    cr_assert_gt(s.dropped, 0, "nothing dropped");
    cr_assert_geq(s.dropped_lines, 1, "drops not reported");
    cr_assert_eq(n - s.dropped_lines + s.dropped, 4000, "%zu lines, %zu reports, %llu dropped",
                 n, s.dropped_lines, (unsigned long long)s.dropped);
}

static void expect_config_error(const char *ini, const char *want)
{
    imi_config *cfg;
    cr_assert_eq(imi_config_parse(ini, "t.ini", ".", &cfg), IMI_OK);
    imi_app *app = NULL;
    int rc = imi_app_open_config(cfg, &app);
    cr_assert_neq(rc, IMI_OK, "accepted: %s", ini);
    cr_assert(strstr(imi_error_message(), want), "error '%s' lacks '%s'", imi_error_message(),
              want);
}

Test(clog_sinks, config_settings_range_checked)
{
    expect_config_error("[log]\nlevel = info\nbuffer = 4k\n", "t.ini:3: [log] buffer");
    expect_config_error("[log]\nbuffer = 65M\n", "t.ini:2: [log] buffer");
    expect_config_error("[log]\nbuffer = lots\n", "t.ini:2");
    expect_config_error("[log]\n\nflush_interval = 0ms\n", "t.ini:3: [log] flush_interval");
    expect_config_error("[log]\nflush_interval = 61s\n", "t.ini:2: [log] flush_interval");
    expect_config_error("[log]\nasync = maybe\n", "t.ini:2");
    expect_config_error("[log]\non_full = wait\n", "t.ini:2: [log] on_full");
    cr_assert_neq(imi_logger_open(&(imi_log_options){ .buffer_bytes = 100 }, &(imi_logger *){ 0 }),
                  IMI_OK);
    cr_assert_neq(imi_logger_open(&(imi_log_options){ .flush_interval_ms = -1 },
                                  &(imi_logger *){ 0 }), IMI_OK);
}

Test(clog_sinks, config_opens_async_file)
{
    char ini[512];
    snprintf(ini, sizeof ini, "[log]\noutput = %s\nbuffer = 64k\nflush_interval = 200ms\n"
             "async = true\non_full = drop\n", clog_path);
    imi_config *cfg;
    cr_assert_eq(imi_config_parse(ini, "t.ini", ".", &cfg), IMI_OK);
    imi_app *app = NULL;
    cr_assert_eq(imi_app_open_config(cfg, &app), IMI_OK, "%s", imi_error_message());
    IMI_INFO(imi_app_logger(app), NULL, "hello", IMI_FINT("th", 0), IMI_FINT("i", 0));
    imi_app_free(app);
    cr_assert_eq(lines_now(), 1);
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* LeakSanitizer checks for leaks at exit by locking the whole allocator; in a child forked
 * while another thread of the parent (clog's flush timer) held one of its locks, that
 * never returns. This hook, which LSan calls, skips the check in such a child. */
static volatile int in_forked_child;
int __lsan_is_turned_off(void);
int __lsan_is_turned_off(void) { return in_forked_child; }

/* A forked child that exits leaves the parent's held lines alone: not written twice, and
 * no wait for a writer thread the child does not have. */
static void fork_child_exits(bool async)
{
    imi_logger *lg = open_sink(64 * 1024, 60000, async, IMI_LOG_BLOCK, clog_path);
    for (int i = 0; i < 10; i++)
        IMI_INFO(lg, NULL, "held", IMI_FINT("th", 0), IMI_FINT("i", i));
    double t0 = mono_s();
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        in_forked_child = 1;
        exit(0);
    }
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    double took = mono_s() - t0;
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    cr_assert_lt(took, 1.0, "the child took %.2f s to exit", took);
    imi_logger_free(lg);
    seqs s = { .next = { 0 } };
    cr_assert_eq(clog_each_line(clog_path, check_seq, &s), 10);
}

Test(clog_sinks, forked_child_buffered_exit) { fork_child_exits(false); }
Test(clog_sinks, forked_child_async_exit) { fork_child_exits(true); }
