/* The contract cases every kind shares (contract.h): a driver whose open fails, and one
 * with a required slot NULL, loaded by path from tests/conformance/bad_drivers. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "contract.h"

#ifndef IMI_CONF_INSTALLED_BAD_DRIVERS
#define IMI_CONF_INSTALLED_BAD_DRIVERS "../lib/iminfra/conformance"
#endif

static bool exists_in(const char *dir, const char *file, char *path, size_t cap)
{
    int n = snprintf(path, cap, "%s/%s", dir, file);
    return n > 0 && (size_t)n < cap && access(path, R_OK) == 0;
}

bool imi_conf_bad_driver(imi_conf_t *t, const char *kind, const char *what, char *path,
                         size_t cap)
{
    char file[96];
    snprintf(file, sizeof file, "imi_%s_%s.so", kind, what);
    const char *env = getenv("IMI_CONF_BAD_DRIVERS");
    if (env && *env) {
        if (exists_in(env, file, path, cap))
            return true;
        imi_conf_fail(t, __FILE__, __LINE__, "%s not in $IMI_CONF_BAD_DRIVERS (%s)", file, env);
        return false;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash)
            *slash = '\0';
        static const char *const beside[] = { "bad_drivers", "../tests/conformance/bad_drivers",
                                              IMI_CONF_INSTALLED_BAD_DRIVERS };
        char dir[PATH_MAX + 64];
        for (size_t i = 0; i < sizeof beside / sizeof beside[0]; i++) {
            snprintf(dir, sizeof dir, "%s/%s", exe, beside[i]);
            if (exists_in(dir, file, path, cap))
                return true;
        }
    }
    imi_conf_fail(t, __FILE__, __LINE__,
                  "the broken test driver %s was not found: set IMI_CONF_BAD_DRIVERS to "
                  "its folder (build/tests/conformance/bad_drivers)", file);
    return false;
}

/* An app whose [kind] loads `path`. */
static int app_for(const char *kind, const char *path, imi_app **app)
{
    char text[PATH_MAX + 128];
    snprintf(text, sizeof text, "[log]\nlevel = error\n[%s]\ndriver = %s\n", kind, path);
    imi_config *cfg = NULL;
    int rc = imi_config_parse(text, "contract.ini", ".", &cfg);
    return rc ? rc : imi_app_open_config(cfg, app);
}

static int closes(void)
{
    const char *v = getenv("IMI_BAD_DRIVER_CLOSES");
    return v ? atoi(v) : 0;
}

/* True when `word` appears in s with no identifier character on either side. */
static bool has_word(const char *s, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = s; (p = strstr(p, word)); p++) {
        bool left = p == s || !(p[-1] == '_' || (p[-1] >= 'a' && p[-1] <= 'z') ||
                                (p[-1] >= 'A' && p[-1] <= 'Z') || (p[-1] >= '0' && p[-1] <= '9'));
        char r = p[n];
        bool right = !(r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') ||
                       (r >= '0' && r <= '9'));
        if (left && right)
            return true;
    }
    return false;
}

void imi_conf_open_fails_cleanly(imi_conf_t *t, const imi_conf_kind *k)
{
    char path[PATH_MAX];
    if (!imi_conf_bad_driver(t, k->kind, "open_fails", path, sizeof path))
        return;
    unsetenv("IMI_BAD_DRIVER_CLOSES");
    imi_app *app = NULL;
    CONF_OK(t, app_for(k->kind, path, &app));
    void *h = NULL;
    int rc = k->open(app, &h);
    char msg[512];
    snprintf(msg, sizeof msg, "%s", imi_error_message());
    if (h) /* a handle after a failed open must still free cleanly */
        k->free(h);
    imi_app_free(app);
    CONF_CHECK(t, rc == IMI_EUNAVAILABLE, "imi_%s_open returned %s, expected the driver's "
               "IMI_EUNAVAILABLE (%s)", k->kind, imi_err_name(rc), msg);
    CONF_CHECK(t, strstr(msg, "open fails on purpose"), "the error lost the driver's "
               "message: %s", msg);
    CONF_CHECK(t, h == NULL, "imi_%s_open failed but handed out a handle", k->kind);
    CONF_CHECK(t, closes() == 1, "the driver's close was called %d times after its failed "
               "open, expected once", closes());
}

void imi_conf_required_slot_null_refused(imi_conf_t *t, const imi_conf_kind *k)
{
    char path[PATH_MAX];
    if (!imi_conf_bad_driver(t, k->kind, "null_slot", path, sizeof path))
        return;
    unsetenv("IMI_BAD_DRIVER_CLOSES");
    imi_app *app = NULL;
    CONF_OK(t, app_for(k->kind, path, &app));
    void *h = NULL;
    int rc = k->open(app, &h);
    char msg[512];
    snprintf(msg, sizeof msg, "%s", imi_error_message());
    if (h)
        k->free(h);
    imi_app_free(app);
    const char *file = strrchr(path, '/') + 1;
    CONF_CHECK(t, rc == IMI_EDRIVER, "imi_%s_open of a driver without %s returned %s, "
               "expected IMI_EDRIVER (%s)", k->kind, k->required_slot, imi_err_name(rc), msg);
    CONF_CHECK(t, h == NULL, "imi_%s_open refused the driver but handed out a handle", k->kind);
    CONF_CHECK(t, strstr(msg, file), "the refusal does not name the file %s: %s", file, msg);
    CONF_CHECK(t, has_word(msg, k->required_slot), "the refusal does not name the slot %s: %s",
               k->required_slot, msg);
    CONF_CHECK(t, closes() == 0, "the driver's close was called %d times, though it was "
               "refused before its open", closes());
}
