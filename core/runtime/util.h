/* Small helpers shared inside the core. */
#ifndef IMI_CORE_UTIL_H
#define IMI_CORE_UTIL_H

#include <stddef.h>
#include <stdbool.h>

char *imi_strndup(const char *s, size_t n);
/* The whole file, NUL-terminated; NULL with errno set on failure. */
char *imi_read_file(const char *path, size_t *len);
/* The folder of path ("." for a bare name); malloc'd. */
char *imi_dirname(const char *path);
/* dir/name, or name itself when absolute; malloc'd. */
char *imi_path_join(const char *dir, const char *name);
bool imi_file_exists(const char *path);
/* Appends sep (when buf is not empty) and the formatted text to buf, truncating at cap:
 * how one-line messages listing several problems are built. */
void imi_str_appendf(char *buf, size_t cap, const char *sep, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Puts "<prefix>: " in front of the current error message; returns the current code. */
int imi_error_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
