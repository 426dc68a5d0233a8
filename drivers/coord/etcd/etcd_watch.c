/* Watches of the etcd driver: one thread per watch holding a streaming POST /v3/watch
 * (newline-delimited {"result":...} messages) in a curl multi handle of its own, so that
 * cancel can wake it at once. When the stream breaks, the thread reconnects (with
 * backoff, moving through the endpoints) from the revision after the last event it
 * delivered: nothing is missed or repeated. A resume point that etcd compacted meanwhile
 * is reported as one IMI_COORD_EVENT_LOST. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "etcd.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000

struct etcd_watch {
    etcd_watch *next;              /* e->watches */
    etcd *e;
    json_t *key, *range_end;       /* base64 JSON strings; range_end NULL for one key */
    imi_coord_driver_event_fn fn;
    void *ud;
    int64_t next_rev;              /* where a new stream starts; 0: from now */
    pthread_t thread;
    CURLM *multi;

    pthread_mutex_t mu;
    pthread_cond_t cond;           /* started, or stop (for the backoff sleep) */
    bool started;                  /* a first stream was created */
    int last_rc;                   /* why the last attempt failed */
    atomic_bool stop;

    /* the stream being read (thread only) */
    char *buf;
    size_t len, cap;
    bool created, end_stream, resume_now, too_big;
    bool token_rejected;           /* etcd refused the token: authenticate again */
    uint64_t token_gen;            /* the token generation of the stream */
    int rejects;                   /* streams refused for their token in a row */
    char errbuf[CURL_ERROR_SIZE];
    char last_msg[1024];           /* why the last attempt failed, for watch_start */
};

static void signal_started(etcd_watch *w)
{
    pthread_mutex_lock(&w->mu);
    w->started = true;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->mu);
}

static void deliver_events(etcd_watch *w, json_t *events)
{
    for (size_t i = 0; i < json_array_size(events); i++) {
        json_t *ev = json_array_get(events, i);
        const char *type = json_string_value(json_object_get(ev, "type"));
        char *k, *v;
        size_t kl, vl;
        imi_coord_meta m;
        if (etcd_kv_decode(w->e, json_object_get(ev, "kv"), &k, &kl, &v, &vl, &m))
            continue;
        bool del = type && !strcmp(type, "DELETE");
        imi_coord_event out = { .type = del ? IMI_COORD_EVENT_DELETE : IMI_COORD_EVENT_PUT,
                                .key = k, .key_len = kl, .value = v, .value_len = del ? 0 : vl,
                                .meta = m };
        w->fn(w->ud, &out);
        if (m.mod_rev >= w->next_rev)
            w->next_rev = m.mod_rev + 1;
        free(k);
        free(v);
    }
}

/* One message of the stream. */
static void on_message(etcd_watch *w, json_t *msg)
{
    json_t *r = json_object_get(msg, "result");
    if (!r) { /* {"error":...}: the server ends the stream */
        w->last_rc = etcd_error_from_json(w->e, json_object_get(msg, "error"), 200);
        snprintf(w->last_msg, sizeof w->last_msg, "etcd: watch: the server ended the stream");
        w->end_stream = true;
        return;
    }
    /* A refused token comes as a watch created and canceled at once. */
    if (json_is_true(json_object_get(r, "canceled")) &&
        etcd_token_rejected(json_string_value(json_object_get(r, "cancel_reason")))) {
        w->token_rejected = true;
        w->end_stream = true;
        w->last_rc = IMI_EUNAVAILABLE;
        snprintf(w->last_msg, sizeof w->last_msg, "etcd: watch: the auth token was refused");
        return;
    }
    if (json_is_true(json_object_get(r, "created"))) {
        w->created = true;
        if (w->next_rev == 0)
            w->next_rev = etcd_jint(json_object_get(r, "header"), "revision") + 1;
        signal_started(w);
    }
    deliver_events(w, json_object_get(r, "events"));
    if (json_is_true(json_object_get(r, "canceled"))) {
        int64_t compacted = etcd_jint(r, "compact_revision");
        if (compacted > 0) {
            imi_coord_event lost = { .type = IMI_COORD_EVENT_LOST,
                                     .meta = { .mod_rev = compacted } };
            w->fn(w->ud, &lost);
            w->next_rev = compacted;
            w->resume_now = true;
        }
        w->end_stream = true;
    }
}

