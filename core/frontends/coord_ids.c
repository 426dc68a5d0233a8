/* Instance ids: "ids/<service>/<n>" created only when absent, under a lease of its own.
 * The lowest id not listed is tried first; losing a race to another instance moves on to
 * the next one, so racers end up with different ids. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "coord_internal.h"
#include "iminfra/error.h"

#define IDS_PREFIX "ids/"
#define IDS_MAX 65535   /* the bitmap of taken ids stays small */

struct imi_coord_instance_id {
    coord_hold *hold;
    int64_t id;
};

typedef struct taken {
    size_t plen;
    int64_t max_id;
    unsigned char *bits;
} taken;

static int mark_taken(void *ud, const char *key, const void *val, size_t len,
                      const imi_coord_meta *meta)
{
    (void)val;
    (void)len;
    (void)meta;
    taken *t = ud;
    char *end;
    long long n = strtoll(key + t->plen, &end, 10);
    if (*end == '\0' && n >= 0 && n <= t->max_id)
        t->bits[n / 8] |= (unsigned char)(1u << (n % 8));
    return 0;
}

int imi_coord_instance_id_acquire(imi_coord *c, const imi_ctx *ctx, const char *service,
                                  int64_t max_id, int64_t *id, imi_coord_instance_id **out)
{
    if (!c || !out || !id || !service || !*service || strchr(service, '/'))
        return imi_error_set(IMI_EINVALID, 0, "instance_id: handle, a service name without '/' "
                             "and outputs are required");
    *out = NULL;
    if (max_id < 0 || max_id > IDS_MAX)
        return imi_error_set(IMI_EINVALID, 0, "instance_id: max_id must be in [0, %d]", IDS_MAX);
    int rc = coord_need(c, IMI_COORD_CAP_LEASE, "instance ids (they need leases)");
    if (rc)
        return rc;
    char *prefix = imi_coord_join(IDS_PREFIX, service, "/");
    imi_coord_instance_id *h = calloc(1, sizeof *h);
    taken t = { .max_id = max_id, .bits = calloc((size_t)max_id / 8 + 1, 1) };
    if (!prefix || !h || !t.bits) {
        rc = imi_error_set(IMI_ENOMEM, 0, "out of memory");
        goto out;
    }
    t.plen = strlen(prefix);
    if ((rc = imi_coord_list(c, ctx, prefix, mark_taken, &t, NULL)))
        goto out;
    rc = IMI_ECONFLICT;
    for (int64_t n = 0; n <= max_id && rc == IMI_ECONFLICT; n++) {
        if (t.bits[n / 8] & (1u << (n % 8)))
            continue;
        char key[160];
        snprintf(key, sizeof key, "%s%lld", prefix, (long long)n);
        rc = imi_coord_hold_take(c, ctx, key, c->owner, strlen(c->owner), 0,
                                 HOLD_EXCLUSIVE | HOLD_RENEW, &h->hold);
        h->id = n;
    }
    if (rc == IMI_ECONFLICT)
        rc = imi_error_set(IMI_ECONFLICT, 0, "instance_id: all %lld ids of %s are held",
                           (long long)max_id + 1, service);
out:
    free(prefix);
    free(t.bits);
    if (rc) {
        free(h);
        return rc;
    }
    *id = h->id;
    *out = h;
    return IMI_OK;
}

int64_t imi_coord_instance_id_value(const imi_coord_instance_id *h) { return h ? h->id : -1; }

int imi_coord_instance_id_held(imi_coord_instance_id *h, const imi_ctx *ctx)
{
    if (!h)
        return imi_error_set(IMI_EINVALID, 0, "instance_id: no handle");
    return imi_coord_hold_check(h->hold, ctx);
}

void imi_coord_instance_id_on_lost(imi_coord_instance_id *h, imi_coord_lost_fn fn, void *ud)
{
    if (h)
        imi_coord_hold_on_lost(h->hold, fn, ud);
}

int imi_coord_instance_id_release(imi_coord_instance_id *h, const imi_ctx *ctx)
{
    if (!h)
        return imi_error_set(IMI_EINVALID, 0, "instance_id: no handle");
    int rc = imi_coord_hold_release(h->hold, ctx);
    free(h);
    return rc;
}
