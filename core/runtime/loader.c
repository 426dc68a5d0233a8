/* Driver loading with libltdl: search, load, descriptor check, reference counting. */
#include <dirent.h>
#include <dlfcn.h>
#include <limits.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ltdl.h>
#include "iminfra/error.h"
#include "loader.h"
#include "util.h"

struct imi_driver {
    imi_driver *next;
    char *file;                  /* real path: the registry key */
    lt_dlhandle handle;
    imi_driver_desc desc;        /* the driver's descriptor in the core's size, zero-filled
                                    past the driver's (so fields of a newer minor read 0) */
    int refs;
};

/* libltdl is not thread-safe: every lt_* call and the registry are under this lock. */
static pthread_mutex_t loader_lock = PTHREAD_MUTEX_INITIALIZER;
static imi_driver *loaded;
static int ltdl_users;

static const char *const kind_names[] = { NULL, "cache", "mq", "db", "coord" };

const char *imi_kind_name(imi_kind kind)
{
    return (kind >= IMI_KIND_CACHE && kind <= IMI_KIND_COORD) ? kind_names[kind] : "?";
}

int imi_kind_parse(const char *name)
{
    for (int k = IMI_KIND_CACHE; k <= IMI_KIND_COORD; k++)
        if (!strcmp(name, kind_names[k]))
            return k;
    return -1;
}

void imi_driver_file_name(imi_kind kind, const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "imi_%s_%s.so", imi_kind_name(kind), name);
}

/* Every field that does not match, in one message; IMI_OK when none. */
static int check_descriptor(const char *file, const imi_driver_desc *d, imi_kind kind,
                            const char *name)
{
    char why[900] = "";
    const size_t head = offsetof(imi_driver_desc, kind) + sizeof d->kind;
    if (!d)
        return imi_error_set(IMI_EDRIVER, 0, "driver %s refused: its entry function returned "
                             "no descriptor", file);
    if (d->size < IMI_DRIVER_DESC_SIZE_1_0)
        imi_str_appendf(why, sizeof why, "; ", "descriptor too small: %u bytes, ABI 1.0 has %zu",
                   d->size, (size_t)IMI_DRIVER_DESC_SIZE_1_0);
    if (d->size >= head) {
        if (d->abi_major != IMI_ABI_MAJOR)
            imi_str_appendf(why, sizeof why, "; ", "ABI major %u, core has %u", d->abi_major, IMI_ABI_MAJOR);
        else if (d->abi_minor > IMI_ABI_MINOR)
            imi_str_appendf(why, sizeof why, "; ", "ABI minor %u is newer than the core's %u",
                       d->abi_minor, IMI_ABI_MINOR);
        if (kind && d->kind != kind)
            imi_str_appendf(why, sizeof why, "; ", "kind %s, expected %s", imi_kind_name(d->kind),
                       imi_kind_name(kind));
        else if (d->kind < IMI_KIND_CACHE || d->kind > IMI_KIND_COORD)
            imi_str_appendf(why, sizeof why, "; ", "unknown kind %d", (int)d->kind);
    }
    if (d->size >= IMI_DRIVER_DESC_SIZE_1_0) {
        if (!d->name || !*d->name)
            imi_str_appendf(why, sizeof why, "; ", "no name");
        else if (name && strcmp(d->name, name))
            imi_str_appendf(why, sizeof why, "; ", "name '%s', config asked for '%s'", d->name, name);
        if (!d->vtable)
            imi_str_appendf(why, sizeof why, "; ", "no vtable");
        if (d->n_options && !d->options)
            imi_str_appendf(why, sizeof why, "; ", "%zu options but no option schema", d->n_options);
    }
    if (why[0])
        return imi_error_set(IMI_EDRIVER, 0, "driver %s refused: %s", file, why);
    return IMI_OK;
}

/* libltdl says "file not found" for every failure; the dynamic linker's own message is
 * what a user needs (the missing library by name, not an ELF file, an executable). */
