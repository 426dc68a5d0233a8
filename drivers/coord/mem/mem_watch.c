/* Watches of the in-memory coord driver: an event history ring for start revisions in
 * the past, and one thread per watcher delivering its queue in revision order. */
#include <stdlib.h>
#include <string.h>
#include "mem.h"

typedef struct qnode {
    struct qnode *next;
    mem_ev *ev;
} qnode;

struct mem_watcher {
    mem_watcher *next;           /* s->watchers */
    mem_coord *owner;
    char *key;
    size_t klen;
    bool prefix;
    int64_t min_rev;             /* events before it are not for this watcher */
    imi_coord_driver_event_fn fn;
    void *ud;

    pthread_mutex_t mu;
    pthread_cond_t cond;
    qnode *head, *tail;
    bool stop;
    pthread_t thread;
};

void mem_ev_unref(mem_ev *ev)
{
    if (ev && atomic_fetch_sub(&ev->refs, 1) == 1) {
        free(ev->key);
        free(ev->val);
        free(ev);
    }
}

static bool matches(const mem_watcher *w, const char *key, size_t klen)
{
    if (w->prefix)
        return klen >= w->klen && !memcmp(key, w->key, w->klen);
    return klen == w->klen && !memcmp(key, w->key, klen);
}

/* Queues ev for w (taking a reference); false when out of memory. */
static bool push(mem_watcher *w, mem_ev *ev)
{
    qnode *n = malloc(sizeof *n);
    if (!n)
        return false;
    atomic_fetch_add(&ev->refs, 1);
    n->ev = ev;
    n->next = NULL;
    pthread_mutex_lock(&w->mu);
    if (w->tail)
        w->tail->next = n;
    else
        w->head = n;
    w->tail = n;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->mu);
    return true;
}

static mem_ev *ev_new(imi_coord_event_type type, const mem_kv *kv, int64_t rev)
{
    mem_ev *ev = calloc(1, sizeof *ev);
    if (!ev)
        return NULL;
    atomic_init(&ev->refs, 1);
    ev->type = type;
    ev->key = malloc(kv->klen + 1);
    size_t vlen = type == IMI_COORD_EVENT_PUT ? kv->vlen : 0;
    ev->val = malloc(vlen + 1);
    if (!ev->key || !ev->val) {
        mem_ev_unref(ev);
        return NULL;
    }
    memcpy(ev->key, kv->key, kv->klen + 1);
    ev->klen = kv->klen;
    if (vlen)
        memcpy(ev->val, kv->val, vlen);
    ev->val[vlen] = '\0';
    ev->vlen = vlen;
    ev->m = kv->m;
    if (type == IMI_COORD_EVENT_DELETE)
        ev->m = (imi_coord_meta){ .mod_rev = rev, .create_rev = kv->m.create_rev };
    return ev;
}

void mem_emit_locked(mem_store *s, imi_coord_event_type type, const mem_kv *kv, int64_t rev)
{
    mem_ev *ev = ev_new(type, kv, rev);
    if (!ev)
        return; /* out of memory: the event is lost, like a compacted one */
    if (s->hist_cap) {
        if (s->hist_n == s->hist_cap) {
            mem_ev *old = s->hist[s->hist_start];
            s->compacted_rev = old->m.mod_rev;
            mem_ev_unref(old);
            s->hist_start = (s->hist_start + 1) % s->hist_cap;
            s->hist_n--;
        }
        atomic_fetch_add(&ev->refs, 1);
        s->hist[(s->hist_start + s->hist_n) % s->hist_cap] = ev;
        s->hist_n++;
    }
    for (mem_watcher *w = s->watchers; w; w = w->next)
        if (rev >= w->min_rev && matches(w, ev->key, ev->klen))
            push(w, ev);
    mem_ev_unref(ev);
}

