/* Config: parsing, ${VAR} expansion, file:line errors, key checks, options, secrets. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include "iminfra/iminfra.h"

#define assert_has(msg, part) cr_assert(strstr((msg), (part)), "'%s' not in: %s", (part), (msg))

static imi_config *parse_ok(const char *text)
{
    imi_config *cfg = NULL;
    cr_assert_eq(imi_config_parse(text, "t.ini", IMI_TEST_DRIVER_DIR, &cfg), IMI_OK, "%s",
                 imi_error_message());
    return cfg;
}

static const char *parse_error(const char *text)
{
    imi_config *cfg = NULL;
    int rc = imi_config_parse(text, "t.ini", ".", &cfg);
    cr_assert_eq(rc, IMI_ECONFIG, "parsed: %s", text);
    cr_assert_null(cfg);
    return imi_error_message();
}

Test(config, values_sections_and_lines)
{
    imi_config *cfg = parse_ok("; comment\n[service]\nname = im-logic\n\n[cache]\n"
                               "  driver = mem   ; inline comment\n[cache.sessions]\ndriver=mem\n");
    int line = 0;
    cr_assert_str_eq(imi_config_get(cfg, "service", "name", &line), "im-logic");
    cr_assert_eq(line, 3);
    cr_assert_str_eq(imi_config_get(cfg, "cache", "driver", &line), "mem");
    cr_assert_eq(line, 6);
    cr_assert_null(imi_config_get(cfg, "cache", "nope", NULL));
    cr_assert_str_eq(imi_config_section(cfg, 0, &line), "service");
    cr_assert_str_eq(imi_config_section(cfg, 2, &line), "cache.sessions");
    cr_assert_eq(line, 7);
    cr_assert_null(imi_config_section(cfg, 3, NULL));
    imi_config_free(cfg);
}

Test(config, env_expansion)
{
    setenv("IMI_T_HOST", "10.1.2.3", 1);
    unsetenv("IMI_T_UNSET");
    imi_config *cfg = parse_ok("[x]\na = ${IMI_T_HOST}:6379\nb = ${IMI_T_UNSET:-dflt}\n"
                               "c = ${IMI_T_UNSET:-}\nd = cost $$5\n");
    cr_assert_str_eq(imi_config_get(cfg, "x", "a", NULL), "10.1.2.3:6379");
    cr_assert_str_eq(imi_config_get(cfg, "x", "b", NULL), "dflt");
    cr_assert_str_eq(imi_config_get(cfg, "x", "c", NULL), "");
    cr_assert_str_eq(imi_config_get(cfg, "x", "d", NULL), "cost $5");
    imi_config_free(cfg);
}

Test(config, unset_variable_is_an_error_with_line)
{
    unsetenv("IMI_T_UNSET");
    assert_has(parse_error("[x]\n\na = ${IMI_T_UNSET}\n"),
               "t.ini:3: environment variable IMI_T_UNSET is not set");
    assert_has(parse_error("[x]\na = ${OOPS\n"), "t.ini:2: unterminated ${");
}

Test(config, syntax_errors_name_the_line)
{
    assert_has(parse_error("[x]\na = 1\n[broken\n"), "t.ini:3: section header without ']'");
    assert_has(parse_error("[x]\na = 1\njust words\n"), "t.ini:3: syntax error");
    assert_has(parse_error("a = 1\n"), "t.ini:1: key 'a' outside any section");
    assert_has(parse_error("[x]\na = 1\nb = 2\na = 3\n"),
               "t.ini:4: duplicate key 'a' in [x] (first set at line 2)");
    assert_has(parse_error("[bad name]\n"), "t.ini:1: bad section name");
}

/* Lines past inih's 200-byte buffer (a list of brokers, a DSN): split as inih splits a
 * short one, so that a value reads the same at any length. */
