/* libFuzzer target: clog lines from arbitrary service and logger names, trace ids,
 * messages, field keys, types and values. Every JSON line must parse (jansson) as one
 * object with unique keys and the real level and msg; every console line must be one line
 * with no raw control bytes; no line may pass IMI_CLOG_LINE_MAX.
 *
 * Input: a flags byte (bit 0 console, bits 1-2 level, bit 3 trace id, bit 4 named logger,
 * bit 5 service), then pieces, each a 2-byte little-endian length and that many bytes:
 * service, logger name, trace id, message, then per field a type byte and a key and a
 * value piece. Numbers take their value from the piece's first 8 bytes. */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "clog_internal.h"
#include "iminfra/clog.h"
#include "iminfra/error.h"

#define MAX_FIELDS 300

typedef struct input {
    const uint8_t *p, *e;
} input;

/* The next piece as a NUL-terminated copy (NULs inside cut it short for C strings). */
static char *piece(input *in, size_t *len)
{
    size_t n = 0;
    if (in->e - in->p >= 2) {
        n = (size_t)in->p[0] | (size_t)in->p[1] << 8;
        in->p += 2;
    } else {
        in->p = in->e;
    }
    if (n > (size_t)(in->e - in->p))
        n = (size_t)(in->e - in->p);
    char *s = malloc(n + 1);
    if (!s)
        abort();
    memcpy(s, in->p, n);
    s[n] = 0;
    in->p += n;
    if (len)
        *len = n;
    return s;
}

static uint64_t bits_of(const char *s, size_t n)
{
    uint64_t v = 0;
    memcpy(&v, s, n < 8 ? n : 8);
    return v;
}

static void check_json(const char *line, size_t n, imi_log_level level, const char *msg)
{
    json_error_t err;
    /* Integers as reals: jansson refuses those past INT64_MAX, valid JSON as they are. */
    json_t *j = json_loadb(line, n, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL |
                                        JSON_DECODE_INT_AS_REAL, &err);
    if (!j || !json_is_object(j)) {
        fprintf(stderr, "clog_fuzz: not one JSON object (%s): %.*s\n", j ? "type" : err.text,
                (int)n, line);
        abort();
    }
    const char *lv = json_string_value(json_object_get(j, "level"));
    if (!lv || strcmp(lv, imi_log_level_name(level)) != 0) {
        fprintf(stderr, "clog_fuzz: level lost: %.*s\n", (int)n, line);
        abort();
    }
    const char *m = json_string_value(json_object_get(j, "msg"));
    bool ascii = true; /* then the decoded msg is the given one, unless the line was cut */
    for (const char *c = msg; *c; c++)
        ascii = ascii && (unsigned char)*c < 0x80;
    if (!m || (!json_object_get(j, "truncated") && ascii && strcmp(m, msg) != 0)) {
        fprintf(stderr, "clog_fuzz: msg lost: %.*s\n", (int)n, line);
        abort();
    }
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    input in = { data + 1, data + size };
    unsigned flags = data[0];
    imi_log_level level = (imi_log_level)((flags >> 1) & 3);
    char *service = piece(&in, NULL), *name = piece(&in, NULL), *trace = piece(&in, NULL);
    size_t msg_len;
    char *msg = piece(&in, &msg_len);
    imi_field f[MAX_FIELDS];
    char *keep[2 * MAX_FIELDS];
    size_t n = 0, k = 0;
    while (in.p < in.e && n < MAX_FIELDS) {
        unsigned type = *in.p++ % 9;
        size_t vl;
        char *key = piece(&in, NULL), *val = piece(&in, &vl);
        keep[k++] = key;
        keep[k++] = val;
        uint64_t bits = bits_of(val, vl);
        double d;
        memcpy(&d, &bits, sizeof d);
        switch (type) {
        case 0: f[n] = IMI_FSTR(key, val); break;
        case 1: f[n] = IMI_FINT(key, (int64_t)bits); break;
        case 2: f[n] = IMI_FUINT(key, bits); break;
        case 3: f[n] = IMI_FDBL(key, d); break;
        case 4: f[n] = IMI_FBOOL(key, bits & 1); break;
        case 5: f[n] = IMI_FERR(key, (int)bits); break;
        case 6: f[n] = IMI_FDUR(key, (int64_t)bits); break;
        case 7: f[n] = IMI_FBYTES(key, val, vl); break;
        default: f[n] = IMI_FSTR(key, NULL); break;
        }
        n++;
    }
    imi_log_options o = { .service = (flags & 32) ? service : NULL, .level = IMI_LOG_DEBUG,
                          .format = (flags & 1) ? IMI_LOG_CONSOLE : IMI_LOG_JSON,
                          .output = "discard" };
    imi_logger *root;
    if (imi_logger_open(&o, &root) != IMI_OK)
        abort();
    imi_logger *lg = (flags & 16) && *name ? imi_logger_named(root, name) : root;
    if (!lg)
        abort();
    static char line[IMI_CLOG_LINE_MAX];
    size_t len = imi_clog_format(line, lg, level, (flags & 8) ? trace : NULL, NULL, msg, SIZE_MAX, f,
                                 n, false);
    if (len == 0 || len > IMI_CLOG_LINE_MAX || line[len - 1] != '\n' ||
        memchr(line, '\n', len - 1)) {
        fprintf(stderr, "clog_fuzz: not one line of at most %d bytes (%zu)\n",
                IMI_CLOG_LINE_MAX, len);
        abort();
    }
    if (o.format == IMI_LOG_JSON) {
        check_json(line, len - 1, level, msg);
    } else {
        for (size_t i = 0; i + 1 < len; i++)
            if ((unsigned char)line[i] < 0x20) {
                fprintf(stderr, "clog_fuzz: raw control byte in a console line\n");
                abort();
            }
    }
    /* The public entry point too, with a message of the given length. */
    imi_log(lg, level, NULL, msg, f, n);
    imi_logger_free(root);
    for (size_t i = 0; i < k; i++)
        free(keep[i]);
    free(service);
    free(name);
    free(trace);
    free(msg);
    (void)msg_len;
    return 0;
}
