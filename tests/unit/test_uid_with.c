/* imi_uid_open_with: the worker id through a coord handle the application holds. */
#include <string.h>
#include <criterion/criterion.h>
#include "iminfra/iminfra.h"

static imi_app *app_of(const char *text)
{
    imi_config *cfg;
    cr_assert_eq(imi_config_parse(text, "w.ini", ".", &cfg), IMI_OK, "%s", imi_error_message());
    imi_app *app;
    cr_assert_eq(imi_app_open_config(cfg, &app), IMI_OK, "%s", imi_error_message());
    return app;
}

Test(uid_with, workers_from_one_borrowed_handle)
{
    imi_app *app = app_of("[log]\nlevel = off\n[service]\nname = svc\n[coord]\ndriver = mem\n"
                          "[uid]\nepoch = 2020-01-01\n");
    imi_coord *coord;
    cr_assert_eq(imi_coord_open(app, NULL, &coord), IMI_OK, "%s", imi_error_message());
    imi_uid *a, *b;
    cr_assert_eq(imi_uid_open_with(app, NULL, coord, &a), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(imi_uid_open_with(app, NULL, coord, &b), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(imi_uid_epoch(a), 1577836800000LL);
    int wa = imi_uid_worker(a), wb = imi_uid_worker(b);
    cr_assert(wa >= 0 && wb >= 0 && wa != wb, "workers %d and %d", wa, wb);
    int64_t x, y;
    cr_assert_eq(imi_uid_next(a, &x), IMI_OK);
    cr_assert_eq(imi_uid_next(b, &y), IMI_OK);
    cr_assert_neq(x, y);
    imi_uid_free(a);
    /* The id a held is free again for the next generator; the handle is still open. */
    imi_uid *c;
    cr_assert_eq(imi_uid_open_with(app, NULL, coord, &c), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(imi_uid_worker(c), wa);
    imi_uid_free(b);
    imi_uid_free(c);
    cr_assert_eq(imi_coord_put(coord, NULL, "still/open", "1", 1, NULL), IMI_OK, "%s",
                 imi_error_message());
    imi_coord_free(coord);
    imi_app_free(app);
}

Test(uid_with, config_errors_name_file_and_line)
{
    imi_app *app = app_of("[log]\nlevel = off\n[service]\nname = svc\n[coord]\ndriver = mem\n"
                          "[uid]\n[uid.fixed]\nworker_id = 3\n[uid.orders]\nepoch = tomorrow\n");
    imi_coord *coord;
    cr_assert_eq(imi_coord_open(app, NULL, &coord), IMI_OK, "%s", imi_error_message());
    imi_uid *u = (imi_uid *)1;
    cr_assert_eq(imi_uid_open_with(app, "fixed", coord, &u), IMI_ECONFIG);
    cr_assert_null(u);
    cr_assert(strstr(imi_error_message(), "w.ini:9: worker_id"), "%s", imi_error_message());
    cr_assert_eq(imi_uid_open_with(app, "orders", coord, &u), IMI_ECONFIG);
    cr_assert(strstr(imi_error_message(), "w.ini:11: epoch"), "%s", imi_error_message());
    cr_assert_eq(imi_uid_open_with(app, "nosuch", coord, &u), IMI_ECONFIG);
    cr_assert(strstr(imi_error_message(), "[uid.nosuch]"), "%s", imi_error_message());
    cr_assert_eq(imi_uid_open_with(app, NULL, NULL, &u), IMI_EINVALID);
    imi_coord_free(coord);
    imi_app_free(app);
}
