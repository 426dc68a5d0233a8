/* The NATS mq driver: open (connection options in nats_conn.c, JetStream names in
 * nats_names.c), publish (core NATS: confirmed by a flush round trip; JetStream: by the
 * stream's publish acknowledgement) and async publish (core NATS completions in nats_done.c,
 * JetStream acknowledgements in nats_acks.c). Subscriptions are in nats_sub.c.
 *
 * Header values travel as they are when they are printable text; other values (binary,
 * empty, or starting with the marker) travel as NATS_HDR_MARK followed by their hex. An
 * empty value is never sent as one: nats.c 3.4 misreads the header after it. */
#include <dlfcn.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "nats_mq.h"

static const imi_option_spec nats_options[] = {
    [OPT_URL] = { .name = "url", .type = IMI_OPT_STRING, .default_value = "nats://127.0.0.1:4222",
                  .help = "server URL(s), comma-separated" },
    [OPT_JETSTREAM] = { .name = "jetstream", .type = IMI_OPT_BOOL, .default_value = "false",
                        .help = "true: durable JetStream streams and consumers; false: core NATS" },
    [OPT_STREAM_PREFIX] = { .name = "stream_prefix", .type = IMI_OPT_STRING,
                            .default_value = "IMI_",
                            .help = "JetStream: stream names are this plus the topic, '.' as \"_d\" and "
                                    "'_' as \"__\" (at most 54 of [A-Za-z0-9_-])" },
    [OPT_STORAGE] = { .name = "storage", .type = IMI_OPT_STRING, .default_value = "file",
                      .help = "JetStream stream storage: file or memory" },
    [OPT_ACK_WAIT] = { .name = "ack_wait", .type = IMI_OPT_DURATION, .default_value = "30s",
                       .help = "JetStream: an unacknowledged delivery is resent after this" },
    [OPT_RECONNECT_WAIT] = { .name = "reconnect_wait", .type = IMI_OPT_DURATION,
                             .default_value = "100ms", .help = "wait between reconnect attempts" },
    [OPT_MAX_PENDING] = { .name = "max_pending", .type = IMI_OPT_INT, .default_value = "65536",
                          .help = "async publishes in flight at most before publish waits" },
    [OPT_REPLICAS] = { .name = "replicas", .type = IMI_OPT_INT, .default_value = "1",
                       .help = "JetStream: copies of each stream the driver creates (1 to 5; "
                               "3 on a cluster of 3)" },
    [OPT_TLS] = { .name = "tls", .type = IMI_OPT_BOOL, .default_value = "false",
                  .help = "TLS to every server (implied by tls:// URLs and by ca_file)" },
    [OPT_CA_FILE] = { .name = "ca_file", .type = IMI_OPT_PATH,
                      .help = "PEM file of the CAs that sign the servers' certificates" },
    [OPT_CERT_FILE] = { .name = "cert_file", .type = IMI_OPT_PATH,
                        .help = "PEM client certificate (with key_file) for servers that verify "
                                "clients" },
    [OPT_KEY_FILE] = { .name = "key_file", .type = IMI_OPT_PATH,
                       .help = "PEM private key of cert_file" },
    [OPT_TLS_HOSTNAME] = { .name = "tls_hostname", .type = IMI_OPT_STRING,
                           .help = "name every server certificate must carry (default: the "
                                   "host of each server's URL)" },
    [OPT_USER] = { .name = "user", .type = IMI_OPT_STRING,
                   .help = "user name (with password) for servers with authorization" },
    [OPT_PASSWORD] = { .name = "password", .type = IMI_OPT_STRING, .flags = IMI_OPT_SECRET,
                       .help = "password of user" },
    [OPT_TOKEN] = { .name = "token", .type = IMI_OPT_STRING, .flags = IMI_OPT_SECRET,
                    .help = "authorization token (instead of user and password)" },
};