Test(config, long_lines_read_like_short_ones)
{
    char hosts[2048] = "", text[16384];
    for (int i = 0; i < 20; i++)
        snprintf(hosts + strlen(hosts), sizeof hosts - strlen(hosts), "%sb-%d.cluster-one.abc123."
                 "c2.kafka.eu-west-1.example.com:9092", i ? "," : "", i);
    snprintf(text, sizeof text,
             "[mq]\nbootstrap = %s\n"                    /* 1000+ characters */
             "   indented = %s ; a comment after a blank\n"
             "colon: %s\n"
             "semi = a;b%s\n"                              /* ';' without a blank: kept */
             "spaced   =    %s   \t\n"
             "; a comment as long as the rest: %s\n"
             "short = 1\n",
             hosts, hosts, hosts, hosts, hosts, hosts);
    imi_config *cfg = parse_ok(text);
    int line = 0;
    cr_expect_str_eq(imi_config_get(cfg, "mq", "bootstrap", &line), hosts);
    cr_expect_eq(line, 2);
    cr_expect_str_eq(imi_config_get(cfg, "mq", "indented", NULL), hosts);
    cr_expect_str_eq(imi_config_get(cfg, "mq", "colon", NULL), hosts);
    char semi[2060];
    snprintf(semi, sizeof semi, "a;b%s", hosts);
    cr_expect_str_eq(imi_config_get(cfg, "mq", "semi", NULL), semi);
    cr_expect_str_eq(imi_config_get(cfg, "mq", "spaced", NULL), hosts);
    cr_expect_str_eq(imi_config_get(cfg, "mq", "short", &line), "1");
    cr_expect_eq(line, 8);
    imi_config_free(cfg);

    /* what a short line would be refused for, a long one is too */
    char words[1100];
    memset(words, 'w', 1000);
    words[1000] = '\0';
    snprintf(text, sizeof text, "[x]\njust words %s\n", words);
    assert_has(parse_error(text), "t.ini:2: syntax error");
    snprintf(text, sizeof text, "[x]\njust words ; %s = 1\n", words); /* '=' in a comment */
    assert_has(parse_error(text), "t.ini:2: syntax error");
    snprintf(text, sizeof text, "[x]\na = 1\na = %s\n", hosts);
    assert_has(parse_error(text), "t.ini:3: duplicate key 'a'");
    snprintf(text, sizeof text, "[%s]\n", hosts);
    assert_has(parse_error(text), "t.ini:1: section header too long");
    size_t big = 70000;
    char *huge = malloc(big + 16);
    cr_assert_not_null(huge);
    memcpy(huge, "[x]\nk = ", 8);
    memset(huge + 8, 'v', big);
    huge[8 + big] = '\0';
    assert_has(parse_error(huge), "t.ini:2: line too long (at most 65536 characters)");
    free(huge);
}

Test(config, missing_file)
{
    imi_config *cfg;
    cr_assert_eq(imi_config_load("/nonexistent/x.ini", &cfg), IMI_ECONFIG);
    assert_has(imi_error_message(), "/nonexistent/x.ini: cannot read config");
}

Test(config, typed_values)
{
    imi_config *cfg = parse_ok("[x]\nn = 42\nbad = 4x\nb = yes\nd = 2.5\nt = 1.5s\nm = 2m\n"
                               "s = 64k\nbig = 1G\n");
    int64_t n = 0;
    int b = 0;
    double d = 0;
    cr_assert_eq(imi_config_get_int(cfg, "x", "n", &n), IMI_OK);
    cr_assert_eq(n, 42);
    cr_assert_eq(imi_config_get_int(cfg, "x", "bad", &n), IMI_ECONFIG);
    assert_has(imi_error_message(), "t.ini:3: [x] bad = '4x' is not an integer");
    cr_assert_eq(imi_config_get_bool(cfg, "x", "b", &b), IMI_OK);
    cr_assert_eq(b, 1);
    cr_assert_eq(imi_config_get_double(cfg, "x", "d", &d), IMI_OK);
    cr_assert_float_eq(d, 2.5, 1e-9);
    cr_assert_eq(imi_config_get_duration_ms(cfg, "x", "t", &n), IMI_OK);
    cr_assert_eq(n, 1500);
    cr_assert_eq(imi_config_get_duration_ms(cfg, "x", "m", &n), IMI_OK);
    cr_assert_eq(n, 120000);
    cr_assert_eq(imi_config_get_size(cfg, "x", "s", &n), IMI_OK);
    cr_assert_eq(n, 65536);
    cr_assert_eq(imi_config_get_size(cfg, "x", "big", &n), IMI_OK);
    cr_assert_eq(n, 1073741824);
    n = 7;
    cr_assert_eq(imi_config_get_int(cfg, "x", "absent", &n), IMI_OK);
    cr_assert_eq(n, 7, "a missing key leaves the output alone");
    imi_config_free(cfg);
}

/* Opens [cache] of the text with the test driver "good" (options addr, password, port,
 * wait, flag); returns the error message, or NULL when it opened. */
static const char *open_good(const char *text, imi_config **keep)
{
    imi_config *cfg = parse_ok(text);
    imi_app *app;
    cr_assert_eq(imi_app_open_config(cfg, &app), IMI_OK, "%s", imi_error_message());
    imi_cache *c = NULL;
    int rc = imi_cache_open(app, NULL, &c);
    static char msg[1024];
    snprintf(msg, sizeof msg, "%s", imi_error_message());
    if (keep)
        *keep = imi_config_copy(imi_app_config(app));
    imi_cache_free(c);
    imi_app_free(app);
    return rc ? msg : NULL;
}

