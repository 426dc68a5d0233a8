/* The connection options every connection of a NATS handle shares: the server list
 * (`url`, comma-separated; servers the cluster announces are added by nats.c), endless
 * reconnects to whichever server answers, TLS with a CA, client certificate and expected
 * host name, and user/password or token credentials. */
#include <stdlib.h>
#include <string.h>
#include "nats_mq.h"

#define MAX_URLS 64

static const char *opt(const nats_mq *n, int i)
{
    const imi_opt_value *v = &n->env->opts[i];
    return v->set && v->str && *v->str ? v->str : NULL;
}

/* Refuses combinations nats.c would accept and then use half of. */
static int check_pairs(const nats_mq *n)
{
    const char *inst = n->env->instance;
    if (!opt(n, OPT_CERT_FILE) != !opt(n, OPT_KEY_FILE))
        return n->host->error(IMI_ECONFIG, 0, "[%s] cert_file and key_file go together", inst);
    if (opt(n, OPT_PASSWORD) && !opt(n, OPT_USER))
        return n->host->error(IMI_ECONFIG, 0, "[%s] password without user", inst);
    if (opt(n, OPT_TOKEN) && opt(n, OPT_USER))
        return n->host->error(IMI_ECONFIG, 0, "[%s] token and user exclude each other", inst);
    return IMI_OK;
}

static int tls_options(nats_mq *n)
{
    natsOptions *o = n->opts;
    const char *inst = n->env->instance, *ca = opt(n, OPT_CA_FILE);
    const char *cert = opt(n, OPT_CERT_FILE), *key = opt(n, OPT_KEY_FILE);
    const char *host = opt(n, OPT_TLS_HOSTNAME);
    char buf[256];
    bool secure = n->env->opts[OPT_TLS].i || ca || cert || strstr(opt(n, OPT_URL), "tls://");
    /* (url is set: nats_make_options refuses an empty one) */
    if (!secure)
        return host ? n->host->error(IMI_ECONFIG, 0, "[%s] tls_hostname without TLS", inst)
                    : IMI_OK;
    natsStatus s = natsOptions_SetSecure(o, true);
    if (s != NATS_OK)
        return n->host->error(IMI_ECONFIG, s, "[%s] TLS: %s", inst,
                              nats_last_error_text(buf, sizeof buf));
    /* Without ca_file nats.c trusts nothing: use the system's CAs. */
    s = ca ? natsOptions_LoadCATrustedCertificates(o, ca)
           : natsOptions_LoadCATrustedCertificates(o, "/etc/ssl/certs/ca-certificates.crt");
    if (s != NATS_OK)
        return n->host->error(IMI_ECONFIG, s, "[%s] ca_file %s: %s", inst,
                              ca ? ca : "(system CAs)", nats_last_error_text(buf, sizeof buf));
    if (cert && (s = natsOptions_LoadCertificatesChain(o, cert, key)) != NATS_OK)
        return n->host->error(IMI_ECONFIG, s, "[%s] cert_file %s / key_file %s: %s", inst,
                              cert, key, nats_last_error_text(buf, sizeof buf));
    /* nats.c (built with its default NATS_BUILD_TLS_FORCE_HOST_VERIFY) checks each
     * server's certificate against the host of its URL, name or address; tls_hostname
     * replaces that name for every server (URLs that give addresses of named servers). */
    if (host && (s = natsOptions_SetExpectedHostname(o, host)) != NATS_OK)
        return n->host->error(IMI_ECONFIG, s, "[%s] tls_hostname: %s", inst,
                              nats_last_error_text(buf, sizeof buf));
    return IMI_OK;
}