static size_t on_data(char *ptr, size_t size, size_t n, void *ud)
{
    etcd_watch *w = ud;
    size_t add = size * n;
    /* One message (a line) may not pass max_reply_size. */
    if (add > w->e->max_reply || w->len > w->e->max_reply - add) {
        w->too_big = true;
        return 0;
    }
    if (w->len + add + 1 > w->cap) {
        size_t cap = w->cap ? w->cap : 8192;
        while (cap < w->len + add + 1)
            cap *= 2;
        char *b = realloc(w->buf, cap);
        if (!b)
            return 0;
        w->buf = b;
        w->cap = cap;
    }
    memcpy(w->buf + w->len, ptr, add);
    w->len += add;
    w->buf[w->len] = '\0';
    char *start = w->buf, *nl;
    while (!w->end_stream && (nl = memchr(start, '\n', w->len - (size_t)(start - w->buf)))) {
        json_t *msg = json_loadb(start, (size_t)(nl - start), 0, NULL);
        if (msg) {
            on_message(w, msg);
            json_decref(msg);
        }
        start = nl + 1;
    }
    w->len -= (size_t)(start - w->buf);
    memmove(w->buf, start, w->len);
    /* A short count makes curl end the transfer. */
    return w->end_stream || atomic_load(&w->stop) ? 0 : add;
}

static char *request_body(etcd_watch *w)
{
    json_t *cr = json_object();
    if (!cr)
        return NULL;
    json_object_set(cr, "key", w->key);
    if (w->range_end)
        json_object_set(cr, "range_end", w->range_end);
    if (w->next_rev > 0)
        json_object_set_new(cr, "start_revision", etcd_jint_str(w->next_rev));
    json_t *req = json_pack("{s:o}", "create_request", cr);
    char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    return body;
}

/* Holds one stream until it ends, breaks or the watch stops. */
static void stream_once(etcd_watch *w)
{
    etcd *e = w->e;
    size_t idx;
    char url[512];
    w->len = 0;
    w->created = w->end_stream = w->resume_now = w->too_big = false;
    if (e->user && (w->token_rejected || atomic_load(&e->token_gen) == 0)) {
        /* the ctx of the watch's start is gone: a bounded call of its own */
        w->token_rejected = false;
        if ((w->last_rc = etcd_authenticate(e, NULL, w->token_gen))) {
            snprintf(w->last_msg, sizeof w->last_msg, "etcd: watch: user '%s' could not "
                     "authenticate", e->user);
            return;
        }
    }
    snprintf(url, sizeof url, "%s/v3/watch", etcd_endpoint(e, &idx));
    char *body = request_body(w);
    struct curl_slist *hdrs = body ? etcd_headers(e, &w->token_gen) : NULL;
    CURL *h = hdrs ? curl_easy_init() : NULL;
    if (!h) {
        free(body);
        curl_slist_free_all(hdrs);
        w->last_rc = IMI_ENOMEM;
        snprintf(w->last_msg, sizeof w->last_msg, "out of memory");
        return;
    }
    etcd_curl_common(e, h);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    w->errbuf[0] = '\0';
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, w->errbuf);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_COPYPOSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)e->connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, w);
    free(body);
    curl_multi_add_handle(w->multi, h);
    int running = 1;
    while (running && !atomic_load(&w->stop)) {
        if (curl_multi_perform(w->multi, &running) != CURLM_OK || !running)
            break;
        curl_multi_poll(w->multi, NULL, 0, 1000, NULL);
    }
    CURLcode cc = CURLE_OK;
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(w->multi, &left)))
        if (m->msg == CURLMSG_DONE)
            cc = m->data.result;
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_multi_remove_handle(w->multi, h);
    curl_easy_cleanup(h);
    curl_slist_free_all(hdrs);
    if (atomic_load(&w->stop) || w->end_stream)
        return;
    if (w->too_big) {
        w->last_rc = IMI_EDRIVER;
        snprintf(w->last_msg, sizeof w->last_msg, "etcd: watch on %s: a message larger than "
                 "max_reply_size (%zu bytes)", url, e->max_reply);
    } else if (cc != CURLE_OK || status != 200 || !w->created) {
        etcd_endpoint_failed(e, idx);
        w->last_rc = IMI_EUNAVAILABLE;
        if (cc != CURLE_OK) {
            /* the same code and words as a unary call's failure */
            w->last_rc = etcd_curl_failure(e, cc, url, w->errbuf, NULL);
            snprintf(w->last_msg, sizeof w->last_msg, "etcd: watch on %s: %s%s", url,
                     w->last_rc == IMI_ECONFIG ? "TLS: " : "",
                     *w->errbuf ? w->errbuf : curl_easy_strerror(cc));
        } else {
            snprintf(w->last_msg, sizeof w->last_msg, "etcd: watch on %s: HTTP %ld", url, status);
        }
    } else {
        w->last_rc = IMI_EUNAVAILABLE;
        snprintf(w->last_msg, sizeof w->last_msg, "etcd: watch stream on %s ended", url);
    }
}