void mem_history_free(mem_store *s)
{
    for (size_t i = 0; i < s->hist_n; i++)
        mem_ev_unref(s->hist[(s->hist_start + i) % s->hist_cap]);
    free(s->hist);
    s->hist = NULL;
    s->hist_n = 0;
}

static void *watcher_main(void *arg)
{
    mem_watcher *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->head && !w->stop)
            pthread_cond_wait(&w->cond, &w->mu);
        if (w->stop)
            break;
        qnode *n = w->head;
        w->head = n->next;
        if (!w->head)
            w->tail = NULL;
        pthread_mutex_unlock(&w->mu);
        mem_ev *ev = n->ev;
        imi_coord_event out = { .type = ev->type, .key = ev->key, .key_len = ev->klen,
                                .value = ev->val, .value_len = ev->vlen, .meta = ev->m };
        w->fn(w->ud, &out);
        mem_ev_unref(ev);
        free(n);
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static void watcher_free(mem_watcher *w)
{
    for (qnode *n = w->head, *next; n; n = next) {
        next = n->next;
        mem_ev_unref(n->ev);
        free(n);
    }
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->mu);
    free(w->key);
    free(w);
}

int mem_watch_start(void *st, const imi_ctx *ctx, const char *key, size_t klen, bool prefix,
                    int64_t start_rev, imi_coord_driver_event_fn fn, void *ud, void **out)
{
    (void)ctx;
    mem_coord *m = st;
    mem_store *s = m->s;
    mem_watcher *w = calloc(1, sizeof *w);
    if (!w || !(w->key = malloc(klen + 1))) {
        free(w);
        return m->host->error(IMI_ENOMEM, 0, "out of memory");
    }
    memcpy(w->key, key, klen + 1);
    w->klen = klen;
    w->prefix = prefix;
    w->fn = fn;
    w->ud = ud;
    w->owner = m;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cond, NULL);

    pthread_mutex_lock(&s->mu);
    int rc = IMI_OK;
    w->min_rev = start_rev > 0 ? start_rev : s->rev + 1;
    if (start_rev > 0 && start_rev <= s->compacted_rev) {
        rc = m->host->error(IMI_ECONFLICT, 0, "revision %lld was compacted (oldest kept: %lld)",
                            (long long)start_rev, (long long)s->compacted_rev + 1);
    } else {
        /* Replay what the history holds from start_rev on, then go live. */
        for (size_t i = 0; i < s->hist_n && start_rev > 0; i++) {
            mem_ev *ev = s->hist[(s->hist_start + i) % s->hist_cap];
            if (ev->m.mod_rev >= start_rev && matches(w, ev->key, ev->klen))
                push(w, ev);
        }
        if (pthread_create(&w->thread, NULL, watcher_main, w)) {
            rc = m->host->error(IMI_EINTERNAL, 0, "cannot start a watch thread");
        } else {
            w->next = s->watchers;
            s->watchers = w;
        }
    }
    pthread_mutex_unlock(&s->mu);
    if (rc) {
        watcher_free(w);
        return rc;
    }
    *out = w;
    return IMI_OK;
}

void mem_watch_cancel(void *st, void *arg)
{
    mem_coord *m = st;
    mem_watcher *w = arg;
    if (!w)
        return;
    pthread_mutex_lock(&m->s->mu);
    for (mem_watcher **p = &m->s->watchers; *p; p = &(*p)->next)
        if (*p == w) {
            *p = w->next;
            break;
        }
    pthread_mutex_unlock(&m->s->mu);
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    watcher_free(w);
}

void mem_watch_cancel_all(mem_coord *m)
{
    for (;;) {
        mem_watcher *mine = NULL;
        pthread_mutex_lock(&m->s->mu);
        for (mem_watcher *w = m->s->watchers; w && !mine; w = w->next)
            if (w->owner == m)
                mine = w;
        pthread_mutex_unlock(&m->s->mu);
        if (!mine)
            return;
        mem_watch_cancel(m, mine);
    }
}