const char *nats_last_error_text(char *buf, size_t cap)
{
    const char *t = nats_GetLastError(NULL);
    if (!t)
        return "";
    /* nats.c starts its text with the source location that set it: "(conn.c:2088): " */
    const char *end = t[0] == '(' ? strstr(t, "): ") : NULL;
    if (end && memchr(t, ':', (size_t)(end - t)))
        t = end + 3;
    /* and some texts end with a library error string that was NULL */
    size_t n = strlen(t);
    if (n >= 8 && !strcmp(t + n - 8, ": (null)"))
        n -= 8;
    snprintf(buf, cap, "%.*s", (int)n, t);
    return buf;
}

int nats_error(const nats_mq *n, natsStatus s, const char *what)
{
    int code;
    switch (s) {
    case NATS_TIMEOUT:
        code = IMI_ETIMEDOUT;
        break;
    case NATS_NO_SERVER:
    case NATS_CONNECTION_CLOSED:
    case NATS_CONNECTION_DISCONNECTED:
    case NATS_STALE_CONNECTION:
    case NATS_IO_ERROR:
    case NATS_NO_RESPONDERS:
    case NATS_SLOW_CONSUMER:
        code = IMI_EUNAVAILABLE;
        break;
    case NATS_NO_MEMORY:
        code = IMI_ENOMEM;
        break;
    case NATS_SSL_ERROR:
    case NATS_CONNECTION_AUTH_FAILED:
    case NATS_NOT_PERMITTED:
        code = IMI_ECONFIG;    /* a certificate or credential the server refused */
        break;
    case NATS_INVALID_ARG:
    case NATS_INVALID_SUBJECT:
    case NATS_MAX_PAYLOAD:
        code = IMI_EINVALID;
        break;
    default:
        code = IMI_EDRIVER;
    }
    char buf[256];
    const char *last = nats_last_error_text(buf, sizeof buf), *text = natsStatus_GetText(s);
    bool more = *last && strcmp(last, text);   /* often the status' text again */
    return n->host->error(code, (long)s, "nats: %s: %s%s%s", what, text, more ? ": " : "",
                          more ? last : "");
}

/* ---- driver ---------------------------------------------------------------------- */

/* nats.c keeps library-wide threads (timers, message delivery) alive after the last
 * connection is destroyed; unloading this driver, and libnats with it, under them would
 * crash. Once opened, the driver stays loaded. */
static void pin_self(void)
{
    Dl_info info;
    if (dladdr((void *)pin_self, &info) && info.dli_fname)
        dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
}

static int nats_open(void *st, const imi_driver_env *env)
{
    static pthread_once_t pinned = PTHREAD_ONCE_INIT;
    pthread_once(&pinned, pin_self);
    nats_mq *n = st;
    n->env = env;
    n->host = env->host;
    n->jetstream = env->opts[OPT_JETSTREAM].i;
    pthread_mutex_init(&n->lock, NULL);
    pthread_cond_init(&n->idle, NULL);
    pthread_cond_init(&n->wake, NULL);
    const char *storage = env->opts[OPT_STORAGE].str;
    if (strcmp(storage, "file") && strcmp(storage, "memory"))
        return n->host->error(IMI_ECONFIG, 0, "[%s] storage must be file or memory, not '%s'",
                              env->instance, storage);
    if (env->opts[OPT_MAX_PENDING].i < 1)
        return n->host->error(IMI_ECONFIG, 0, "[%s] max_pending must be positive", env->instance);
    long replicas = (long)env->opts[OPT_REPLICAS].i;
    if (replicas < 1 || replicas > 5)
        return n->host->error(IMI_ECONFIG, 0, "[%s] replicas must be 1 to 5, not %ld",
                              env->instance, replicas);
    int rc = nats_check_prefix(n, env->opts[OPT_STREAM_PREFIX].str);
    if (rc || (rc = nats_make_options(n)) || (rc = nats_connect(n, &n->nc)))
        return rc;
    natsStatus s;
    if (n->jetstream) {
        jsOptions jo;
        jsOptions_Init(&jo);
        jo.Wait = env->default_timeout_ms;
        if ((s = natsConnection_JetStream(&n->js, n->nc, &jo)) != NATS_OK)
            return nats_error(n, s, "JetStream context");
    }
    return IMI_OK;
}

