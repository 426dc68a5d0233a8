/* JetStream names derived from user names: the stream of a topic and the durable consumer
 * of a group. Each is a reversible encoding that fits the server's limits, or an error;
 * never a cut, so that two distinct topics (or groups) can never share a stream (or a
 * durable).
 *
 * Stream and consumer names may not hold '.'. Two encodings of [A-Za-z0-9._-], told apart
 * by a '~' (which no topic or group holds):
 *  - short: '.' as "_d", '_' as "__", the rest as is: the names of earlier versions, so
 *    that existing streams and durables keep theirs (a new durable name would start the
 *    group over from the first message). Names without '~'.
 *  - long, when the short one does not fit: '~' then the name with '.' as '~', one byte
 *    for one, so that a topic of the front-end's 200 bytes fits with a prefix of up to
 *    NATS_PREFIX_MAX bytes. Names with a '~' right after the prefix.
 * A name that fits neither, or a byte with no encoding, is refused.
 *
 * A stream that exists under the name with another subject set (another application, or
 * another stream_prefix that happens to give the same name) is an error, not a success:
 * binding to it would hand this topic's subscribers another topic's messages. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nats_mq.h"

static bool plain_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-';
}

/* Encodes `in` after `prefix` into buf (NATS_NAME_MAX + 1 bytes); IMI_EINVALID with the
 * reason when a byte has no encoding or no encoding fits. */
static int encode(const nats_mq *n, const char *what, const char *prefix, const char *in,
                  char *buf)
{
    size_t o = strlen(prefix), len = strlen(in), escaped = 0;
    if (!len)
        return n->host->error(IMI_EINVALID, 0, "nats: [%s] empty %s", n->env->instance, what);
    for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
        if (*p != '.' && !plain_byte(*p))
            return n->host->error(IMI_EINVALID, 0, "nats: [%s] %s '%s': byte 0x%02x has no "
                                  "JetStream name encoding (only [A-Za-z0-9._-])",
                                  n->env->instance, what, in, *p);
        escaped += *p == '.' || *p == '_';
    }
    bool shorter = o + len + escaped <= NATS_NAME_MAX;
    if (!shorter && o + 1 + len > NATS_NAME_MAX)
        return n->host->error(IMI_EINVALID, 0, "nats: [%s] %s '%s' gives a JetStream name of "
                              "%zu bytes, more than the %d the server takes", n->env->instance,
                              what, in, o + 1 + len, NATS_NAME_MAX);
    memcpy(buf, prefix, o);
    if (!shorter)
        buf[o++] = '~';
    for (const char *p = in; *p; p++) {
        if (shorter && (*p == '.' || *p == '_')) {
            buf[o++] = '_';
            buf[o++] = *p == '.' ? 'd' : '_';
        } else {
            buf[o++] = *p == '.' ? '~' : *p;
        }
    }
    buf[o] = '\0';
    return IMI_OK;
}

int nats_check_prefix(const nats_mq *n, const char *prefix)
{
    size_t len = strlen(prefix);
    bool ok = len <= NATS_PREFIX_MAX;
    for (const unsigned char *p = (const unsigned char *)prefix; ok && *p; p++)
        ok = plain_byte(*p);
    if (ok)
        return IMI_OK;
    return n->host->error(IMI_ECONFIG, 0, "[%s] stream_prefix '%s' must be at most %d of "
                          "[A-Za-z0-9_-]", n->env->instance, prefix, NATS_PREFIX_MAX);
}

int nats_stream_name(const nats_mq *n, const char *topic, char *buf)
{
    return encode(n, "topic", n->env->opts[OPT_STREAM_PREFIX].str, topic, buf);
}

int nats_durable_name(const nats_mq *n, const char *group, char *buf)
{
    return encode(n, "group", "", group, buf);
}

/* IMI_OK when the existing stream `name` holds exactly the subject `topic`. */
static int check_existing(nats_mq *n, jsCtx *js, const char *name, const char *topic)
{
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetStreamInfo(&si, js, name, NULL, &jerr);
    if (s != NATS_OK)
        return nats_error(n, s, "reading the existing stream");
    const jsStreamConfig *c = si->Config;
    int rc = IMI_OK;
    if (!c || c->SubjectsLen != 1 || strcmp(c->Subjects[0], topic)) {
        char subjects[512] = "";
        size_t o = 0;
        for (int i = 0; c && i < c->SubjectsLen && o < sizeof subjects; i++)
            o += (size_t)snprintf(subjects + o, sizeof subjects - o, "%s%s", i ? " " : "",
                                  c->Subjects[i]);
        rc = n->host->error(IMI_EEXISTS, 0, "nats: stream %s exists with subjects [%s], not "
                            "[%s]: another application or stream_prefix owns the name", name,
                            subjects, topic);
    } else if (c->Replicas != (int64_t)n->env->opts[OPT_REPLICAS].i) {
        n->host->log(n->env->logger, IMI_HOST_LOG_WARN, NULL, "stream %s exists with %d "
                     "replicas, not the %d configured: kept as it is", name, (int)c->Replicas,
                     (int)n->env->opts[OPT_REPLICAS].i);
    }
    jsStreamInfo_Destroy(si);
    return rc;
}

int nats_ensure_stream(nats_mq *n, jsCtx *js, const char *topic)
{
    pthread_mutex_lock(&n->lock);
    for (size_t i = 0; i < n->n_streams; i++)
        if (!strcmp(n->streams[i], topic)) {
            pthread_mutex_unlock(&n->lock);
            return IMI_OK;
        }
    pthread_mutex_unlock(&n->lock);
    char name[NATS_NAME_MAX + 1];
    int rc = nats_stream_name(n, topic, name);
    if (rc)
        return rc;
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    const char *subjects[] = { topic };
    cfg.Name = name;
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Replicas = n->env->opts[OPT_REPLICAS].i;
    cfg.Storage = strcmp(n->env->opts[OPT_STORAGE].str, "memory") ? js_FileStorage
                                                                    : js_MemoryStorage;
    jsErrCode jerr = 0;
    natsStatus s = js_AddStream(NULL, js, &cfg, NULL, &jerr);
    /* The server answers a create of an identical stream with success, of a stream with
     * the same name and another config with "name in use": then look at what it holds. */
    if (s != NATS_OK && jerr == JSStreamSubjectOverlapErr)
        return n->host->error(IMI_EEXISTS, jerr, "nats: creating stream %s: another stream "
                              "already holds subject %s (another application's, or one whose "
                              "name an earlier version cut at 255 bytes): remove it or move "
                              "its messages", name, topic);
    if (s != NATS_OK && jerr != JSStreamNameExistErr)
        return nats_error(n, s, "creating the stream");
    if (s != NATS_OK && (rc = check_existing(n, js, name, topic)))
        return rc;
    pthread_mutex_lock(&n->lock);
    if (n->n_streams == n->cap_streams) {
        size_t cap = n->cap_streams ? n->cap_streams * 2 : 16;
        char **v = realloc(n->streams, cap * sizeof *v);
        if (v) {
            n->streams = v;
            n->cap_streams = cap;
        }
    }
    if (n->n_streams < n->cap_streams && (n->streams[n->n_streams] = strdup(topic)))
        n->n_streams++;
    pthread_mutex_unlock(&n->lock);
    return IMI_OK;
}
