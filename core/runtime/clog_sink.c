/* clog output: stderr, stdout or an append-only file with size-based rotation; the
 * buffered and async modes live in clog_buffer.c. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include "clog_internal.h"
#include "iminfra/error.h"
#include "util.h"

static int open_file(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

int imi_clog_sink_open(imi_clog_sink *s, const imi_clog_sink_opts *o)
{
    const char *output = o->output;
    memset(s, 0, sizeof *s);
    atomic_init(&s->size, 0);
    atomic_init(&s->dropped, 0);
    s->fd = -1;
    s->drop_line = o->drop_line;
    s->drop_arg = o->drop_arg;
    if (!output || strcmp(output, "stderr") == 0) {
        s->fd = STDERR_FILENO;
    } else if (strcmp(output, "stdout") == 0) {
        s->fd = STDOUT_FILENO;
    } else if (strcmp(output, "discard") == 0) {
        s->discard = true;
        return IMI_OK;
    } else if (!*output) {
        return imi_error_set(IMI_EINVALID, 0, "log output: empty path");
    } else {
        s->path = imi_strndup(output, strlen(output));
        if (!s->path)
            return imi_error_set(IMI_ENOMEM, 0, "log output: out of memory");
        s->fd = open_file(output);
        if (s->fd < 0) {
            int e = errno;
            free(s->path);
            s->path = NULL;
            return imi_error_set(IMI_EUNAVAILABLE, e, "log output %s: %s", output,
                                 strerror(e));
        }
        struct stat st;
        if (fstat(s->fd, &st) == 0)
            atomic_store(&s->size, (uint64_t)st.st_size);
        s->owned = true;
        s->rotate_bytes = o->rotate_bytes;
        s->keep = o->keep ? o->keep : 3;
        pthread_mutex_init(&s->rot_mu, NULL);
    }
    if (o->buffer || o->async) {
        int rc = imi_clog_buffer_start(s, o); /* cleans up after itself on failure */
        if (rc) {
            imi_clog_sink_close(s);
            return rc;
        }
        s->batched = true;
    }
    return IMI_OK;
}

/* path.(keep-1) -> path.keep ... path -> path.1, then a fresh path onto the same fd. */
static void rotate_files(imi_clog_sink *s)
{
    size_t n = strlen(s->path) + 16;
    char from[n], to[n];
    for (unsigned i = s->keep; i > 1; i--) {
        snprintf(from, n, "%s.%u", s->path, i - 1);
        snprintf(to, n, "%s.%u", s->path, i);
        rename(from, to); /* a missing path.(i-1) is normal */
    }
    snprintf(to, n, "%s.1", s->path);
    if (rename(s->path, to) != 0 && errno != ENOENT)
        return;
    int fd = open_file(s->path);
    if (fd < 0)
        return;
    dup2(fd, s->fd);
    close(fd);
}

static void maybe_rotate(imi_clog_sink *s, size_t n)
{
    pthread_mutex_lock(&s->rot_mu);
    uint64_t cur = atomic_load(&s->size);
    /* Another thread may have rotated while this one waited. */
    if (cur > 0 && cur + n > s->rotate_bytes) {
        rotate_files(s);
        atomic_store(&s->size, 0);
    }
    pthread_mutex_unlock(&s->rot_mu);
}

void imi_clog_fd_write(imi_clog_sink *s, const char *data, size_t n)
{
    if (s->rotate_bytes) {
        uint64_t cur = atomic_load_explicit(&s->size, memory_order_relaxed);
        if (cur > 0 && cur + n > s->rotate_bytes)
            maybe_rotate(s, n);
        atomic_fetch_add_explicit(&s->size, n, memory_order_relaxed);
    }
    /* O_APPEND keeps concurrent writes whole. A short write (a pipe, a full disk) gets
     * the rest written rather than a cut line. */
    while (n > 0) {
        ssize_t w = write(s->fd, data, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        data += w;
        n -= (size_t)w;
    }
}

/* One writev(2) for the batch; after a short write, the rest from where it stopped.
 * Async-signal-safe (the fatal-signal path writes the async ring with it). */
void imi_clog_writev_all(int fd, struct iovec *iov, int cnt)
{
    while (cnt > 0) {
        ssize_t w = writev(fd, iov, cnt > IOV_MAX ? IOV_MAX : cnt);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        if (w == 0)
            return;
        while (cnt > 0 && (size_t)w >= iov->iov_len) {
            w -= (ssize_t)iov->iov_len;
            iov++;
            cnt--;
        }
        if (cnt > 0) {
            iov->iov_base = (char *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
}

void imi_clog_fd_writev(imi_clog_sink *s, struct iovec *iov, int cnt, size_t n)
{
    if (s->rotate_bytes) {
        uint64_t cur = atomic_load_explicit(&s->size, memory_order_relaxed);
        if (cur > 0 && cur + n > s->rotate_bytes)
            maybe_rotate(s, n);
        atomic_fetch_add_explicit(&s->size, n, memory_order_relaxed);
    }
    imi_clog_writev_all(s->fd, iov, cnt);
}

void imi_clog_sink_write(imi_clog_sink *s, const char *line, size_t n, imi_log_level level)
{
    if (s->batched)
        imi_clog_buffer_write(s, line, n, level);
    else if (!s->discard)
        imi_clog_fd_write(s, line, n); /* one write(2) per line */
}

void imi_clog_sink_close(imi_clog_sink *s)
{
    if (s->batched)
        imi_clog_buffer_stop(s);
    s->batched = false;
    if (s->owned) {
        close(s->fd);
        pthread_mutex_destroy(&s->rot_mu);
    }
    free(s->path);
    s->path = NULL;
    s->owned = false;
}
