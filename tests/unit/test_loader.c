/* The loader refuses bad drivers with one line naming the file and every mismatch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <criterion/criterion.h>
#include "iminfra/iminfra.h"
#include "loader.h"

#define DRV(name) IMI_TEST_DRIVER_DIR "/imi_cache_" name ".so"

/* Loads a file expecting kind cache and the given name; returns the refusal message. */
static const char *refusal(const char *path, const char *name)
{
    imi_driver *drv = NULL;
    int rc = imi_driver_load_file(path, IMI_KIND_CACHE, name, &drv);
    cr_assert_neq(rc, IMI_OK, "%s was accepted", path);
    cr_assert_null(drv);
    return imi_error_message();
}

#define assert_has(msg, part) cr_assert(strstr((msg), (part)), "'%s' not in: %s", (part), (msg))

Test(loader, good_driver_loads_and_is_shared)
{
    imi_driver *a, *b;
    cr_assert_eq(imi_driver_load_file(DRV("good"), IMI_KIND_CACHE, "good", &a), IMI_OK, "%s",
                 imi_error_message());
    cr_assert_eq(imi_driver_load_file(DRV("good"), IMI_KIND_CACHE, "good", &b), IMI_OK);
    cr_assert_eq(a, b, "the same file loaded twice must be one driver");
    const imi_driver_desc *d = imi_driver_descriptor(a);
    cr_assert_str_eq(d->name, "good");
    cr_assert_eq(d->n_options, 5);
    imi_driver_release(a);
    imi_driver_release(b);
}

Test(loader, no_entry_symbol)
{
    const char *m = refusal(DRV("noentry"), NULL);
    assert_has(m, "imi_cache_noentry.so");
    assert_has(m, "no entry symbol imi_driver_entry");
}

Test(loader, wrong_abi_major)
{
    const char *m = refusal(DRV("abimajor"), NULL);
    assert_has(m, "imi_cache_abimajor.so refused");
    assert_has(m, "ABI major 2, core has 1");
}

Test(loader, newer_abi_minor)
{
    char want[64];
    snprintf(want, sizeof want, "ABI minor 99 is newer than the core's %d", IMI_ABI_MINOR);
    assert_has(refusal(DRV("abiminor"), NULL), want);
}

Test(loader, wrong_kind)
{
    assert_has(refusal(DRV("wrongkind"), NULL), "kind mq, expected cache");
}

Test(loader, descriptor_too_small)
{
    assert_has(refusal(DRV("small"), NULL), "descriptor too small: 16 bytes");
}

Test(loader, name_differs)
{
    assert_has(refusal(DRV("misnamed"), "misnamed"), "name 'othername', config asked for 'misnamed'");
}

Test(loader, every_mismatch_in_one_line)
{
    const char *m = refusal(DRV("manyfaults"), NULL);
    assert_has(m, "ABI major 7, core has 1");
    assert_has(m, "kind db, expected cache");
    cr_assert_null(strchr(m, '\n'), "one line: %s", m);
}

Test(loader, not_a_shared_object)
{
    const char *m = refusal(DRV("text"), NULL);
    assert_has(m, "imi_cache_text.so cannot be loaded");
}

Test(loader, missing_file)
{
    assert_has(refusal(IMI_TEST_DRIVER_DIR "/imi_cache_absent.so", NULL), "no such file");
}

/* Through config: the message starts with file:line of the driver key. */
static const char *open_error(const char *text)
{
    imi_config *cfg;
    cr_assert_eq(imi_config_parse(text, "t.ini", IMI_TEST_DRIVER_DIR, &cfg), IMI_OK, "%s",
                 imi_error_message());
    imi_app *app;
    cr_assert_eq(imi_app_open_config(cfg, &app), IMI_OK, "%s", imi_error_message());
    imi_cache *c = NULL;
    int rc = imi_cache_open(app, NULL, &c);
    cr_assert_neq(rc, IMI_OK);
    cr_assert_null(c);
    static char msg[1024];
    snprintf(msg, sizeof msg, "%s", imi_error_message());
    imi_app_free(app);
    return msg;
}

Test(loader, config_names_file_and_line)
{
    const char *m = open_error("[log]\nlevel = error\n\n[cache]\ndriver = abimajor\n"
                               "driver_path = .\naddr = x\n");
    assert_has(m, "t.ini:5: driver ");
    assert_has(m, "ABI major 2");
}

Test(loader, driver_not_found_lists_places)
{
    const char *m = open_error("[cache]\ndriver = nosuch\ndriver_path = /nonexistent/a\n");
    assert_has(m, "t.ini:2: driver 'nosuch' for [cache] not found: no imi_cache_nosuch.so in "
                  "/nonexistent/a");
}

Test(loader, driver_by_relative_path)
{
    /* Relative to the config's folder, which is the test driver folder here. */
    const char *m = open_error("[cache]\ndriver = ./imi_cache_wrongkind.so\naddr = x\n");
    assert_has(m, "t.ini:2: driver ");
    assert_has(m, "kind mq, expected cache");
}

Test(loader, search_order_prefers_section_path)
{
    imi_config *cfg;
    cr_assert_eq(imi_config_parse("[drivers]\npath = /nonexistent/b\n[cache]\ndriver = good\n"
                                  "driver_path = " IMI_TEST_DRIVER_DIR "\naddr = x\n",
                                  "t.ini", ".", &cfg), IMI_OK);
    imi_driver *drv;
    cr_assert_eq(imi_driver_load_for(cfg, "cache", IMI_KIND_CACHE, &drv), IMI_OK, "%s",
                 imi_error_message());
    cr_assert(strstr(imi_driver_file(drv), "test_drivers/imi_cache_good.so"));
    imi_driver_release(drv);
    imi_config_free(cfg);
}

Test(loader, env_path_is_searched)
{
    setenv("IMI_DRIVER_PATH", "/nonexistent/c:" IMI_TEST_DRIVER_DIR, 1);
    imi_config *cfg;
    cr_assert_eq(imi_config_parse("[cache]\ndriver = good\naddr = x\n", "t.ini", ".", &cfg), IMI_OK);
    imi_driver *drv;
    cr_assert_eq(imi_driver_load_for(cfg, "cache", IMI_KIND_CACHE, &drv), IMI_OK, "%s",
                 imi_error_message());
    imi_driver_release(drv);
    imi_config_free(cfg);
}

Test(loader, build_tree_has_the_mem_cache)
{
    unsetenv("IMI_DRIVER_PATH");
    imi_config *cfg;
    cr_assert_eq(imi_config_parse("[cache]\ndriver = mem\n", "t.ini", "/", &cfg), IMI_OK);
    imi_driver *drv;
    cr_assert_eq(imi_driver_load_for(cfg, "cache", IMI_KIND_CACHE, &drv), IMI_OK, "%s",
                 imi_error_message());
    cr_assert_str_eq(imi_driver_descriptor(drv)->name, "mem");
    imi_driver_release(drv);
    imi_config_free(cfg);
}