static int explain_load_failure(const char *file, const char *lt_reason)
{
    unsigned char head[20] = { 0 };
    FILE *f = fopen(file, "rb");
    size_t n = f ? fread(head, 1, sizeof head, f) : 0;
    if (f)
        fclose(f);
    if (n < sizeof head || memcmp(head, "\x7f" "ELF", 4))
        return imi_error_set(IMI_EDRIVER, 0, "driver %s cannot be loaded: not an ELF shared "
                             "object", file);
    /* e_type (little-endian here) at offset 16: 2 is ET_EXEC. */
    if (head[16] == 2 && head[17] == 0)
        return imi_error_set(IMI_EDRIVER, 0, "driver %s cannot be loaded: an executable, not "
                             "a shared object", file);
    dlerror();
    void *h = dlopen(file, RTLD_NOW | RTLD_LOCAL);
    const char *why = h ? NULL : dlerror();
    if (h)
        dlclose(h);
    if (why) {
        /* dlerror starts with the file name again: keep only the reason. */
        size_t flen = strlen(file);
        if (!strncmp(why, file, flen) && why[flen] == ':')
            why += flen + 1 + (why[flen + 1] == ' ');
    }
    return imi_error_set(IMI_EDRIVER, 0, "driver %s cannot be loaded: %s", file,
                         why ? why : lt_reason ? lt_reason : "unknown error");
}

static imi_driver *find_loaded(const char *file)
{
    for (imi_driver *d = loaded; d; d = d->next)
        if (!strcmp(d->file, file))
            return d;
    return NULL;
}

static int load_locked(const char *file, imi_kind kind, const char *name, imi_driver **out)
{
    imi_driver *drv = find_loaded(file);
    if (drv) {
        int rc = check_descriptor(file, &drv->desc, kind, name);
        if (rc)
            return rc;
        drv->refs++;
        *out = drv;
        return IMI_OK;
    }
    if (ltdl_users++ == 0 && lt_dlinit() != 0) {
        ltdl_users = 0;
        return imi_error_set(IMI_EINTERNAL, 0, "libltdl failed to start: %s", lt_dlerror());
    }
    lt_dlhandle h = lt_dlopen(file);
    if (!h) {
        const char *e = lt_dlerror();
        if (--ltdl_users == 0)
            lt_dlexit();
        return explain_load_failure(file, e);
    }
    imi_driver_entry_fn entry;
    *(void **)&entry = lt_dlsym(h, IMI_DRIVER_ENTRY_NAME);
    int rc = entry ? check_descriptor(file, entry(), kind, name)
                   : imi_error_set(IMI_EDRIVER, 0, "driver %s refused: no entry symbol %s",
                                   file, IMI_DRIVER_ENTRY_NAME);
    drv = rc ? NULL : calloc(1, sizeof *drv);
    if (drv)
        drv->file = strdup(file);
    if (!rc && (!drv || !drv->file))
        rc = imi_error_set(IMI_ENOMEM, 0, "out of memory");
    if (rc) {
        if (drv)
            free(drv->file);
        free(drv);
        lt_dlclose(h);
        if (--ltdl_users == 0)
            lt_dlexit();
        return rc;
    }
    drv->handle = h;
    const imi_driver_desc *d = entry();
    memcpy(&drv->desc, d, d->size < sizeof drv->desc ? d->size : sizeof drv->desc);
    drv->desc.size = (uint32_t)sizeof drv->desc;
    drv->desc.abi_minor = d->abi_minor;
    drv->refs = 1;
    drv->next = loaded;
    loaded = drv;
    *out = drv;
    return IMI_OK;
}

int imi_driver_load_file(const char *path, imi_kind expect_kind, const char *expect_name,
                         imi_driver **out)
{
    *out = NULL;
    char real[PATH_MAX];
    if (!realpath(path, real))
        return imi_error_set(IMI_EDRIVER, 0, "driver %s cannot be loaded: no such file", path);
    int trust = imi_driver_check_trust(real);
    if (trust)
        return trust;
    pthread_mutex_lock(&loader_lock);
    int rc = load_locked(real, expect_kind, expect_name, out);
    pthread_mutex_unlock(&loader_lock);
    return rc;
}

