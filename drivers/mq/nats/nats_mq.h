/* The NATS mq driver (nats.c): what the producer file (nats.c) and the subscription file
 * (nats_sub.c) share. Topics are subjects; consumer groups are queue groups (core NATS)
 * or durable JetStream consumers with a deliver group (jetstream = true), one stream per
 * topic (names in nats_names.c). */
#ifndef IMI_DRIVERS_MQ_NATS_MQ_H
#define IMI_DRIVERS_MQ_NATS_MQ_H

#include <pthread.h>
#include <stdbool.h>
#include <time.h>
#include <nats/nats.h>
#include "iminfra/driver/mq_driver.h"

/* Header values that are not plain text travel as this marker and their bytes in hex. */
#define NATS_HDR_MARK "%imi-hex:"

/* The header that carries the message key. */
#define NATS_KEY_HEADER "imi-key"

/* The longest stream or consumer name: the server stores each as a file name. */
#define NATS_NAME_MAX 255
/* The longest stream_prefix: with it, every topic of the front-end's 200 bytes fits. */
#define NATS_PREFIX_MAX 54

enum { OPT_URL, OPT_JETSTREAM, OPT_STREAM_PREFIX, OPT_STORAGE, OPT_ACK_WAIT,
       OPT_RECONNECT_WAIT, OPT_MAX_PENDING, OPT_REPLICAS, OPT_TLS, OPT_CA_FILE, OPT_CERT_FILE,
       OPT_KEY_FILE, OPT_TLS_HOSTNAME, OPT_USER, OPT_PASSWORD, OPT_TOKEN };

typedef struct nats_mq {
    const imi_driver_env *env;
    const imi_host_api *host;
    bool jetstream;
    natsOptions *opts;              /* shared by every connection of the handle */
    natsConnection *nc;             /* the producer's connection */
    jsCtx *js;                      /* JetStream: the producer's context */
    pthread_mutex_t lock;
    pthread_cond_t idle;
    char **streams;                 /* JetStream: streams known to exist */
    size_t n_streams, cap_streams;
    long pending;                   /* atomically: async publishes whose completion has
                                       not returned (core NATS: once the flusher took them
                                       from the queue); idle is broadcast under lock at 0 */
    /* core NATS async (nats_done.c): completions waiting for the flush that confirms them */
    struct done_block *queue_head, *queue_tail, *spare;
    long queued;                    /* completions in the queue */
    bool flusher_started, flusher_waiting, stopping;
    int flush_waiters;              /* p_flush calls waiting: the flusher does not gather */
    pthread_t flusher;
    pthread_cond_t wake;
    /* JetStream async: acknowledgements (nats_acks.c) */
    struct nats_acks *acks;
} nats_mq;

typedef struct nats_sub {
    nats_mq *n;
    natsConnection *nc;
    jsCtx *js;
    natsSubscription **subs;
    size_t n_subs;
    imi_mq_deliver_fn deliver;
    void *core_sub;
    int64_t delay_ms;
    int stop;                       /* atomically: s_close started */
    pthread_mutex_t lock;
    pthread_cond_t done_cond;
    size_t completed;               /* subscriptions whose delivery thread is done */
    bool inited;
} nats_sub;

/* The imi code for a nats.c status, with the library's last error text. */
int nats_error(const nats_mq *n, natsStatus s, const char *what);
/* nats.c's last error text on this thread, without the source location it starts with,
 * copied into buf; "" when none. */
const char *nats_last_error_text(char *buf, size_t cap);

/* Sets the options every connection of the handle shares: servers, reconnects, TLS and
 * credentials (nats_conn.c). */
int nats_make_options(nats_mq *n);
/* Connects with the handle's options; a refused certificate or credential is IMI_ECONFIG
 * with the reason. */
int nats_connect(nats_mq *n, natsConnection **out);

/* IMI_OK, or IMI_ECONFIG naming the option, for a stream_prefix names can start with. */
int nats_check_prefix(const nats_mq *n, const char *prefix);
/* The stream that holds topic (stream_prefix and the topic's encoding, nats_names.c) into
 * buf of NATS_NAME_MAX + 1 bytes, or IMI_EINVALID when it has no such name. */
int nats_stream_name(const nats_mq *n, const char *topic, char *buf);
/* The durable consumer of group (the group's encoding), the same way. */
int nats_durable_name(const nats_mq *n, const char *group, char *buf);
/* Creates the stream of topic unless it is known to exist; a stream of that name with
 * other subjects is IMI_EEXISTS. */
int nats_ensure_stream(nats_mq *n, jsCtx *js, const char *topic);

/* count async publishes done (pending - count; broadcasts idle at 0); any thread, no lock
 * held. */
void nats_pending_done(nats_mq *n, long count);

/* Core NATS: queues the completion of a publish just sent, for the flush round trip that
 * confirms it (nats_done.c); takes the lock. */
int nats_done_queue(nats_mq *n, const imi_mq_done *done);
/* p_flush: waits until every async completion queued or in flight has run (both kinds). */
int nats_done_flush(nats_mq *n, const imi_ctx *ctx);
/* Stops the flusher after a last flush of what is queued (IMI_ECLOSED if that fails). */
void nats_done_close(nats_mq *n);

/* JetStream async publish with the driver's own acknowledgement tracking (nats_acks.c):
 * msg's reply subject names its slot, the stream's answer completes it. Waits for a free
 * slot (max_pending) until the ctx deadline. */
int nats_acks_publish(nats_mq *n, const imi_ctx *ctx, const imi_mq_msg *m,
                      const imi_mq_done *done);
/* Stops the acknowledgement subscription and fails what it never answered (IMI_ECLOSED). */
void nats_acks_close(nats_mq *n);
/* The message as sent: subject, reply (may be NULL), key and headers encoded (nats.c). */
int nats_make_msg(nats_mq *n, const imi_mq_msg *m, const char *reply, natsMsg **out);

int nats_sub_open(void *st, void *sub, const imi_ctx *ctx, const imi_mq_sub_spec *spec,
                  imi_mq_deliver_fn deliver, void *core_sub);
void nats_sub_close(void *st, void *sub);

/* Waits on cv (mu held) for at most ms milliseconds (< 1000); the callers loop on their
 * own condition and deadline. */
static inline void nats_cond_wait_ms(pthread_cond_t *cv, pthread_mutex_t *mu, long ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += ms * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(cv, mu, &ts);
}

#endif