#define GOOD "[log]\nlevel = off\n[cache]\ndriver = good\ndriver_path = .\n"

Test(config, unknown_key_lists_known_keys)
{
    const char *m = open_good(GOOD "addr = x\nadress = y\n", NULL);
    cr_assert(m);
    assert_has(m, "t.ini:7: unknown key 'adress' in [cache]; known keys: driver, driver_path, "
                  "timeout, prefix, addr, password, port, wait, flag");
}

Test(config, required_option_missing)
{
    const char *m = open_good(GOOD, NULL);
    cr_assert(m);
    assert_has(m, "t.ini:3: [cache] needs 'addr' (driver good: host:port)");
}

Test(config, option_type_errors_name_the_line)
{
    const char *m = open_good(GOOD "addr = x\nport = many\n", NULL);
    cr_assert(m);
    assert_has(m, "t.ini:7: [cache] port = 'many' is not an integer");
    m = open_good(GOOD "addr = x\nwait = soon\n", NULL);
    assert_has(m, "t.ini:7: [cache] wait = 'soon' is not a duration");
    m = open_good(GOOD "addr = x\nflag = perhaps\n", NULL);
    assert_has(m, "t.ini:7: [cache] flag = 'perhaps' is not a boolean");
}

Test(config, secrets_are_never_printed)
{
    imi_config *seen = NULL;
    cr_assert_null(open_good(GOOD "addr = x\npassword = hunter2\n", &seen));
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    imi_config_dump(seen, f);
    fclose(f);
    cr_assert_null(strstr(text, "hunter2"), "secret printed: %s", text);
    assert_has(text, "password = ***");
    assert_has(text, "addr = x");
    free(text);
    /* A bad value of a secret option is not echoed either. */
    imi_config_free(seen);
}

Test(config, keys_named_like_secrets_are_secret_from_the_start)
{
    imi_config *cfg = parse_ok("[cache]\ndriver = redis\npassword = hunter2\n[x]\napi_token = abc\n");
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    imi_config_dump(cfg, f);
    fclose(f);
    cr_assert_null(strstr(text, "hunter2"));
    cr_assert_null(strstr(text, "abc"));
    free(text);
    imi_config_free(cfg);
}

Test(config, unknown_section_and_core_keys)
{
    imi_config *cfg = parse_ok("[service]\nname = a\n[cachee]\ndriver = mem\n");
    imi_app *app;
    cr_assert_eq(imi_app_open_config(cfg, &app), IMI_ECONFIG);
    assert_has(imi_error_message(), "t.ini:3: unknown section [cachee]");
    cfg = parse_ok("[log]\nlevel = loud\n");
    cr_assert_eq(imi_app_open_config(cfg, &app), IMI_ECONFIG);
    assert_has(imi_error_message(), "t.ini:2: [log] level = 'loud' is not one of");
    cfg = parse_ok("[log]\nlevl = info\n");
    cr_assert_eq(imi_app_open_config(cfg, &app), IMI_ECONFIG);
    assert_has(imi_error_message(), "t.ini:2: unknown key 'levl' in [log]; known keys: level");
}

Test(config, relative_log_path_is_beside_the_config)
{
    char dir[] = "/tmp/imi-cfg-XXXXXX";
    cr_assert(mkdtemp(dir));
    char path[256], log[300];
    snprintf(path, sizeof path, "%s/app.ini", dir);
    FILE *f = fopen(path, "w");
    fputs("[service]\nname = t\n[log]\noutput = logs.jsonl\n", f);
    fclose(f);
    imi_app *app;
    cr_assert_eq(imi_app_open(path, &app), IMI_OK, "%s", imi_error_message());
    imi_logf(imi_app_logger(app), IMI_LOG_INFO, NULL, "hello");
    imi_app_free(app);
    snprintf(log, sizeof log, "%s/logs.jsonl", dir);
    cr_assert_eq(access(log, F_OK), 0, "no log file at %s", log);
    unlink(log);
    unlink(path);
    rmdir(dir);
}

Test(config, overrides_and_copies)
{
    imi_config *cfg = parse_ok("[cache]\ndriver = mem\n");
    cr_assert_eq(imi_config_set(cfg, "cache", "driver", "/x/y.so"), IMI_OK);
    cr_assert_eq(imi_config_set(cfg, "mq", "driver", "mem"), IMI_OK);
    imi_config *copy = imi_config_copy(cfg);
    imi_config_free(cfg);
    cr_assert_str_eq(imi_config_get(copy, "cache", "driver", NULL), "/x/y.so");
    cr_assert_str_eq(imi_config_get(copy, "mq", "driver", NULL), "mem");
    cr_assert(imi_config_has_section(copy, "mq"));
    imi_config_free(copy);
}
