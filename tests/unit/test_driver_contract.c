/* The driver contract seen from the host: what the loader says when a file cannot be
 * loaded, what it refuses before loading, and what the core calls on a driver whose
 * open failed or whose vtable is incomplete. Every case ends in an error, never a crash. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include "iminfra/iminfra.h"
#include "loader.h"

#define DRV(name) IMI_TEST_DRIVER_DIR "/imi_cache_" name ".so"
#define assert_has(msg, part) cr_assert(strstr((msg), (part)), "'%s' not in: %s", (part), (msg))

static const char *refusal(const char *path)
{
    imi_driver *drv = NULL;
    int rc = imi_driver_load_file(path, IMI_KIND_CACHE, NULL, &drv);
    cr_assert_neq(rc, IMI_OK, "%s was accepted", path);
    cr_assert_null(drv);
    return imi_error_message();
}

/* Opens [cache] of a config text; returns the error message (the open must fail). */
static const char *open_error(const char *text)
{
    imi_config *cfg;
    cr_assert_eq(imi_config_parse(text, "t.ini", IMI_TEST_DRIVER_DIR, &cfg), IMI_OK, "%s",
                 imi_error_message());
    imi_app *app;
    cr_assert_eq(imi_app_open_config(cfg, &app), IMI_OK, "%s", imi_error_message());
    imi_cache *c = NULL;
    int rc = imi_cache_open(app, NULL, &c);
    cr_assert_neq(rc, IMI_OK, "the open succeeded");
    cr_assert_null(c);
    static char msg[1024];
    snprintf(msg, sizeof msg, "%s", imi_error_message());
    imi_app_free(app);
    return msg;
}

Test(contract, missing_client_library_is_named)
{
    const char *m = refusal(DRV("needslib"));
    assert_has(m, "imi_cache_needslib.so cannot be loaded");
    assert_has(m, "libimi_gone.so");
}

Test(contract, text_file_is_not_elf)
{
    assert_has(refusal(DRV("text")), "not an ELF shared object");
}

Test(contract, executable_is_not_a_shared_object)
{
    const char *m = refusal(DRV("pie"));
    assert_has(m, "imi_cache_pie.so cannot be loaded");
    assert_has(m, "executable");
}

Test(contract, path_is_printed_once_and_clean)
{
    const char *m = open_error("[cache]\ndriver = ./imi_cache_text.so\naddr = x\n");
    cr_assert_null(strstr(m, "./"), "a ./ in: %s", m);
    assert_has(m, "t.ini:2: ");
    assert_has(m, IMI_TEST_DRIVER_DIR "/imi_cache_text.so cannot be loaded");
    const char *first = strstr(m, "imi_cache_text.so");
    cr_assert_null(strstr(first + 1, "imi_cache_text.so"), "the path twice: %s", m);
}

Test(contract, unknown_name_lists_the_drivers_there_are)
{
    const char *m = open_error("[cache]\ndriver = rediss\n");
    assert_has(m, "driver 'rediss' for [cache] not found");
    assert_has(m, "cache drivers found: ");
    assert_has(m, "mem");
    assert_has(m, "see `imi drivers`");
}

Test(contract, required_slot_null_is_refused_at_open)
{
    const char *m = open_error("[cache]\ndriver = nullget\ndriver_path = .\naddr = x\n");
    assert_has(m, "t.ini:2: [cache] driver " DRV("nullget") " refused");
    assert_has(m, "required slots NULL: get");
    cr_assert_null(strchr(m, '\n'));
}

Test(contract, capability_without_slots_is_refused)
{
    const char *m = open_error("[cache]\ndriver = claimshash\ndriver_path = .\naddr = x\n");
    assert_has(m, "advertises 'hash' but these slots are NULL: hset, hget, hdel, hgetall");
}

Test(contract, vtable_smaller_than_abi_1_0_is_refused)
{
    assert_has(open_error("[cache]\ndriver = smallvt\ndriver_path = .\naddr = x\n"),
               "vtable too small: 16 bytes, ABI 1.0 has");
}

Test(contract, only_close_follows_a_failed_open)
{
    char trace[] = "/tmp/imi-contract-XXXXXX";
    int fd = mkstemp(trace);
    cr_assert_geq(fd, 0);
    close(fd);
    setenv("IMI_BAD_TRACE", trace, 1);
    const char *m = open_error("[cache]\ndriver = openfails\ndriver_path = .\naddr = x\n");
    unsetenv("IMI_BAD_TRACE");
    assert_has(m, "[cache] driver openfails failed to open");
    assert_has(m, "the backend said no");
    cr_assert_eq(imi_error_code(), IMI_EUNAVAILABLE, "the driver's code is kept");
    FILE *f = fopen(trace, "r");
    char calls[256] = "";
    size_t n = fread(calls, 1, sizeof calls - 1, f);
    calls[n] = '\0';
    fclose(f);
    unlink(trace);
    cr_assert_str_eq(calls, "open\nclose\n", "the core called: %s", calls);
}