static void *watch_main(void *arg)
{
    etcd_watch *w = arg;
    int64_t backoff = BACKOFF_MIN_MS;
    while (!atomic_load(&w->stop)) {
        stream_once(w);
        if (w->created)
            backoff = BACKOFF_MIN_MS;
        /* A refused token is renewed at once, but only once in a row. */
        w->rejects = w->token_rejected ? w->rejects + 1 : 0;
        if (atomic_load(&w->stop) || w->resume_now || (w->token_rejected && w->rejects < 2))
            continue;
        /* Wait before reconnecting; cancel cuts the wait short. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t ns = ts.tv_nsec + backoff * 1000000;
        ts.tv_sec += ns / 1000000000;
        ts.tv_nsec = ns % 1000000000;
        pthread_mutex_lock(&w->mu);
        if (!atomic_load(&w->stop))
            pthread_cond_timedwait(&w->cond, &w->mu, &ts);
        pthread_mutex_unlock(&w->mu);
        backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
    }
    return NULL;
}

static void watch_free(etcd_watch *w)
{
    json_decref(w->key);
    json_decref(w->range_end);
    if (w->multi)
        curl_multi_cleanup(w->multi);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->mu);
    free(w->buf);
    free(w);
}

static void stop_and_join(etcd_watch *w)
{
    atomic_store(&w->stop, true);
    pthread_mutex_lock(&w->mu);
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->mu);
    curl_multi_wakeup(w->multi);
    pthread_join(w->thread, NULL);
}

/* IMI_ECONFLICT when etcd no longer has revision rev (compacted). */
static int check_revision(etcd *e, const imi_ctx *ctx, etcd_watch *w, int64_t rev)
{
    json_t *req = json_object(), *resp = NULL;
    if (!req)
        return e->host->error(IMI_ENOMEM, 0, "out of memory");
    json_object_set(req, "key", w->key);
    json_object_set_new(req, "revision", etcd_jint_str(rev));
    json_object_set_new(req, "count_only", json_true());
    int rc = etcd_call(e, ctx, "/v3/kv/range", req, ETCD_IDEMPOTENT, &resp);
    json_decref(resp);
    if (rc != IMI_ECONFLICT)
        return rc;
    /* OutOfRange is also what a future revision gives: that one is fine to watch from. */
    json_t *now = json_pack("{s:O,s:b}", "key", w->key, "count_only", 1);
    if ((rc = etcd_call(e, ctx, "/v3/kv/range", now, ETCD_IDEMPOTENT, &resp)))
        return rc;
    int64_t current = etcd_jint(json_object_get(resp, "header"), "revision");
    json_decref(resp);
    if (rev > current)
        return IMI_OK;
    return e->host->error(IMI_ECONFLICT, 0, "etcd: revision %" PRId64 " was compacted", rev);
}

int etcd_watch_start(void *st, const imi_ctx *ctx, const char *key, size_t klen, bool prefix,
                     int64_t start_rev, imi_coord_driver_event_fn fn, void *ud, void **out)
{
    etcd *e = st;
    /* A refused user or password is reported here rather than from the watch thread. */
    int rc = e->user && atomic_load(&e->token_gen) == 0 ? etcd_authenticate(e, ctx, 0) : IMI_OK;
    if (rc)
        return rc;
    etcd_watch *w = calloc(1, sizeof *w);
    if (!w)
        return e->host->error(IMI_ENOMEM, 0, "out of memory");
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cond, NULL);
    w->e = e;
    w->fn = fn;
    w->ud = ud;
    w->next_rev = start_rev;
    w->key = prefix && klen == 0 ? etcd_b64_json("", 1) : etcd_b64_json(key, klen);
    w->range_end = prefix ? etcd_range_end(key, klen) : NULL;
    w->multi = curl_multi_init();
    if (!w->key || (prefix && !w->range_end) || !w->multi) {
        watch_free(w);
        return e->host->error(IMI_ENOMEM, 0, "out of memory");
    }
    rc = start_rev > 0 ? check_revision(e, ctx, w, start_rev) : IMI_OK;
    if (rc) {
        watch_free(w);
        return rc;
    }
    if (pthread_create(&w->thread, NULL, watch_main, w)) {
        watch_free(w);
        return e->host->error(IMI_EINTERNAL, 0, "etcd: cannot start a watch thread");
    }
    /* Established when etcd confirmed the watch; until the ctx deadline otherwise. */
    int64_t deadline = e->host->ctx_deadline_ns(ctx);
    if (!deadline)
        deadline = e->host->mono_ns() + e->default_timeout_ms * 1000000;
    pthread_mutex_lock(&w->mu);
    while (!w->started && e->host->mono_ns() < deadline && !e->host->ctx_canceled(ctx)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&w->cond, &w->mu, &ts);
    }
    bool started = w->started;
    pthread_mutex_unlock(&w->mu);
    if (!started) {
        stop_and_join(w);
        rc = e->host->ctx_canceled(ctx) ? e->host->error(IMI_ECANCELED, 0, "etcd: watch canceled")
             : w->last_rc ? e->host->error(w->last_rc, 0, "%s", w->last_msg)
                          : e->host->error(IMI_ETIMEDOUT, 0, "etcd: no watch confirmation "
                                           "before the deadline");
        watch_free(w);
        return rc;
    }
    pthread_mutex_lock(&e->watch_mu);
    w->next = e->watches;
    e->watches = w;
    pthread_mutex_unlock(&e->watch_mu);
    *out = w;
    return IMI_OK;
}

void etcd_watch_cancel(void *st, void *arg)
{
    etcd *e = st;
    etcd_watch *w = arg;
    if (!w)
        return;
    pthread_mutex_lock(&e->watch_mu);
    for (etcd_watch **p = &e->watches; *p; p = &(*p)->next)
        if (*p == w) {
            *p = w->next;
            break;
        }
    pthread_mutex_unlock(&e->watch_mu);
    stop_and_join(w);
    watch_free(w);
}

void etcd_watch_cancel_all(etcd *e)
{
    for (;;) {
        pthread_mutex_lock(&e->watch_mu);
        etcd_watch *w = e->watches;
        pthread_mutex_unlock(&e->watch_mu);
        if (!w)
            return;
        etcd_watch_cancel(e, w);
    }
}