static void nats_close(void *st)
{
    nats_mq *n = st;
    /* JetStream publishes never acknowledged fail now: every completion runs. */
    nats_acks_close(n);
    /* Core NATS publishes: the last flush confirms them, or they fail with IMI_ECLOSED. */
    nats_done_close(n);
    if (n->js)
        jsCtx_Destroy(n->js);
    if (n->nc) {
        natsConnection_Close(n->nc);
        natsConnection_Destroy(n->nc);
    }
    natsOptions_Destroy(n->opts);
    for (size_t i = 0; i < n->n_streams; i++)
        free(n->streams[i]);
    free(n->streams);
    pthread_cond_destroy(&n->wake);
    pthread_cond_destroy(&n->idle);
    pthread_mutex_destroy(&n->lock);
}

static int nats_ping(void *st, const imi_ctx *ctx)
{
    nats_mq *n = st;
    int64_t ms = n->host->ctx_remaining_ms(ctx, n->env->default_timeout_ms);
    natsStatus s = natsConnection_FlushTimeout(n->nc, ms > 0 ? ms : 1);
    return s == NATS_OK ? IMI_OK : nats_error(n, s, "ping");
}

/* ---- producer -------------------------------------------------------------------- */

/* The header value as sent: the text itself, or the marker and hex (see above). */
static char *encode_value(const imi_mq_header *h, char *small, size_t cap)
{
    const unsigned char *v = h->value;
    bool plain = h->len > 0 && !(h->len >= strlen(NATS_HDR_MARK) &&
                                 !memcmp(v, NATS_HDR_MARK, strlen(NATS_HDR_MARK)));
    for (size_t j = 0; plain && j < h->len; j++)
        plain = v[j] >= 32 && v[j] <= 126;
    size_t need = plain ? h->len + 1 : strlen(NATS_HDR_MARK) + 2 * h->len + 1;
    char *out = need <= cap ? small : malloc(need);
    if (!out)
        return NULL;
    if (plain) {
        memcpy(out, v, h->len);
        out[h->len] = '\0';
        return out;
    }
    size_t o = (size_t)sprintf(out, "%s", NATS_HDR_MARK);
    for (size_t j = 0; j < h->len; j++)
        o += (size_t)sprintf(out + o, "%02x", v[j]);
    return out;
}

int nats_make_msg(nats_mq *n, const imi_mq_msg *m, const char *reply, natsMsg **out)
{
    natsStatus s = natsMsg_Create(out, m->topic, reply, m->body, (int)m->body_len);
    for (size_t i = 0; s == NATS_OK && i < m->n_headers; i++) {
        char small[256], *v = encode_value(&m->headers[i], small, sizeof small);
        if (!v) {
            s = NATS_NO_MEMORY;
            break;
        }
        s = natsMsgHeader_Add(*out, m->headers[i].name, v);
        if (v != small)
            free(v);
    }
    /* The key travels in a header: NATS messages have none. */
    if (s == NATS_OK && m->key) {
        imi_mq_header kh = { NATS_KEY_HEADER, m->key, m->key_len };
        char small[256], *k = encode_value(&kh, small, sizeof small);
        s = k ? natsMsgHeader_Set(*out, NATS_KEY_HEADER, k) : NATS_NO_MEMORY;
        if (k != small)
            free(k);
    }
    if (s != NATS_OK) {
        natsMsg_Destroy(*out);
        *out = NULL;
        return nats_error(n, s, "building the message");
    }
    return IMI_OK;
}

/* While a clustered stream elects a new leader (its old one died), nobody answers its
 * subject and the server stores nothing: such a publish is sent again, every 50 ms until
 * the deadline, without risk of a duplicate. */
static natsStatus js_publish_sync(nats_mq *n, const imi_ctx *ctx, natsMsg *msg, int64_t ms)
{
    int64_t deadline = n->host->mono_ns() + ms * 1000000;
    for (;;) {
        jsPubOptions po;
        jsPubOptions_Init(&po);
        po.MaxWait = ms > 0 ? ms : 1;
        jsErrCode jerr = 0;
        natsStatus s = js_PublishMsg(NULL, n->js, msg, &po, &jerr);
        ms = (deadline - n->host->mono_ns()) / 1000000;
        if (s != NATS_NO_RESPONDERS || ms < 60 || n->host->ctx_canceled(ctx))
            return s;
        struct timespec pause = { 0, 50000000 };
        nanosleep(&pause, NULL);
        ms -= 50;
    }
}