void imi_driver_release(imi_driver *drv)
{
    if (!drv)
        return;
    pthread_mutex_lock(&loader_lock);
    /* A driver is never unmapped, even when its last handle is gone: the client libraries
     * it pulls in (libnats' threads, libsasl2 and libmariadb's global state, atexit
     * handlers) do not survive being unloaded. The entry stays in the registry with no
     * references and is reused when the same file is asked for again. */
    drv->refs--;
    pthread_mutex_unlock(&loader_lock);
}

const imi_driver_desc *imi_driver_descriptor(const imi_driver *drv) { return &drv->desc; }
const char *imi_driver_file(const imi_driver *drv) { return drv->file; }

/* Calls fn on each entry of a ':' or ','-separated list, resolved against base. */
static int each_listed(const char *list, const char *base, int (*fn)(void *, const char *),
                       void *ud)
{
    while (list && *list) {
        size_t n = strcspn(list, ":,");
        char *item = imi_strndup(list, n);
        char *trimmed = item;
        while (trimmed && (*trimmed == ' ' || *trimmed == '\t'))
            trimmed++;
        int stop = 0;
        if (trimmed && *trimmed) {
            char *path = imi_path_join(base, trimmed);
            stop = path ? fn(ud, path) : 0;
            free(path);
        }
        free(item);
        if (stop)
            return stop;
        list += n;
        if (*list)
            list++;
    }
    return 0;
}

/* Where the core runs from decides the last places searched. A program (or libiminfra)
 * inside this build tree searches the build's driver folder; anything else never does,
 * so a stale build tree cannot replace installed drivers. An installed core searches the
 * driver folder relative to where it was loaded from, next to libiminfra
 * (IMI_DRIVER_DIR_FROM_LIBDIR) or, linked into a program, next to that program
 * (IMI_DRIVER_DIR_FROM_BINDIR), so an install moved away from its prefix (packages
 * unpacked under another root) still finds its own drivers; then the compiled-in install
 * folder. */
static char origin_dir[PATH_MAX];
static bool in_build_tree;
static pthread_once_t origin_once = PTHREAD_ONCE_INIT;

static bool path_under(const char *path, const char *root)
{
    char real_root[PATH_MAX];
    if (!realpath(root, real_root))
        return false;
    size_t n = strlen(real_root);
    return !strncmp(path, real_root, n) && (path[n] == '/' || path[n] == '\0');
}

static void find_origin_dir(void)
{
    char self[PATH_MAX], exe[PATH_MAX], dir[PATH_MAX], real[PATH_MAX];
    Dl_info info;
    const char *rel = IMI_DRIVER_DIR_FROM_BINDIR;
    if (!realpath("/proc/self/exe", exe))
        exe[0] = '\0';
    if (dladdr((void *)find_origin_dir, &info) && info.dli_fname && info.dli_fname[0] &&
        realpath(info.dli_fname, self) && strcmp(self, exe))
        rel = IMI_DRIVER_DIR_FROM_LIBDIR; /* a shared libiminfra */
    else
        snprintf(self, sizeof self, "%s", exe);
    in_build_tree = self[0] && path_under(self, IMI_BUILD_ROOT);
    char *slash = strrchr(self, '/');
    if (in_build_tree || !slash)
        return;
    *slash = '\0';
    if ((size_t)snprintf(dir, sizeof dir, "%s/%s", self, rel) >= sizeof dir || !realpath(dir, real))
        return;
    char installed[PATH_MAX];
    if (realpath(IMI_INSTALL_DRIVER_DIR, installed) && !strcmp(installed, real))
        return;
    snprintf(origin_dir, sizeof origin_dir, "%s", real);
}

void imi_driver_search_dirs(const imi_config *cfg, const char *section,
                            int (*fn)(void *ud, const char *dir), void *ud)
{
    const char *base = cfg ? imi_config_dir(cfg) : ".";
    if (cfg && section && each_listed(imi_config_get(cfg, section, "driver_path", NULL), base, fn, ud))
        return;
    if (cfg && each_listed(imi_config_get(cfg, "drivers", "path", NULL), base, fn, ud))
        return;
    if (each_listed(getenv("IMI_DRIVER_PATH"), ".", fn, ud))
        return;
    pthread_once(&origin_once, find_origin_dir);
    if (in_build_tree) {
        fn(ud, IMI_BUILD_DRIVER_DIR);
        return;
    }
    if (origin_dir[0] && fn(ud, origin_dir))
        return;
    fn(ud, IMI_INSTALL_DRIVER_DIR);
}

