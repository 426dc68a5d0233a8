/* imi demo: uid. Snowflake ids from [uid] taken apart again, and UUIDs v4 and v7. */
#include <stdio.h>
#include "demo.h"

int demo_uid(imi_app *app)
{
    imi_uid *u;
    int rc = imi_uid_open(app, NULL, &u);
    if (rc)
        return rc;
    demo_say("opened [uid]: worker id %d, epoch %lld ms", imi_uid_worker(u),
             (long long)imi_uid_epoch(u));
    int64_t prev = -1;
    for (int i = 0; i < 3 && !rc; i++) {
        int64_t id;
        imi_uid_parts p;
        if ((rc = imi_uid_next(u, &id)) || (rc = imi_uid_parse(u, id, &p)))
            break;
        demo_say("snowflake %lld = time %lld ms, worker %d, sequence %d", (long long)id,
                 (long long)p.unix_ms, p.worker, p.sequence);
        if (id <= prev || p.worker != imi_uid_worker(u))
            rc = demo_fail("id %lld does not follow %lld on worker %d", (long long)id,
                           (long long)prev, imi_uid_worker(u));
        prev = id;
    }
    imi_uid_free(u);
    if (rc)
        return rc;
    char s[IMI_UUID_STR_LEN + 1];
    imi_uuid v4 = imi_uuid_v4(), v7 = imi_uuid_v7();
    imi_uuid_format(&v4, s);
    demo_say("uuid v%d %s", imi_uuid_version(&v4), s);
    imi_uuid_format(&v7, s);
    demo_say("uuid v%d %s (its time: %lld ms)", imi_uuid_version(&v7), s,
             (long long)imi_uuid_v7_unix_ms(&v7));
    return IMI_OK;
}
