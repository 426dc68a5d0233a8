/* Byte buffers that carry values out of a call (imi_buf) and into one (imi_bytes).
 * Threads: an imi_buf belongs to one thread at a time; nothing here is shared.
 */
#ifndef IMINFRA_BUF_H
#define IMINFRA_BUF_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Filled by a call; data is always NUL-terminated past len (so text values read as C
 * strings) and owned by the caller, who releases it with imi_buf_free. A buf may be
 * reused across calls: each call replaces the content and reuses the memory. */
struct imi_buf {
    char *data;
    size_t len;
    size_t cap;
};
typedef struct imi_buf imi_buf;
#define IMI_BUF_INIT { NULL, 0, 0 }

void imi_buf_free(imi_buf *buf);
int imi_buf_set(imi_buf *buf, const void *data, size_t len);     /* IMI_OK / IMI_ENOMEM */
int imi_buf_append(imi_buf *buf, const void *data, size_t len);

/* A borrowed view of input bytes. */
typedef struct imi_bytes {
    const void *data;
    size_t len;
} imi_bytes;

#ifdef __cplusplus
}
#endif
#endif