static int nats_publish(void *st, const imi_ctx *ctx, const imi_mq_msg *m)
{
    nats_mq *n = st;
    int64_t ms = n->host->ctx_remaining_ms(ctx, n->env->default_timeout_ms);
    if (n->jetstream) {
        int rc = nats_ensure_stream(n, n->js, m->topic);
        if (rc)
            return rc;
    }
    natsMsg *msg = NULL;
    int rc = nats_make_msg(n, m, NULL, &msg);
    if (rc)
        return rc;
    natsStatus s;
    if (n->jetstream) {
        s = js_publish_sync(n, ctx, msg, ms);
    } else {
        s = natsConnection_PublishMsg(n->nc, msg);
        if (s == NATS_OK)
            s = natsConnection_FlushTimeout(n->nc, ms > 0 ? ms : 1);
    }
    natsMsg_Destroy(msg);
    return s == NATS_OK ? IMI_OK : nats_error(n, s, "publish");
}

static int nats_publish_async(void *st, const imi_ctx *ctx, const imi_mq_msg *m,
                              const imi_mq_done *done)
{
    nats_mq *n = st;
    int rc;
    if (n->jetstream)
        return (rc = nats_ensure_stream(n, n->js, m->topic)) ? rc
                                                             : nats_acks_publish(n, ctx, m, done);
    /* Without headers or key there is no message object to build. */
    natsStatus s;
    if (!m->n_headers && !m->key) {
        s = natsConnection_Publish(n->nc, m->topic, m->body, (int)m->body_len);
    } else {
        natsMsg *msg = NULL;
        if ((rc = nats_make_msg(n, m, NULL, &msg)))
            return rc;
        s = natsConnection_PublishMsg(n->nc, msg);
        natsMsg_Destroy(msg);
    }
    if (s != NATS_OK)
        return nats_error(n, s, "publish");
    /* Queued after the publish returned: the flush that takes it from the queue comes
     * after the message. */
    return nats_done_queue(n, done);
}

static int nats_flush(void *st, const imi_ctx *ctx)
{
    return nats_done_flush(st, ctx);
}

static const imi_mq_producer_ops nats_producer = {
    .size = sizeof(imi_mq_producer_ops),
    .p_publish = nats_publish,
    .p_publish_async = nats_publish_async,
    .p_flush = nats_flush,
};

static const imi_mq_sub_ops nats_sub_ops = {
    .size = sizeof(imi_mq_sub_ops),
    .s_state_size = sizeof(nats_sub),
    .s_open = nats_sub_open,
    .s_close = nats_sub_close,
};

/* Core NATS keeps nothing for a group with no member; JetStream does. Neither keeps
 * per-key order across the members of a queue group. */
static uint64_t nats_caps(void *st)
{
    const nats_mq *n = st;
    return IMI_MQ_CAP_ASYNC | (n->jetstream ? IMI_MQ_CAP_DURABLE : 0);
}

static const imi_mq_driver nats_vtable = {
    .size = sizeof(imi_mq_driver),
    .open = nats_open,
    .close = nats_close,
    .ping = nats_ping,
    .producer = &nats_producer,
    .sub = &nats_sub_ops,
    .caps = nats_caps,
};

static const imi_driver_desc nats_desc = {
    .size = sizeof(imi_driver_desc),
    .abi_major = IMI_ABI_MAJOR,
    .abi_minor = IMI_ABI_MINOR,
    .kind = IMI_KIND_MQ,
    .name = "nats",
    .version = "1.0.0",
    .description = "NATS through nats.c: core subjects and queue groups, or JetStream "
                   "streams and durable consumers (jetstream = true)",
    .caps = IMI_MQ_CAP_ASYNC | IMI_MQ_CAP_DURABLE,
    .options = nats_options,
    .n_options = IMI_COUNT_OF(nats_options),
    .state_size = sizeof(nats_mq),
    .vtable = &nats_vtable,
};

IMI_DRIVER_DEFINE(nats_desc)
