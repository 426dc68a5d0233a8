/* Error names, messages and the per-thread detail of the last failure. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "iminfra/error.h"

static _Thread_local struct {
    int code;
    long native;
    char message[512];
} last_error;

const char *imi_strerror(int code)
{
    switch (code) {
#define IMI_ERRNO_MSG_(name, val, msg) case val: return msg;
        IMI_ERRNO_MAP(IMI_ERRNO_MSG_)
#undef IMI_ERRNO_MSG_
    }
    return "unknown error";
}

const char *imi_err_name(int code)
{
    switch (code) {
#define IMI_ERRNO_NAME_(name, val, msg) case val: return "IMI_" #name;
        IMI_ERRNO_MAP(IMI_ERRNO_NAME_)
#undef IMI_ERRNO_NAME_
    }
    return "IMI_E?";
}

int imi_error_code(void) { return last_error.code; }
const char *imi_error_message(void) { return last_error.message; }
long imi_error_native(void) { return last_error.native; }

void imi_error_clear(void)
{
    last_error.code = 0;
    last_error.native = 0;
    last_error.message[0] = '\0';
}

int imi_error_set(int code, long native, const char *fmt, ...)
{
    last_error.code = code;
    last_error.native = native;
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(last_error.message, sizeof last_error.message, fmt, ap);
        va_end(ap);
    } else {
        last_error.message[0] = '\0';
    }
    return code;
}

int imi_error_prefix(const char *fmt, ...)
{
    char prefix[256], saved[sizeof last_error.message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(saved, last_error.message, sizeof saved);
    size_t cap = sizeof last_error.message, n = strlen(prefix);
    if (n > cap - 3)
        n = cap - 3;
    memcpy(last_error.message, prefix, n);
    memcpy(last_error.message + n, ": ", 2);
    size_t rest = strnlen(saved, cap - n - 3);
    memcpy(last_error.message + n + 2, saved, rest);
    last_error.message[n + 2 + rest] = '\0';
    return last_error.code;
}
