/* libiminfra.so exports its public API and nothing else: an application's own functions
 * that share a name with one of the library's internals (imi_db_run, imi_instance_open,
 * or the names they had before they took the imi_ prefix, db_run, coord_join) must not
 * replace them. This program is linked against the shared library and defines such
 * functions; if the dynamic linker bound the library's calls to them, the statements
 * below would not run (each stand-in fails the test when called).
 *   unit_lib_exports */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "iminfra/iminfra.h"

static void hijacked(const char *name)
{
    fprintf(stderr, "FAIL: the library called the application's %s\n", name);
    exit(1);
}

/* The application's own functions, whatever their signatures. */
int db_run(void) { hijacked("db_run"); return 0; }
int coord_join(void) { hijacked("coord_join"); return 0; }
int imi_db_run(void) { hijacked("imi_db_run"); return 0; }
int imi_db_pool_acquire(void) { hijacked("imi_db_pool_acquire"); return 0; }
int imi_db_sql_prepare(void) { hijacked("imi_db_sql_prepare"); return 0; }
int imi_db_rows_new(void) { hijacked("imi_db_rows_new"); return 0; }
int imi_coord_join(void) { hijacked("imi_coord_join"); return 0; }
int imi_instance_open(void) { hijacked("imi_instance_open"); return 0; }
int imi_kind_parse(void) { hijacked("imi_kind_parse"); return 0; }

static void check(int rc, const char *what)
{
    if (rc) {
        fprintf(stderr, "FAIL: %s: %s\n", what, imi_error_message());
        exit(1);
    }
}

int main(void)
{
    imi_config *cfg;
    check(imi_config_parse("[log]\nlevel = warn\n[db]\ndriver = sqlite\npath = :memory:\n"
                           "pool_size = 1\n[coord]\ndriver = mem\n",
                           "exports.ini", ".", &cfg), "config");
    imi_app *app;
    check(imi_app_open_config(cfg, &app), "app");
    imi_db *db;
    check(imi_db_open(app, NULL, &db), "db open");
    check(imi_db_exec(db, NULL, "CREATE TABLE t (v TEXT)", NULL, 0, NULL), "create");
    imi_db_param p = IMI_DB_PTEXT("kept");
    check(imi_db_exec(db, NULL, "INSERT INTO t VALUES (?)", &p, 1, NULL), "insert");
    imi_db_rows *r;
    check(imi_db_query_writer(db, NULL, "SELECT v FROM t", NULL, 0, &r), "select");
    const char *v = NULL;
    if (imi_db_rows_next(r, NULL) != 1 || imi_db_rows_text(r, 0, &v, NULL) || strcmp(v, "kept")) {
        fprintf(stderr, "FAIL: the row written is not read back\n");
        return 1;
    }
    imi_db_rows_free(r);
    imi_db_free(db);
    imi_coord *coord;
    check(imi_coord_open(app, NULL, &coord), "coord open");
    imi_coord_registration *reg;
    check(imi_coord_register(coord, NULL, "svc", "one", "127.0.0.1:1", 10000, &reg),
          "register");
    check(imi_coord_deregister(reg, NULL), "deregister");
    imi_coord_free(coord);
    imi_app_free(app);
    puts("ok: the library's internals are its own");
    return 0;
}
