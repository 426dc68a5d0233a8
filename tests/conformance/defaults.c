/* What `imi conformance` runs on without -c: a working config, built in memory, for each
 * in-tree embedded driver; and for any other driver, the list of the options it needs. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "conformance.h"
#include "loader.h"

/* The [KIND] section of each embedded driver: what tests/conformance/configs/ holds for
 * it, minus what depends on the machine. */
static const struct {
    const char *kind, *driver, *text;
} defaults[] = {
    { "cache", "mem", "[cache]\ndriver = mem\nprefix = conf:\nmax_entries = 100000\n" },
    { "mq", "mem", "[mq]\ndriver = mem\nnamespace = conformance\npartitions = 8\n"
                   "max_queue = 100000\nmax_attempts = 5\nredelivery_delay = 20ms\n" },
    { "coord", "mem", "[coord]\ndriver = mem\nprefix = conf/\nnamespace = conformance\n" },
    /* Two files, so that reader routing shows in what a query reads; the suite seeds the
     * reader's file through [db.reader_seed]. %s is the temporary folder. */
    { "db", "sqlite", "[db]\ndriver = sqlite\npath = %s/writer.db\nreaders = %s/reader.db\n"
                      "pool_size = 4\nbusy_timeout = 10s\nslow_query = 1s\n"
                      "[db.reader_seed]\ndriver = sqlite\npath = %s/reader.db\npool_size = 1\n" },
};

static int make_tmpdir(char *tmpdir, size_t cap)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, cap, "%s/imi-conformance-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir))
        return imi_error_set(IMI_EINTERNAL, 0, "cannot create a temporary folder %s", tmpdir);
    /* The read-only reader opens an existing file: an empty file is an empty database. */
    char path[4200];
    snprintf(path, sizeof path, "%s/reader.db", tmpdir);
    FILE *f = fopen(path, "w");
    if (!f)
        return imi_error_set(IMI_EINTERNAL, 0, "cannot create %s", path);
    fclose(f);
    return IMI_OK;
}

int imi_conf_default_config(const char *kind, const char *driver, imi_config **out,
                            char *tmpdir, size_t cap)
{
    *out = NULL;
    tmpdir[0] = '\0';
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++) {
        if (strcmp(defaults[i].kind, kind) || strcmp(defaults[i].driver, driver))
            continue;
        int rc = IMI_OK;
        bool needs_dir = strstr(defaults[i].text, "%s") != NULL;
        if (needs_dir && (rc = make_tmpdir(tmpdir, cap)))
            return rc;
        char text[8192];
        snprintf(text, sizeof text, "[log]\nlevel = warn\n");
        size_t len = strlen(text);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        snprintf(text + len, sizeof text - len, defaults[i].text, tmpdir, tmpdir, tmpdir);
#pragma GCC diagnostic pop
        rc = imi_config_parse(text, "<conformance default>", needs_dir ? tmpdir : ".", out);
        if (rc)
            imi_conf_default_cleanup(tmpdir);
        return rc;
    }
    return IMI_ENOTFOUND;
}

void imi_conf_default_cleanup(const char *tmpdir)
{
    if (!tmpdir || !tmpdir[0])
        return;
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", tmpdir, e->d_name);
        unlink(path);
    }
    if (d)
        closedir(d);
    rmdir(tmpdir);
}

typedef struct required_args {
    const char *kind;
    const imi_config *cfg;
} required_args;

/* In a child process: loads the driver and lists the required options cfg lacks. */
static bool check_required(void *arg, char *msg, size_t cap)
{
    required_args *a = arg;
    imi_driver *drv = NULL;
    /* driver = chaos stands in front of its target: the target's options count. */
    const char *d0 = imi_config_get(a->cfg, a->kind, "driver", NULL);
    const char *key = d0 && !strcmp(d0, "chaos") ? "target" : "driver";
    int rc = imi_driver_load_key(a->cfg, a->kind, key, (imi_kind)imi_kind_parse(a->kind), &drv);
    if (rc) {
        snprintf(msg, cap, "%s", imi_error_message());
        return false;
    }
    const imi_driver_desc *d = imi_driver_descriptor(drv);
    size_t len = 0, missing = 0;
    msg[0] = '\0';
    for (size_t i = 0; d->options && i < d->n_options; i++) {
        const imi_option_spec *o = &d->options[i];
        size_t nl = strlen(o->name);
        if (!(o->flags & IMI_OPT_REQUIRED) || (nl >= 2 && !strcmp(o->name + nl - 2, ".*")) ||
            imi_config_get(a->cfg, a->kind, o->name, NULL))
            continue;
        if (len < cap)
            len += (size_t)snprintf(msg + len, cap - len, "%s%s", missing ? ", " : "",
                                    o->name);
        missing++;
    }
    imi_driver_release(drv);
    if (!missing)
        return true;
    char names[IMI_CONF_MSG_MAX];
    snprintf(names, sizeof names, "%s", msg);
    snprintf(msg, cap, "needs option%s %s", missing > 1 ? "s" : "", names);
    return false;
}

bool imi_conf_required_options(const char *kind, const imi_config *cfg, int timeout_s,
                               char *msg, size_t cap)
{
    required_args a = { .kind = kind, .cfg = cfg };
    return imi_conf_isolate(check_required, &a, timeout_s, msg, cap);
}
