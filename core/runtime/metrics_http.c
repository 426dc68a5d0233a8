/* The optional [metrics] endpoint: GET /metrics answers imi_metrics_write's text, from
 * libmicrohttpd's own thread. Built only when libmicrohttpd was found (IMI_HAVE_MHD). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "iminfra/error.h"
#include "iminfra/metrics.h"
#include "metrics_http.h"
#include "uid_internal.h"

#ifdef IMI_HAVE_MHD
#include <netdb.h>
#include <unistd.h>
#include <sys/socket.h>
#include <microhttpd.h>

struct imi_metrics_http {
    struct MHD_Daemon *d;
    int port;
    unsigned fork_gen;     /* imi_fork_generation() at start */
};

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
    (void)version; (void)upload; (void)upload_size; (void)con_cls;
    imi_app *app = cls;
    struct MHD_Response *r;
    unsigned status = MHD_HTTP_OK;
    char *body = NULL;
    size_t len = 0;
    if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
        status = MHD_HTTP_METHOD_NOT_ALLOWED;
        body = strdup("only GET\n");
    } else if (strcmp(url, "/metrics")) {
        status = MHD_HTTP_NOT_FOUND;
        body = strdup("metrics are at /metrics\n");
    } else {
        FILE *f = open_memstream(&body, &len);
        if (!f || imi_metrics_write(app, f)) {
            status = MHD_HTTP_INTERNAL_SERVER_ERROR;
            if (f)
                fclose(f);
            free(body);
            body = strdup("writing the metrics failed\n");
        } else {
            fclose(f);
        }
    }
    if (!body)
        return MHD_NO;
    if (status != MHD_HTTP_OK)
        len = strlen(body);
    r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", status == MHD_HTTP_OK
                            ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain");
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

int imi_metrics_http_start(imi_app *app, const char *host, const char *port, const char *where,
                           imi_metrics_http **out)
{
    *out = NULL;
    struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE,
                              .ai_socktype = SOCK_STREAM }, *ai = NULL;
    int grc = getaddrinfo(host, port, &hints, &ai);
    if (grc)
        return imi_error_set(IMI_ECONFIG, 0, "%s: [metrics] listen: '%s' is not an IP "
                             "address (%s)", where, host, gai_strerror(grc));
    imi_metrics_http *h = calloc(1, sizeof *h);
    if (!h) {
        freeaddrinfo(ai);
        return imi_error_set(IMI_ENOMEM, 0, "out of memory");
    }
    /* epoll (else poll), not libmicrohttpd's default select: a service with many
     * connections has descriptors past FD_SETSIZE, and select cannot wait on them. */
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    errno = 0;
    h->d = MHD_start_daemon(flags, 0, NULL, NULL, answer, app,
                            MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)16,
                            MHD_OPTION_END);
    int err = errno;
    freeaddrinfo(ai);
    if (!h->d) {
        free(h);
        return imi_error_set(IMI_EUNAVAILABLE, err, "%s: [metrics] listen: cannot listen on "
                             "%s:%s (%s)", where, host, port,
                             err ? strerror(err) : "libmicrohttpd refused");
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? info->port : atoi(port);
    h->fork_gen = imi_fork_generation();
    *out = h;
    return IMI_OK;
}

/* In a forked child the listening socket is the parent's too: MHD_stop_daemon would
 * shut it down for both and join a thread that is not in this process. The child closes
 * only its own descriptor of it, so that it does not keep the port once the parent is
 * gone; the daemon's memory and its other descriptors go with the process. */
static void forget_daemon(imi_metrics_http *h)
{
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_LISTEN_FD);
    if (info && info->listen_fd != MHD_INVALID_SOCKET)
        close(info->listen_fd);
    free(h);
}

void imi_metrics_http_stop(imi_metrics_http *h)
{
    if (!h)
        return;
    if (imi_fork_generation() != h->fork_gen) {
        forget_daemon(h);
        return;
    }
    MHD_stop_daemon(h->d);
    free(h);
}

int imi_metrics_http_port(const imi_metrics_http *h) { return h ? h->port : 0; }

#else

int imi_metrics_http_start(imi_app *app, const char *host, const char *port, const char *where,
                           imi_metrics_http **out)
{
    (void)app; (void)host; (void)port;
    *out = NULL;
    return imi_error_set(IMI_ECONFIG, 0, "%s: [metrics] listen: this build of im-infra has "
                         "no HTTP endpoint (libmicrohttpd was not found at build time)", where);
}

void imi_metrics_http_stop(imi_metrics_http *h) { (void)h; }
int imi_metrics_http_port(const imi_metrics_http *h) { (void)h; return 0; }

#endif
