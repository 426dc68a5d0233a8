/* clog: a line never carries a key twice, and a console line reads back unambiguously. */
#include <math.h>
#include "iminfra/clog.h"
#include "iminfra/ctx.h"
#include "iminfra/error.h"
#include "test_clog_util.h"

TestSuite(clog_keys, .init = clog_setup, .fini = clog_teardown);

static imi_logger *open_log(imi_log_format fmt, const char *service)
{
    imi_log_options o = { .service = service, .level = IMI_LOG_DEBUG, .format = fmt,
                          .output = clog_path };
    imi_logger *lg = NULL;
    cr_assert_eq(imi_logger_open(&o, &lg), IMI_OK);
    return lg;
}

/* The file's only line, parsed. */
static json_t *only_json(void)
{
    size_t len;
    char *s = clog_slurp(clog_path, &len);
    cr_assert(len > 0 && s[len - 1] == '\n' && memchr(s, '\n', len) == s + len - 1,
              "not one line: %s", s);
    json_t *j = clog_parse(s, len - 1);
    free(s);
    return j;
}

/* The file's only line without its newline; malloc'd. */
static char *only_text(void)
{
    size_t len;
    char *s = clog_slurp(clog_path, &len);
    cr_assert(len > 0 && s[len - 1] == '\n' && memchr(s, '\n', len) == s + len - 1,
              "not one line: %s", s);
    s[len - 1] = 0;
    return s;
}

Test(clog_keys, reserved_names_moved_under_fields)
{
    imi_logger *lg = open_log(IMI_LOG_JSON, "svc");
    imi_ctx *ctx = imi_ctx_new(0);
    imi_ctx_set_trace_id(ctx, "t1");
    IMI_INFO(imi_logger_named(lg, "sub"), ctx, "real", IMI_FSTR("level", "error"),
             IMI_FSTR("msg", "fake"), IMI_FINT("ts", 1), IMI_FSTR("service", "other"),
             IMI_FSTR("trace_id", "t2"), IMI_FSTR("span_id", "s"), IMI_FSTR("logger", "x"),
             IMI_FBOOL("truncated", true), IMI_FINT("duplicate_fields", 9),
             IMI_FSTR("fields.level", "nested"), IMI_FSTR("levels", "plain"));
    imi_ctx_free(ctx);
    imi_logger_free(lg);
    json_t *j = only_json();
    cr_assert_str_eq(clog_str(j, "level"), "info");
    cr_assert_str_eq(clog_str(j, "msg"), "real");
    cr_assert_str_eq(clog_str(j, "service"), "svc");
    cr_assert_str_eq(clog_str(j, "logger"), "sub");
    cr_assert_str_eq(clog_str(j, "trace_id"), "t1");
    cr_assert(json_is_string(json_object_get(j, "ts")));
    cr_assert_null(json_object_get(j, "truncated"));
    cr_assert_null(json_object_get(j, "duplicate_fields"));
    cr_assert_null(json_object_get(j, "span_id"));
    cr_assert_str_eq(clog_str(j, "fields.level"), "error");
    cr_assert_str_eq(clog_str(j, "fields.msg"), "fake");
    cr_assert_eq(json_integer_value(json_object_get(j, "fields.ts")), 1);
    cr_assert_str_eq(clog_str(j, "fields.service"), "other");
    cr_assert_str_eq(clog_str(j, "fields.trace_id"), "t2");
    cr_assert_str_eq(clog_str(j, "fields.span_id"), "s");
    cr_assert_str_eq(clog_str(j, "fields.logger"), "x");
    cr_assert(json_is_true(json_object_get(j, "fields.truncated")));
    cr_assert_eq(json_integer_value(json_object_get(j, "fields.duplicate_fields")), 9);
    cr_assert_str_eq(clog_str(j, "fields.fields.level"), "nested");
    cr_assert_str_eq(clog_str(j, "levels"), "plain");
    json_decref(j);
}

