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

/* Reads what the child reports until it closes the pipe or the deadline passes.
 * Returns false on timeout. */
static bool read_report(int fd, int64_t deadline, char *buf, size_t cap, size_t *len)
{
    for (;;) {
        int64_t left = deadline - now_ms();
        if (left <= 0)
            return false;
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int r = poll(&p, 1, left > 1000 ? 1000 : (int)left);
        if (r < 0 && errno != EINTR)
            return true; /* cannot poll: let waitpid tell */
        if (r <= 0)
            continue;
        char tmp[512];
        ssize_t n = read(fd, tmp, sizeof tmp);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return true;
        size_t room = cap - 1 - *len;
        size_t take = (size_t)n < room ? (size_t)n : room;
        memcpy(buf + *len, tmp, take);
        *len += take;
    }
}

/* Waits for the child to exit until the deadline. Returns false on timeout. */
static bool reap(pid_t pid, int64_t deadline, int *status)
{
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid || (r < 0 && errno != EINTR))
            return true;
        if (now_ms() >= deadline)
            return false;
        sleep_ms(10);
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
    int fds[2];
    if (pipe(fds)) {
        snprintf(msg, cap, "pipe: %s", strerror(errno));
        return false;
    }
    fflush(NULL); /* or the child would print the parent's buffered output again */
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(msg, cap, "fork: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return false;
    }
    if (pid == 0) {
        close(fds[0]);
        child(fds[1], fn, arg);
    }
    close(fds[1]);
    setpgid(pid, pid); /* also here: the group must exist before we may have to kill it */
    int64_t deadline = now_ms() + (int64_t)timeout_s * 1000;
    char report[IMI_CONF_MSG_MAX + 2];
    size_t len = 0;
    int status = 0;
    bool in_time = read_report(fds[0], deadline, report, sizeof report, &len) &&
                   reap(pid, deadline, &status);
    close(fds[0]);
    if (!in_time) {
        kill(-pid, SIGKILL);
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        snprintf(msg, cap, "timed out after %d s", timeout_s);
        return false;
    }
    report[len] = '\0';
    if (WIFSIGNALED(status)) {
        char sig[64];
        signal_text(WTERMSIG(status), sig, sizeof sig);
        if (len == 0) /* died in the work itself */
            snprintf(msg, cap, "%s", sig);
        else /* after the work reported: at exit, e.g. a sanitizer's leak report */
            snprintf(msg, cap, "%s%s%s at exit (see stderr)", report[0] == '-' ? report + 1 : "",
                     report[0] == '-' ? "; then " : "passed, then ", sig);
        return false;
    }
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (len == 0) {
        snprintf(msg, cap, "exited with status %d before reporting a result", code);
        return false;
    }
    snprintf(msg, cap, "%s", report + 1);
    if (report[0] == '+' && code != 0) {
        /* the work passed, then exit failed: a sanitizer's leak report, an atexit hook */
        snprintf(msg, cap, "passed, then exited with status %d (see stderr: a leak?)", code);
        return false;
    }
    return report[0] == '+' && code == 0;
}
