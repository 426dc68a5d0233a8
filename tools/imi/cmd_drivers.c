/* imi drivers [--json]: every driver on the search path, with its descriptor. */
#include <dirent.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "json_out.h"
#include "kind_abi.h"
#include "loader.h"
#include "util.h"

typedef struct found {
    char name[256];
    char *path;
    bool by_path;               /* named by path in the config: its file name is free */
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

static void add_found(scan *s, const char *name, const char *path, bool by_path)
{
    if (seen(s, name) || strlen(name) >= sizeof s->items[0].name)
        return;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        found *items = realloc(s->items, cap * sizeof *items);
        if (!items)
            return;
        s->items = items;
        s->cap = cap;
    }
    found *f = &s->items[s->n];
    snprintf(f->name, sizeof f->name, "%s", name);
    f->by_path = by_path;
    if ((f->path = strdup(path)))
        s->n++;
}

/* Drivers a config names by path (driver = ./x.so) in its component sections. */
static void scan_config(scan *s, const imi_config *cfg)
{
    const char *sec;
    for (size_t i = 0; cfg && (sec = imi_config_section(cfg, i, NULL)); i++) {
        char kind[16];
        snprintf(kind, sizeof kind, "%.*s", (int)strcspn(sec, "."), sec);
        const char *want = imi_config_get(cfg, sec, "driver", NULL);
        if (imi_kind_parse(kind) < 0 || !want || (!strchr(want, '/') && !strstr(want, ".so")))
            continue;
        char *path = imi_path_join(imi_config_dir(cfg), want), real[PATH_MAX];
        if (path && realpath(path, real))
            add_found(s, real, real, true);
        else if (path)
            fprintf(stderr, "imi: [%s] driver %s: no such file\n", sec, path);
        free(path);
    }
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
        if (strncmp(e->d_name, "imi_", 4) || n < 4 || strcmp(e->d_name + n - 3, ".so"))
            continue;
        char *path = imi_path_join(dir, e->d_name);
        if (path)
            add_found(s, e->d_name, path, false);
        free(path);
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

/* Why the core would refuse this driver at open, or "" when it would not: NULL or
 * missing slots, a vtable too small, a name unlike its file name. */
static void problems(const imi_driver_desc *d, const char *path, bool by_path, char *out,
                     size_t cap)
{
    char why[600] = "";
    imi_kind_abi_check(d, why, sizeof why);
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    char expect[256];
    imi_driver_file_name(d->kind, d->name, expect, sizeof expect);
    size_t used = (size_t)snprintf(out, cap, "%s", why);
    if (!by_path && strcmp(base, expect) && used < cap)
        snprintf(out + used, cap - used, "%sname '%s' is unlike its file name %s (driver = %s "
                 "finds %s)", used ? "; " : "", d->name, base, d->name, expect);
}

static void print_text(const imi_driver_desc *d, const char *path, bool by_path)
{
    char caps[128], why[900];
    imi_kind_abi_cap_names(d->kind, d->caps, caps, sizeof caps);
    problems(d, path, by_path, why, sizeof why);
    printf("%-6s %-10s %-8s ABI %u.%u caps %s  %s\n       %s\n", imi_kind_name(d->kind),
           d->name, d->version, d->abi_major, d->abi_minor, caps, d->description, path);
    if (why[0])
        printf("       REFUSED at open: %s\n", why);
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

static void print_json(const imi_driver_desc *d, const char *path, bool by_path, bool first)
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
    char caps[128], why[900];
    imi_kind_abi_cap_names(d->kind, d->caps, caps, sizeof caps);
    problems(d, path, by_path, why, sizeof why);
    printf(",\"cap_names\":");
    json_str(stdout, caps);
    printf(",\"usable\":%s,\"problems\":", why[0] ? "false" : "true");
    json_str(stdout, why[0] ? why : NULL);
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
    scan_config(&s, cfg);
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
            const imi_driver_desc *d = imi_driver_descriptor(drv);
            char why[900];
            bool by_path = s.items[i].by_path;
            problems(d, s.items[i].path, by_path, why, sizeof why);
            failures += why[0] != '\0';
            if (json)
                print_json(d, s.items[i].path, by_path, shown == 0);
            else
                print_text(d, s.items[i].path, by_path);
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
             "  Lists every imi_<kind>_<name>.so in the search path ([drivers] path of FILE,\n"
             "  $IMI_DRIVER_PATH, then the build tree for a program run from it, else the\n"
             "  install folders) and, with -c, the drivers FILE names by path. A driver the\n"
             "  core would refuse at open (NULL required slots, capabilities without their\n"
             "  slots, a vtable too small, a name unlike its file name) is flagged REFUSED\n"
             "  and makes the exit code 1.\n",
    .run = run,
};
