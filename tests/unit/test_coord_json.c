/* Typed config values: JSON in coord decoded into a C struct, once or kept current. */
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include "iminfra/iminfra.h"

typedef struct limits {
    int64_t max_conns;
    double ratio;
    bool strict;
    char zone[8];
} limits;

static const imi_json_field fields[] = {
    IMI_JSON_FIELD(limits, max_conns, "max_conns", IMI_JSON_INT, .required = true),
    IMI_JSON_FIELD(limits, ratio, "tuning.ratio", IMI_JSON_DOUBLE, .default_value = "0.5"),
    IMI_JSON_FIELD(limits, strict, "strict", IMI_JSON_BOOL),
    IMI_JSON_FIELD(limits, zone, "zone", IMI_JSON_STRING, .default_value = "eu"),
};
#define N_FIELDS (sizeof fields / sizeof fields[0])

static int decode(const char *json, limits *l)
{
    memset(l, 0x55, sizeof *l);
    return imi_json_decode("t", json, strlen(json), fields, N_FIELDS, l);
}

#define assert_msg(part) \
    cr_assert(strstr(imi_error_message(), (part)), "'%s' not in: %s", (part), imi_error_message())

Test(coord_json, every_type_and_nested_path)
{
    limits l;
    cr_assert_eq(decode("{\"max_conns\": 12, \"tuning\": {\"ratio\": 0.25}, \"strict\": true, "
                        "\"zone\": \"us\", \"other\": [1]}", &l), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(l.max_conns, 12);
    cr_assert_float_eq(l.ratio, 0.25, 1e-12);
    cr_assert(l.strict);
    cr_assert_str_eq(l.zone, "us");
}

Test(coord_json, defaults_and_zeroes_for_absent_fields)
{
    limits l;
    cr_assert_eq(decode("{\"max_conns\": 3}", &l), IMI_OK, "%s", imi_error_message());
    cr_assert_float_eq(l.ratio, 0.5, 1e-12);
    cr_assert_eq(l.strict, false);
    cr_assert_str_eq(l.zone, "eu");
}

Test(coord_json, errors_name_the_json_path)
{
    limits l;
    cr_assert_eq(decode("{}", &l), IMI_EINVALID);
    assert_msg("t: $.max_conns is required");
    cr_assert_eq(decode("{\"max_conns\": 1, \"tuning\": {\"ratio\": \"x\"}}", &l), IMI_EINVALID);
    assert_msg("t: $.tuning.ratio: expected a number, got a string");
    cr_assert_eq(decode("{\"max_conns\": 1.5}", &l), IMI_EINVALID);
    assert_msg("$.max_conns: expected an integer, got a number");
    cr_assert_eq(decode("{\"max_conns\": 1, \"zone\": \"far-too-long\"}", &l), IMI_EINVALID);
    assert_msg("$.zone: a string of 12 bytes does not fit 7");
    cr_assert_eq(decode("{\"max_conns\": 1, \"tuning\": 3}", &l), IMI_EINVALID);
    assert_msg("expected an object, got an integer");
    cr_assert_eq(decode("[1, 2]", &l), IMI_EINVALID);
    assert_msg("$: expected an object, got an array");
    cr_assert_eq(decode("{\"max_conns\": 1,", &l), IMI_EINVALID);
    assert_msg("t: not JSON");
    cr_assert_eq(decode("{\"max_conns\": 1, \"max_conns\": 2}", &l), IMI_EINVALID);
}

static imi_app *app;
static imi_coord *coord;

static void open_coord(void)
{
    imi_config *cfg;
    cr_assert_eq(imi_config_parse("[log]\nlevel = error\n[coord]\ndriver = mem\n"
                                  "namespace = coord-json\n", "t.ini", ".", &cfg), IMI_OK);
    cr_assert_eq(imi_app_open_config(cfg, &app), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(imi_coord_open(app, NULL, &coord), IMI_OK, "%s", imi_error_message());
}

static void close_coord(void)
{
    imi_coord_free(coord);
    imi_app_free(app);
}

TestSuite(coord_json_store, .init = open_coord, .fini = close_coord);

Test(coord_json_store, get_json_reads_and_decodes)
{
    const char *v = "{\"max_conns\": 7, \"zone\": \"ap\"}";
    cr_assert_eq(imi_coord_put(coord, NULL, "svc/limits", v, strlen(v), NULL), IMI_OK);
    limits l;
    imi_coord_meta meta;
    cr_assert_eq(imi_coord_get_json(coord, NULL, "svc/limits", fields, N_FIELDS, &l, &meta),
                 IMI_OK, "%s", imi_error_message());
    cr_assert_eq(l.max_conns, 7);
    cr_assert_str_eq(l.zone, "ap");
    cr_assert_eq(meta.version, 1);
    cr_assert_eq(imi_coord_get_json(coord, NULL, "svc/none", fields, N_FIELDS, &l, NULL),
                 IMI_ENOTFOUND);
    const char *bad = "{\"max_conns\": true}";
    cr_assert_eq(imi_coord_put(coord, NULL, "svc/limits", bad, strlen(bad), NULL), IMI_OK);
    cr_assert_eq(imi_coord_get_json(coord, NULL, "svc/limits", fields, N_FIELDS, &l, NULL),
                 IMI_EINVALID);
    assert_msg("svc/limits: $.max_conns: expected an integer, got a boolean");
}

typedef struct seen {
    atomic_int calls, ok, invalid, deleted;
    atomic_llong last_max;
} seen;

static void on_value(void *ud, const void *value, int rc, const char *error)
{
    seen *s = ud;
    if (rc == IMI_OK)
        atomic_store(&s->last_max, ((const limits *)value)->max_conns), atomic_fetch_add(&s->ok, 1);
    else if (rc == IMI_EINVALID && error && strstr(error, "$.max_conns"))
        atomic_fetch_add(&s->invalid, 1);
    else if (rc == IMI_ENOTFOUND)
        atomic_fetch_add(&s->deleted, 1);
    atomic_fetch_add(&s->calls, 1);
}

static void wait_calls(seen *s, int n)
{
    for (int i = 0; i < 500 && atomic_load(&s->calls) < n; i++)
        usleep(10000);
    cr_assert_geq(atomic_load(&s->calls), n, "only %d calls", atomic_load(&s->calls));
}

Test(coord_json_store, watch_json_delivers_current_then_changes)
{
    const char *v1 = "{\"max_conns\": 1}", *v2 = "{\"max_conns\": 2}", *bad = "{}";
    cr_assert_eq(imi_coord_put(coord, NULL, "svc/w", v1, strlen(v1), NULL), IMI_OK);
    seen s = { 0 };
    imi_coord_watch *w;
    cr_assert_eq(imi_coord_watch_json(coord, NULL, "svc/w", fields, N_FIELDS, sizeof(limits),
                                      on_value, &s, &w), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(atomic_load(&s.ok), 1, "the current value is delivered at once");
    cr_assert_eq(atomic_load(&s.last_max), 1);
    cr_assert_eq(imi_coord_put(coord, NULL, "svc/w", v2, strlen(v2), NULL), IMI_OK);
    wait_calls(&s, 2);
    cr_assert_eq(atomic_load(&s.last_max), 2);
    cr_assert_eq(imi_coord_put(coord, NULL, "svc/w", bad, strlen(bad), NULL), IMI_OK);
    wait_calls(&s, 3);
    cr_assert_eq(atomic_load(&s.invalid), 1);
    cr_assert_eq(imi_coord_del(coord, NULL, "svc/w", NULL), IMI_OK);
    wait_calls(&s, 4);
    cr_assert_eq(atomic_load(&s.deleted), 1);
    cr_assert_eq(imi_coord_watch_cancel(w), IMI_OK);
}
