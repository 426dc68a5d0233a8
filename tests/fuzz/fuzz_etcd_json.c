/* Fuzz target: the etcd driver's reply reader (drivers/coord/etcd/etcd_json.c, built in
 * from its source) on what a server, or anyone on a plain http:// path, may send: the
 * reads the driver makes of a range, put, delete, txn and watch reply. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "etcd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The driver's reply buffer always ends with a NUL past the body (etcd_http.c). */
    char *body = malloc(size + 1);
    if (!body)
        return 0;
    memcpy(body, data, size);
    body[size] = '\0';
    etcd_jv root = { .p = body, .end = body + size };
    etcd_jv kvs, kv, v, ok, events;
    size_t len;
    etcd_jr_int_at(root, "header", "revision");
    etcd_jr_int_at(root, "deleted", NULL);
    etcd_jr_int_at(root, "count", NULL);
    if (etcd_jr_member(root, "succeeded", &ok))
        etcd_jr_true(ok);
    if (etcd_jr_member(root, "kvs", &kvs))
        for (size_t i = 0; i < 4 && etcd_jr_index(kvs, i, &kv); i++) {
            etcd_jr_int_at(kv, "version", NULL);
            etcd_jr_int_at(kv, "mod_revision", NULL);
            etcd_jr_int_at(kv, "lease", NULL);
            if (etcd_jr_member(kv, "key", &v))
                free(etcd_jr_b64(v, &len));
            if (etcd_jr_member(kv, "value", &v))
                free(etcd_jr_b64(v, &len));
        }
    if (etcd_jr_path(root, "result", "events", &events))
        for (size_t i = 0; i < 4 && etcd_jr_index(events, i, &v); i++) {
            etcd_jv k;
            if (etcd_jr_path(v, "kv", "key", &k))
                free(etcd_jr_b64(k, &len));
        }
    etcd_jr_int_at(root, "result", "compact_revision");
    free(body);
    return 0;
}