Test(clog_keys, repeated_key_kept_once_and_counted)
{
    imi_logger *lg = open_log(IMI_LOG_JSON, NULL);
    IMI_INFO(lg, NULL, "m", IMI_FINT("a", 1), IMI_FINT("a", 2), IMI_FSTR("b", "x"),
             IMI_FDBL("a", 3.5), IMI_FSTR("level", "u"), IMI_FSTR("fields.level", "v"));
    imi_logger_free(lg);
    json_t *j = only_json();
    cr_assert_eq(json_integer_value(json_object_get(j, "a")), 1);
    cr_assert_str_eq(clog_str(j, "b"), "x");
    cr_assert_str_eq(clog_str(j, "fields.level"), "u");
    cr_assert_str_eq(clog_str(j, "fields.fields.level"), "v");
    cr_assert_eq(json_integer_value(json_object_get(j, "duplicate_fields")), 2);
    json_decref(j);
}

/* Invalid bytes and U+FFFD itself read back as the same key: only the first stays. */
Test(clog_keys, replacement_character_keys_do_not_collide)
{
    imi_logger *lg = open_log(IMI_LOG_JSON, NULL);
    IMI_INFO(lg, NULL, "m", IMI_FINT("\xff", 1), IMI_FINT("\xef\xbf\xbd", 2),
             IMI_FINT("\xfe", 3), IMI_FINT("k\xc3", 4), IMI_FINT("k\xef\xbf\xbd", 5));
    imi_logger_free(lg);
    json_t *j = only_json();
    cr_assert_eq(json_integer_value(json_object_get(j, "\xef\xbf\xbd")), 1);
    cr_assert_eq(json_integer_value(json_object_get(j, "k\xef\xbf\xbd")), 4);
    cr_assert_eq(json_integer_value(json_object_get(j, "duplicate_fields")), 3);
    json_decref(j);
}

Test(clog_keys, console_reserved_names_moved_under_fields)
{
    imi_logger *lg = open_log(IMI_LOG_CONSOLE, "svc");
    imi_ctx *ctx = imi_ctx_new(0);
    imi_ctx_set_trace_id(ctx, "t1");
    IMI_INFO(lg, ctx, "m", IMI_FSTR("service", "evil"), IMI_FSTR("trace_id", "t2"),
             IMI_FINT("n", 1), IMI_FINT("n", 2));
    imi_ctx_free(ctx);
    imi_logger_free(lg);
    char *s = only_text();
    cr_assert_str_eq(s + 24, " INFO  m fields.service=evil fields.trace_id=t2 n=1"
                             " duplicate_fields=1 service=svc trace_id=t1");
    free(s);
}

/* Keys with '=' or spaces, values with spaces, quotes or line breaks, and a message that
 * looks like a field are quoted, so the line cannot be read as other fields. */
Test(clog_keys, console_cannot_forge_fields)
{
    imi_logger *lg = open_log(IMI_LOG_CONSOLE, "my svc");
    IMI_INFO(imi_logger_named(lg, "a] x=[b"), NULL, "login user=root",
             IMI_FSTR("user=root x", "1"), IMI_FSTR("a b", "v w"), IMI_FSTR("", "e"),
             IMI_FSTR("q", "say \"hi\" x=1"), IMI_FSTR("nl", "l1\nuser=root"),
             IMI_FSTR("k\"", "v"));
    imi_logger_free(lg);
    char *s = only_text();
    cr_assert_str_eq(s + 24, " INFO  [\"a] x=[b\"] \"login user=root\" \"user=root x\"=1"
                             " \"a b\"=\"v w\" \"\"=e q=\"say \\\"hi\\\" x=1\""
                             " nl=\"l1\\nuser=root\" \"k\\\"\"=v service=\"my svc\"");
    free(s);
}

Test(clog_keys, console_plain_message_stays_bare)
{
    imi_logger *lg = open_log(IMI_LOG_CONSOLE, NULL);
    IMI_INFO(lg, NULL, "user logged in", IMI_FINT("n", 1));
    IMI_INFO(lg, NULL, "[not a logger]", IMI_FINT("n", 2));
    imi_logger_free(lg);
    size_t len;
    char *s = clog_slurp(clog_path, &len);
    cr_assert(strstr(s, " INFO  user logged in n=1\n"), "%s", s);
    cr_assert(strstr(s, " INFO  \"[not a logger]\" n=2\n"), "%s", s);
    free(s);
}
