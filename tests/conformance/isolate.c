/* Running one piece of work in a child process with a deadline, so that a driver that
 * crashes or hangs fails that piece only and the caller keeps going. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* sigabbrev_np */
#endif
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "conformance.h"
#include "imi_test.h"

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

/* In the child: its own process group (so a timeout kills whatever it started), no core
 * files (a crash is the expected outcome of some cases), then the work. exit() rather
 * than _exit() so that sanitizers' leak checks run and fail the case. */
static void child(int fd, imi_conf_work_fn fn, void *arg)
{
    setpgid(0, 0);
    struct rlimit none = { 0, 0 };
    setrlimit(RLIMIT_CORE, &none);
    signal(SIGPIPE, SIG_DFL);
    char msg[IMI_CONF_MSG_MAX] = "";
    bool ok = fn(arg, msg, sizeof msg);
    fflush(NULL);
    char line[IMI_CONF_MSG_MAX + 2];
    int n = snprintf(line, sizeof line, "%c%s", ok ? '+' : '-', msg);
    write_all(fd, line, (size_t)(n < (int)sizeof line ? n : (int)sizeof line - 1));
    close(fd);
    exit(ok ? 0 : 1);
}

/* What the parent gathers from one child: its report, and from its stderr (passed on to
 * ours as it comes) the line that best says why it died: a sanitizer's "ERROR:" line,
 * else the last line. */
typedef struct watch {
    int report_fd, err_fd;          /* -1 once closed */
    char report[IMI_CONF_MSG_MAX + 2];
    size_t len;
    char line[256], why[256];
    size_t line_len;
    bool why_is_error;
} watch;

static void end_line(watch *w)
{
    if (w->line_len == 0)
        return;
    w->line[w->line_len] = '\0';
    w->line_len = 0;
    bool error = strstr(w->line, "ERROR: ") != NULL;
    if (!w->why_is_error || (error && !w->why[0])) {
        snprintf(w->why, sizeof w->why, "%s", w->line);
        w->why_is_error = error;
    }
}

static void take_stderr(watch *w, const char *p, size_t n)
{
    write_all(STDERR_FILENO, p, n);
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\n')
            end_line(w);
        else if (w->line_len < sizeof w->line - 1)
            w->line[w->line_len++] = p[i];
    }
}

static void take_report(watch *w, const char *p, size_t n)
{
    size_t room = sizeof w->report - 1 - w->len;
    size_t take = n < room ? n : room;
    memcpy(w->report + w->len, p, take);
    w->len += take;
}

/* Reads both pipes and reaps the child, until it is gone and the pipes are drained, or
 * the deadline passed (false). Reading stderr all along keeps a child that writes a long
 * report (a sanitizer's) from blocking on a full pipe. */
static bool follow(pid_t pid, watch *w, int64_t deadline, int *status)
{
    bool reaped = false;
    for (;;) {
        if (!reaped) {
            pid_t r = waitpid(pid, status, WNOHANG);
            reaped = r == pid || (r < 0 && errno != EINTR);
        }
        if (reaped && w->report_fd < 0 && w->err_fd < 0)
            return true;
        int64_t left = deadline - now_ms();
        if (left <= 0)
            return false;
        struct pollfd p[2] = { { .fd = w->report_fd, .events = POLLIN },
                               { .fd = w->err_fd, .events = POLLIN } };
        /* once reaped, take what is there: a grandchild may hold the pipes open */
        int r = poll(p, 2, reaped ? 0 : (left > 10 ? 10 : (int)left));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (reaped || r < 0)
                return reaped;
            continue;
        }
        for (int i = 0; i < 2; i++) {
            if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            char buf[4096];
            ssize_t n = read(p[i].fd, buf, sizeof buf);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                close(p[i].fd);
                *(i ? &w->err_fd : &w->report_fd) = -1;
            } else if (i) {
                take_stderr(w, buf, (size_t)n);
            } else {
                take_report(w, buf, (size_t)n);
            }
        }
    }
}

static void signal_text(int sig, char *out, size_t cap)
{
    const char *abbrev = sigabbrev_np(sig);
    if (abbrev)
        snprintf(out, cap, "killed by SIG%s", abbrev);
    else
        snprintf(out, cap, "killed by signal %d", sig);
}

bool imi_conf_isolate(imi_conf_work_fn fn, void *arg, int timeout_s, char *msg, size_t cap)
{
    int rep[2], err[2];
    if (pipe(rep)) {
        snprintf(msg, cap, "pipe: %s", strerror(errno));
        return false;
    }
    if (pipe(err)) {
        snprintf(msg, cap, "pipe: %s", strerror(errno));
        close(rep[0]);
        close(rep[1]);
        return false;
    }
    fflush(NULL); /* or the child would print the parent's buffered output again */
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(msg, cap, "fork: %s", strerror(errno));
        close(rep[0]), close(rep[1]), close(err[0]), close(err[1]);
        return false;
    }
    if (pid == 0) {
        close(rep[0]);
        close(err[0]);
        dup2(err[1], STDERR_FILENO);
        close(err[1]);
        child(rep[1], fn, arg);
    }
    close(rep[1]);
    close(err[1]);
    setpgid(pid, pid); /* also here: the group must exist before we may have to kill it */
    watch w = { .report_fd = rep[0], .err_fd = err[0] };
    int status = 0;
    bool in_time = follow(pid, &w, now_ms() + (int64_t)timeout_s * 1000, &status);
    if (w.report_fd >= 0)
        close(w.report_fd);
    if (w.err_fd >= 0)
        close(w.err_fd);
    end_line(&w);
    if (!in_time) {
        kill(-pid, SIGKILL);
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        snprintf(msg, cap, "timed out after %d s", timeout_s);
        return false;
    }
    w.report[w.len] = '\0';
    const char *said = w.len ? w.report + 1 : "";
    bool passed = w.len && w.report[0] == '+';
    char why[300] = "";
    if (w.why[0])
        snprintf(why, sizeof why, " (stderr: %s)", w.why);
    if (WIFSIGNALED(status)) {
        char sig[64];
        signal_text(WTERMSIG(status), sig, sizeof sig);
        if (w.len == 0) /* died in the work itself */
            snprintf(msg, cap, "%s%s", sig, why);
        else /* after the work reported: at exit, e.g. a sanitizer's leak report */
            snprintf(msg, cap, "%s%s%s at exit%s", passed ? "passed" : said, ", then ", sig, why);
        return false;
    }
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (w.len == 0) {
        snprintf(msg, cap, "exited with status %d before reporting a result%s", code, why);
        return false;
    }
    if (passed && code != 0) {
        /* the work passed, then exit failed: a sanitizer's leak report, an atexit hook */
        snprintf(msg, cap, "passed, then exited with status %d%s", code, why);
        return false;
    }
    snprintf(msg, cap, "%s", said);
    return passed && code == 0;
}