/* nats.c 3.4 takes one URL per natsOptions_SetURL: a list goes through SetServers. */
static int set_servers(nats_mq *n)
{
    const char *inst = n->env->instance;
    char *copy = strdup(opt(n, OPT_URL)), *save = NULL;
    const char *urls[MAX_URLS];
    int count = 0;
    if (!copy)
        return n->host->error(IMI_ENOMEM, 0, "out of memory");
    for (char *u = strtok_r(copy, ",", &save); u; u = strtok_r(NULL, ",", &save)) {
        u += strspn(u, " \t");
        u[strcspn(u, " \t")] = '\0';
        if (!*u)
            continue;
        if (count == MAX_URLS) {
            free(copy);
            return n->host->error(IMI_ECONFIG, 0, "[%s] url: more than %d servers", inst,
                                  MAX_URLS);
        }
        urls[count++] = u;
    }
    natsStatus s = count ? natsOptions_SetServers(n->opts, urls, count) : NATS_INVALID_ARG;
    /* (The URLs are not printed: they may hold a password.) */
    int rc = s == NATS_OK ? IMI_OK
           : n->host->error(IMI_ECONFIG, s, "[%s] url: %s", inst,
                            count ? natsStatus_GetText(s) : "no server in the list");
    free(copy);
    return rc;
}

/* nats.c's asynchronous errors and connection changes go to the host log (level, logger
 * name, one format) rather than nowhere or raw stderr. */
static void on_async_error(natsConnection *nc, natsSubscription *sub, natsStatus err, void *ud)
{
    (void)nc;
    nats_mq *n = ud;
    const char *subject = sub ? natsSubscription_GetSubject(sub) : NULL;
    n->host->log(n->env->logger, IMI_HOST_LOG_WARN, NULL, "nats: %s%s%s", natsStatus_GetText(err),
                 subject ? " on subject " : "", subject ? subject : "");
}

static void on_disconnected(natsConnection *nc, void *ud)
{
    nats_mq *n = ud;
    if (natsConnection_IsClosed(nc))   /* our own close also reports a disconnect */
        return;
    n->host->log(n->env->logger, IMI_HOST_LOG_WARN, NULL, "nats: disconnected; reconnecting");
}

static void on_reconnected(natsConnection *nc, void *ud)
{
    nats_mq *n = ud;
    char url[256] = "";
    natsConnection_GetConnectedUrl(nc, url, sizeof url);
    n->host->log(n->env->logger, IMI_HOST_LOG_INFO, NULL, "nats: reconnected to %s", url);
}

int nats_make_options(nats_mq *n)
{
    const imi_driver_env *env = n->env;
    int rc = check_pairs(n);
    if (rc)
        return rc;
    if (!opt(n, OPT_URL))
        return n->host->error(IMI_ECONFIG, 0, "[%s] url is empty", env->instance);
    natsStatus s = natsOptions_Create(&n->opts);
    if (s != NATS_OK)
        return nats_error(n, s, "options");
    if ((rc = set_servers(n)))
        return rc;
    s = natsOptions_SetMaxReconnect(n->opts, -1);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectWait(n->opts, env->opts[OPT_RECONNECT_WAIT].i);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectBufSize(n->opts, 64 * 1024 * 1024);
    if (s == NATS_OK)
        s = natsOptions_SetTimeout(n->opts, env->default_timeout_ms);
    if (s == NATS_OK && opt(n, OPT_USER))
        s = natsOptions_SetUserInfo(n->opts, opt(n, OPT_USER), opt(n, OPT_PASSWORD));
    if (s == NATS_OK && opt(n, OPT_TOKEN))
        s = natsOptions_SetToken(n->opts, opt(n, OPT_TOKEN));
    if (s == NATS_OK)
        s = natsOptions_SetErrorHandler(n->opts, on_async_error, n);
    if (s == NATS_OK)
        s = natsOptions_SetDisconnectedCB(n->opts, on_disconnected, n);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectedCB(n->opts, on_reconnected, n);
    if (s != NATS_OK)
        return nats_error(n, s, "options");
    return tls_options(n);
}

int nats_connect(nats_mq *n, natsConnection **out)
{
    natsStatus s = natsConnection_Connect(out, n->opts);
    return s == NATS_OK ? IMI_OK : nats_error(n, s, "connect");
}
