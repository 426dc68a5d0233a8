/* Helpers for the clog tests that read log files back: a temporary folder, the file's
 * text, and each line parsed by jansson with duplicate keys refused. */
#ifndef IMI_TEST_CLOG_UTIL_H
#define IMI_TEST_CLOG_UTIL_H

#include <criterion/criterion.h>
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char clog_dir[64];
static char clog_path[128];

static inline void clog_setup(void)
{
    strcpy(clog_dir, "/tmp/clog_test_XXXXXX");
    cr_assert_not_null(mkdtemp(clog_dir));
    snprintf(clog_path, sizeof clog_path, "%s/out.log", clog_dir);
}

static inline void clog_teardown(void)
{
    DIR *d = opendir(clog_dir);
    struct dirent *e;
    char p[512];
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.') {
            snprintf(p, sizeof p, "%s/%s", clog_dir, e->d_name);
            unlink(p);
        }
    if (d)
        closedir(d);
    rmdir(clog_dir);
}

/* The whole file, NUL-terminated; "" when it does not exist. malloc'd. */
static inline char *clog_slurp(const char *p, size_t *len)
{
    FILE *f = fopen(p, "rb");
    *len = 0;
    if (!f)
        return calloc(1, 1);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    cr_assert_eq(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = 0;
    fclose(f);
    *len = (size_t)n;
    return s;
}

/* One line as a JSON object; fails the test when it is not one or repeats a key. */
static inline json_t *clog_parse(const char *line, size_t n)
{
    json_error_t err;
    json_t *j = json_loadb(line, n, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &err);
    cr_assert_not_null(j, "line does not parse (%s): %.*s", err.text, (int)n, line);
    cr_assert(json_is_object(j), "not an object: %.*s", (int)n, line);
    return j;
}

typedef void (*clog_line_fn)(json_t *line, void *arg);

/* Parses every line of file p; returns the count. Each line must end with a newline. */
static inline size_t clog_each_line(const char *p, clog_line_fn fn, void *arg)
{
    size_t len, count = 0;
    char *s = clog_slurp(p, &len);
    if (len)
        cr_assert_eq(s[len - 1], '\n', "%s does not end with a newline", p);
    for (char *l = s, *nl; l < s + len; l = nl + 1) {
        nl = memchr(l, '\n', (size_t)(s + len - l));
        json_t *j = clog_parse(l, (size_t)(nl - l));
        if (fn)
            fn(j, arg);
        json_decref(j);
        count++;
    }
    free(s);
    return count;
}

static inline const char *clog_str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    cr_assert_not_null(s, "no string \"%s\"", key);
    return s;
}

#endif