typedef struct search {
    const char *file_name;
    char *found;
    char tried[700];
} search;

/* The names of the drivers of one kind in the search folders, "a, b, c". */
typedef struct names_scan {
    const char *prefix;          /* "imi_cache_" */
    char *out;
    size_t cap;
} names_scan;

static int scan_names(void *ud, const char *dir)
{
    names_scan *ns = ud;
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    size_t plen = strlen(ns->prefix);
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n <= plen + 3 || strncmp(e->d_name, ns->prefix, plen) || strcmp(e->d_name + n - 3, ".so"))
            continue;
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)(n - plen - 3), e->d_name + plen);
        /* once each, in search order */
        size_t nl = strlen(name), used = strlen(ns->out);
        bool dup = false;
        for (const char *p = ns->out; (p = strstr(p, name)); p += nl)
            if ((p == ns->out || p[-1] == ' ') && (p[nl] == ',' || p[nl] == '\0'))
                dup = true;
        if (!dup && used + nl + 3 < ns->cap)
            snprintf(ns->out + used, ns->cap - used, "%s%s", used ? ", " : "", name);
    }
    closedir(d);
    return 0;
}

void imi_driver_names(const imi_config *cfg, const char *section, imi_kind kind, char *out,
                      size_t cap)
{
    char prefix[32];
    snprintf(prefix, sizeof prefix, "imi_%s_", imi_kind_name(kind));
    out[0] = '\0';
    names_scan ns = { prefix, out, cap };
    imi_driver_search_dirs(cfg, section, scan_names, &ns);
}

static int try_dir(void *ud, const char *dir)
{
    search *s = ud;
    char *path = imi_path_join(dir, s->file_name);
    if (path && imi_file_exists(path)) {
        s->found = path;
        return 1;
    }
    free(path);
    size_t used = strlen(s->tried);
    snprintf(s->tried + used, sizeof s->tried - used, "%s%s", used ? ", " : "", dir);
    return 0;
}

static bool looks_like_path(const char *v)
{
    size_t n = strlen(v);
    return strchr(v, '/') || (n > 3 && !strcmp(v + n - 3, ".so"));
}

int imi_driver_load_for(const imi_config *cfg, const char *section, imi_kind kind,
                        imi_driver **out)
{
    return imi_driver_load_key(cfg, section, "driver", kind, out);
}

int imi_driver_load_key(const imi_config *cfg, const char *section, const char *key,
                        imi_kind kind, imi_driver **out)
{
    *out = NULL;
    int line = 0;
    const char *want = imi_config_get(cfg, section, key, &line);
    if (!want || !*want)
        return imi_error_set(IMI_ECONFIG, 0, "%s:%d: [%s] has no %s (set %s = NAME)",
                             imi_config_name(cfg), imi_config_section_line(cfg, section), section,
                             key, key);
    if (looks_like_path(want)) {
        char *path = imi_path_join(imi_config_dir(cfg), want);
        if (!path)
            return imi_error_set(IMI_ENOMEM, 0, "out of memory");
        int rc = imi_driver_load_file(path, kind, NULL, out);
        if (rc)
            imi_error_prefix("%s:%d", imi_config_name(cfg), line);
        free(path);
        return rc;
    }
    search s = { 0 };
    char file_name[256];
    imi_driver_file_name(kind, want, file_name, sizeof file_name);
    s.file_name = file_name;
    imi_driver_search_dirs(cfg, section, try_dir, &s);
    if (!s.found) {
        char names[300];
        imi_driver_names(cfg, section, kind, names, sizeof names);
        return imi_error_set(IMI_ECONFIG, 0, "%s:%d: driver '%s' for [%s] not found: no %s in "
                             "%s; %s drivers found: %s (see `imi drivers`)",
                             imi_config_name(cfg), line, want, section, file_name, s.tried,
                             imi_kind_name(kind), names[0] ? names : "none");
    }
    int rc = imi_driver_load_file(s.found, kind, want, out);
    if (rc)
        imi_error_prefix("%s:%d", imi_config_name(cfg), line);
    free(s.found);
    return rc;
}