Test(contract, unadvertised_operation_is_enotsup_without_a_call)
{
    imi_config *cfg;
    cr_assert_eq(imi_config_parse("[cache]\ndriver = good\ndriver_path = .\naddr = x\n",
                                  "t.ini", IMI_TEST_DRIVER_DIR, &cfg), IMI_OK);
    imi_app *app;
    cr_assert_eq(imi_app_open_config(cfg, &app), IMI_OK);
    imi_cache *c;
    cr_assert_eq(imi_cache_open(app, NULL, &c), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(imi_cache_hset(c, NULL, "k", "f", "v", 1), IMI_ENOTSUP);
    cr_assert_eq(imi_cache_lock(c, NULL, "k", "me", 1000), IMI_ENOTSUP);
    cr_assert_eq(imi_cache_take(c, NULL, "k", 1, 1, 1, NULL), IMI_ENOTSUP);
    cr_assert_eq(imi_cache_close(c), IMI_OK);
    cr_assert_eq(imi_cache_get(c, NULL, "k", NULL), IMI_EINVALID);
    imi_cache_free(c);
    imi_app_free(app);
}

/* A copy of the good driver in a fresh folder under /tmp, with the given modes. */
static void copy_driver(char *dir, size_t cap, mode_t dir_mode, mode_t file_mode, char *path)
{
    snprintf(dir, cap, "/tmp/imi-trust-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, 512, "%s/imi_cache_good.so", dir);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", DRV("good"), path);
    cr_assert_eq(system(cmd), 0);
    cr_assert_eq(chmod(path, file_mode), 0);
    cr_assert_eq(chmod(dir, dir_mode), 0);
}

static void remove_copy(const char *dir, const char *path)
{
    unlink(path);
    rmdir(dir);
}

Test(contract, world_writable_driver_is_refused_before_loading)
{
    char dir[64], path[512];
    copy_driver(dir, sizeof dir, 0755, 0666, path);
    const char *m = refusal(path);
    assert_has(m, "refused: the file");
    assert_has(m, "is writable by everyone");
    remove_copy(dir, path);
}

Test(contract, driver_in_a_world_writable_folder_is_refused)
{
    char dir[64], path[512];
    copy_driver(dir, sizeof dir, 0777, 0755, path);
    const char *m = refusal(path);
    assert_has(m, "its folder");
    assert_has(m, "is writable by everyone");
    remove_copy(dir, path);
}

Test(contract, sticky_world_writable_folder_is_accepted)
{
    /* /tmp itself is 1777: a private folder in it may hold drivers. */
    char dir[64], path[512];
    copy_driver(dir, sizeof dir, 0700, 0755, path);
    imi_driver *drv;
    cr_assert_eq(imi_driver_load_file(path, IMI_KIND_CACHE, "good", &drv), IMI_OK, "%s",
                 imi_error_message());
    imi_driver_release(drv);
    remove_copy(dir, path);
}

Test(contract, out_of_range_numbers_never_reach_the_driver)
{
    char trace[] = "/tmp/imi-contract-XXXXXX";
    int fd = mkstemp(trace);
    cr_assert_geq(fd, 0);
    close(fd);
    setenv("IMI_BAD_TRACE", trace, 1);
    imi_config *cfg;
    cr_assert_eq(imi_config_parse("[cache]\ndriver = good\ndriver_path = .\naddr = x\n",
                                  "t.ini", IMI_TEST_DRIVER_DIR, &cfg), IMI_OK);
    imi_app *app;
    cr_assert_eq(imi_app_open_config(cfg, &app), IMI_OK);
    imi_cache *c;
    cr_assert_eq(imi_cache_open(app, NULL, &c), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(imi_cache_set(c, NULL, "k", "v", 1, INT64_MAX), IMI_EINVALID);
    assert_has(imi_error_message(), "ttl must be 0 (none) to 3153600000000 ms");
    cr_assert_eq(imi_cache_set(c, NULL, "k", "v", 1, -1), IMI_EINVALID);
    cr_assert_eq(imi_cache_expire(c, NULL, "k", IMI_CACHE_TTL_MAX_MS + 1), IMI_EINVALID);
    const char *keys[] = { "a" };
    imi_bytes vals[] = { { "v", 1 } };
    cr_assert_eq(imi_cache_mset(c, NULL, keys, vals, 1, INT64_MAX), IMI_EINVALID);
    imi_cache_free(c);
    imi_app_free(app);
    unsetenv("IMI_BAD_TRACE");
    FILE *f = fopen(trace, "r");
    char calls[256] = "";
    size_t n = fread(calls, 1, sizeof calls - 1, f);
    calls[n] = '\0';
    fclose(f);
    unlink(trace);
    cr_assert_str_eq(calls, "open\nclose\n", "the driver was called: %s", calls);
}

/* A driver answering a code that is no imi code (7, -9999): the caller gets IMI_EDRIVER
 * naming the driver, the call and the code, and the metrics count it as one of theirs. */
Test(contract, a_code_that_is_no_imi_code_becomes_edriver)
{
    static const struct { const char *name; const char *code; } odd[] = {
        { "oddcode", "returned 7," }, { "lowcode", "returned -9999," },
    };
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        char text[256];
        snprintf(text, sizeof text, "[cache]\ndriver = %s\ndriver_path = .\naddr = x\n",
                 odd[i].name);
        imi_config *cfg;
        cr_assert_eq(imi_config_parse(text, "t.ini", IMI_TEST_DRIVER_DIR, &cfg), IMI_OK);
        imi_app *app;
        cr_assert_eq(imi_app_open_config(cfg, &app), IMI_OK, "%s", imi_error_message());
        imi_cache *c = NULL;
        cr_assert_eq(imi_cache_open(app, NULL, &c), IMI_OK, "%s", imi_error_message());
        imi_buf v = IMI_BUF_INIT;
        cr_expect_eq(imi_cache_get(c, NULL, "k", &v), IMI_EDRIVER, "%s", odd[i].name);
        assert_has(imi_error_message(), "driver");
        assert_has(imi_error_message(), "get ");
        assert_has(imi_error_message(), odd[i].code);
        cr_expect_eq(imi_cache_set(c, NULL, "k", "v", 1, 0), IMI_EDRIVER, "%s", odd[i].name);
        imi_buf_free(&v);
        imi_cache_free(c);
        imi_app_free(app);
    }
}
