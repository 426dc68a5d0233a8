/* Fuzz target: a db mock script (drivers/db/mock/mock_script.c, built in from its
 * source), one command per line as the `script = FILE` option reads it; then every
 * expectation is matched against a call, described, and its rows read cell by cell the
 * way the driver answers a query. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mock.h"

static int host_error(int code, long native, const char *fmt, ...)
{
    (void)native;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return code;
}

static volatile size_t sink;     /* keeps the reads of use() */

static const imi_host_api host = { .size = sizeof host, .error = host_error };

static void use(const mock_expect *e)
{
    static const char raw[] = "SELECT  a FROM t WHERE id = ?";
    char *norm = mock_normalize_sql(raw, sizeof raw - 1);
    imi_db_param p[2] = { { .type = IMI_DB_INT, .v.i = 42 },
                          { .type = IMI_DB_TEXT, .v.s = { .ptr = "x'y", .len = 3 } } };
    if (norm) {
        mock_expect_matches(e, e->call, norm, raw, p, 2, false);
        mock_expect_matches(e, e->call, norm, raw, p, 1, true);
    }
    free(norm);
    char *buf = NULL;
    size_t len = 0;
    mock_describe_expect(&buf, &len, e);
    free(buf);
    /* What mock.c's result accessors read: every column of every row. */
    for (size_t r = 0; r < e->n_rows; r++)
        for (size_t c = 0; c < e->n_columns; c++)
            sink += (size_t)e->rows[r].v[c].type + strlen(e->columns[c]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    mock_state m = { .host = &host };
    char *save = NULL;
    for (char *line = strtok_r(text, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save)) {
        char *p = line + strspn(line, " \t");
        if (!*p || *p == '#' || *p == ';')
            continue;
        char *arg = p + strcspn(p, " \t");
        if (*arg)
            *arg++ = '\0';
        if (mock_command(&m, p, arg))
            break;                      /* load_script stops at the first bad command */
    }
    for (size_t i = 0; i < m.n_ex; i++) {
        use(&m.ex[i]);
        mock_expect_free(&m.ex[i]);
    }
    free(m.ex);
    free(text);
    return 0;
}
