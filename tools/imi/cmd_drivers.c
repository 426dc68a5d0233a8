/* imi drivers [--json]: every driver on the search path, with its descriptor. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "json_out.h"
#include "loader.h"

typedef struct found {
    char name[256];
    char *path;
} found;

typedef struct scan {
    found *items;
    size_t n, cap;
} scan;

static bool seen(const scan *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->items[i].name, name))
            return true;
    return false;
}

static int scan_dir(void *ud, const char *dir)
{
    scan *s = ud;
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (strncmp(e->d_name, "imi_", 4) || n < 4 || strcmp(e->d_name + n - 3, ".so") ||
            n >= sizeof s->items[0].name || seen(s, e->d_name))
            continue;
        if (s->n == s->cap) {
            size_t cap = s->cap ? s->cap * 2 : 16;
            found *items = realloc(s->items, cap * sizeof *items);
            if (!items)
                break;
            s->items = items;
            s->cap = cap;
        }
        found *f = &s->items[s->n];
        snprintf(f->name, sizeof f->name, "%s", e->d_name);
        size_t len = strlen(dir) + n + 2;
        f->path = malloc(len);
        if (!f->path)
            break;
        snprintf(f->path, len, "%s/%s", dir, e->d_name);
        s->n++;
    }
    closedir(d);
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const found *)a)->name, ((const found *)b)->name);
}

static const char *type_name(imi_opt_type t)
{
    static const char *const names[] = { "?", "string", "int", "bool", "double", "duration",
                                         "size", "path", "list" };
    return t >= IMI_OPT_STRING && t <= IMI_OPT_LIST ? names[t] : "?";
}

static void print_text(const imi_driver_desc *d, const char *path)
{
    printf("%-6s %-10s %-8s ABI %u.%u caps 0x%llx  %s\n       %s\n", imi_kind_name(d->kind),
           d->name, d->version, d->abi_major, d->abi_minor, (unsigned long long)d->caps,
           d->description, path);
    for (size_t i = 0; i < d->n_options; i++) {
        const imi_option_spec *o = &d->options[i];
        printf("       %-16s %-8s %s%s%s%s%s\n", o->name, type_name(o->type),
               o->flags & IMI_OPT_REQUIRED ? "required " : "",
               o->flags & IMI_OPT_SECRET ? "secret " : "",
               o->default_value ? "default=" : "",
               o->default_value ? (o->flags & IMI_OPT_SECRET && *o->default_value ? "***"
                                                                        : o->default_value)
                             : "",
               o->help ? "" : "");
        if (o->help)
            printf("       %16s %s\n", "", o->help);
    }
}

static void print_json(const imi_driver_desc *d, const char *path, bool first)
{
    printf("%s\n  {\"kind\":", first ? "" : ",");
    json_str(stdout, imi_kind_name(d->kind));
    printf(",\"name\":");
    json_str(stdout, d->name);
    printf(",\"version\":");
    json_str(stdout, d->version);
    printf(",\"abi\":\"%u.%u\",\"caps\":%llu,\"description\":", d->abi_major, d->abi_minor,
           (unsigned long long)d->caps);
    json_str(stdout, d->description);
    printf(",\"path\":");
    json_str(stdout, path);
    printf(",\"options\":[");
    for (size_t i = 0; i < d->n_options; i++) {
        const imi_option_spec *o = &d->options[i];
        printf("%s{\"name\":", i ? "," : "");
        json_str(stdout, o->name);
        printf(",\"type\":\"%s\",\"default\":", type_name(o->type));
        json_str(stdout, o->flags & IMI_OPT_SECRET && o->default_value && *o->default_value
                             ? "***" : o->default_value);
        printf(",\"required\":%s,\"secret\":%s,\"help\":",
               o->flags & IMI_OPT_REQUIRED ? "true" : "false",
               o->flags & IMI_OPT_SECRET ? "true" : "false");
        json_str(stdout, o->help);
        printf("}");
    }
    printf("]}");
}

static int run(int argc, char **argv)
{
    int bad = 0;
    bool json = cli_take_flag(&argc, argv, "--json");
    const char *cfg_path = cli_take_opt(&argc, argv, "-c", &bad);
    if (bad || argc > 1)
        return cli_usage(&imi_cmd_drivers, "unexpected argument");
    imi_config *cfg = NULL;
    if (cfg_path && imi_config_load(cfg_path, &cfg))
        return cli_fail(imi_error_code(), "config %s", cfg_path);
    scan s = { 0 };
    imi_driver_search_dirs(cfg, NULL, scan_dir, &s);
    qsort(s.items, s.n, sizeof *s.items, by_name);
    int failures = 0;
    if (json)
        printf("[");
    for (size_t i = 0, shown = 0; i < s.n; i++) {
        imi_driver *drv;
        if (imi_driver_load_file(s.items[i].path, 0, NULL, &drv)) {
            fprintf(stderr, "imi: %s\n", imi_error_message());
            failures++;
        } else {
            if (json)
                print_json(imi_driver_descriptor(drv), s.items[i].path, shown == 0);
            else
                print_text(imi_driver_descriptor(drv), s.items[i].path);
            shown++;
            imi_driver_release(drv);
        }
        free(s.items[i].path);
    }
    if (json)
        printf("\n]\n");
    free(s.items);
    imi_config_free(cfg);
    if (s.n == 0) {
        fprintf(stderr, "imi: no drivers found (set IMI_DRIVER_PATH or [drivers] path)\n");
        return IMI_EXIT_NOTFOUND;
    }
    return failures ? IMI_EXIT_ERROR : IMI_EXIT_OK;
}

const imi_cmd imi_cmd_drivers = {
    .name = "drivers",
    .summary = "list the drivers found: kind, name, version, ABI, capabilities, options",
    .usage = "usage: imi drivers [--json] [-c FILE]\n"
             "  Lists every imi_<kind>_<name>.so in the search path: [drivers] path of FILE,\n"
             "  $IMI_DRIVER_PATH, the install folder beside the running program or library,\n"
             "  the build tree, the compiled-in install folder.\n",
    .run = run,
};
