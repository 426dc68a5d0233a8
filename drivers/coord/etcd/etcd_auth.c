/* Authentication: /v3/auth/authenticate with the configured user and password gives a
 * token that every later request carries in its Authorization header. etcd forgets a
 * token after --auth-token-ttl idle seconds (or on restart, for simple tokens); the
 * request it refuses is then sent again once with a new token. */
#include <stdlib.h>
#include <string.h>
#include "etcd.h"

int etcd_authenticate(etcd *e, const imi_ctx *ctx, uint64_t stale_gen)
{
    pthread_mutex_lock(&e->auth_mu);
    if (atomic_load(&e->token_gen) != stale_gen) {
        /* another thread renewed it while this one waited */
        pthread_mutex_unlock(&e->auth_mu);
        return IMI_OK;
    }
    json_t *req = json_pack("{s:s,s:s}", "name", e->user, "password",
                            e->password ? e->password : "");
    char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    int rc;
    etcd_reply r;
    if (!body) {
        rc = e->host->error(IMI_ENOMEM, 0, "out of memory");
    } else {
        rc = etcd_post(e, ctx, "/v3/auth/authenticate", body, strlen(body),
                       ETCD_NO_TOKEN | ETCD_IDEMPOTENT, &r);
        /* the body holds the password: wipe it before it goes back to the heap */
        memset(body, 0, strlen(body));
        free(body);
    }
    if (rc == IMI_EINVALID || rc == IMI_ECONFLICT) {
        /* InvalidArgument: wrong user or password; FailedPrecondition: auth not enabled */
        size_t idx;
        rc = e->host->error(IMI_ECONFIG, 0, "etcd: %s: user '%s' was refused: %s",
                            etcd_endpoint(e, &idx), e->user,
                            rc == IMI_EINVALID ? "invalid user or password"
                                               : "authentication is not enabled on the server");
    }
    if (!rc) {
        etcd_jv root = { .p = r.body, .end = r.body + r.len }, tok;
        char *t = NULL;
        if (etcd_jr_member(root, "token", &tok) && tok.end - tok.p >= 2 && *tok.p == '"' &&
            !memchr(tok.p, '\\', (size_t)(tok.end - tok.p)))
            t = strndup(tok.p + 1, (size_t)(tok.end - tok.p) - 2);
        /* A token goes into a header line: refuse one that could end it. */
        if (!t || strpbrk(t, "\r\n")) {
            free(t);
            rc = e->host->error(IMI_EDRIVER, 0, "etcd: authenticate returned no usable token");
        } else {
            free(e->token);
            e->token = t;
            atomic_fetch_add(&e->token_gen, 1);
        }
        etcd_reply_done(e, &r);
    }
    pthread_mutex_unlock(&e->auth_mu);
    return rc;
}
