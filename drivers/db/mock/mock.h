/* The scripted db mock: expectations, values and the call record (see iminfra/db_mock.h
 * for the script language). mock_script.c parses and matches, mock.c is the driver. */
#ifndef IMI_DRIVERS_DB_MOCK_H
#define IMI_DRIVERS_DB_MOCK_H

#include <pthread.h>
#include <regex.h>
#include <stdbool.h>
#include "iminfra/driver/db_driver.h"

typedef enum mock_call { MC_EXEC, MC_QUERY, MC_BEGIN, MC_COMMIT, MC_ROLLBACK } mock_call;

typedef struct mock_val {
    imi_db_type type;
    bool any;                  /* args only: matches every value */
    int64_t i;                 /* INT, BOOL */
    double d;
    char *s;                   /* TEXT, BLOB (NUL-terminated past len) */
    size_t len;
} mock_val;

typedef struct mock_vals {
    mock_val *v;
    size_t n;
} mock_vals;

typedef struct mock_expect {
    mock_call call;
    char *sql;                 /* normalised text, or the regex source */
    bool is_regex;
    regex_t re;
    bool has_args;
    mock_vals args;
    char **columns;
    size_t n_columns;
    mock_vals *rows;
    size_t n_rows;
    int64_t affected;
    int error;                 /* 0: success */
    char *error_text;
    int64_t delay_ms;
    int on;                    /* -1 any, 0 writer, 1 reader */
    bool met;
} mock_expect;

typedef struct mock_state {
    const imi_host_api *host;
    const imi_driver_env *env;
    pthread_mutex_t mu;
    mock_expect *ex;
    size_t n_ex;
    bool ordered;
    char *calls;               /* one line per call */
    size_t calls_len;
    char *unexpected;
    size_t unexpected_len;
    unsigned readers;
    unsigned opened, closed;
} mock_state;

const char *mock_call_name(mock_call c);
/* Parses "V, V, ..." (args allows `any`). */
int mock_parse_vals(mock_state *m, const char *text, bool allow_any, mock_vals *out);
void mock_vals_free(mock_vals *v);
void mock_expect_free(mock_expect *e);
/* Runs one script command on the state (locked by the caller). */
int mock_command(mock_state *m, const char *cmd, const char *arg);
/* Collapses white space runs to one space and trims: malloc'd. */
char *mock_normalize_sql(const char *sql, size_t len);
bool mock_expect_matches(const mock_expect *e, mock_call call, const char *norm_sql,
                         const char *raw_sql, const imi_db_param *p, size_t n, bool reader);
/* Appends "call endpoint SQL [args]" describing a call to a growing string. */
void mock_describe_call(char **buf, size_t *len, mock_call call, bool reader, const char *sql,
                        const imi_db_param *p, size_t n);
void mock_describe_expect(char **buf, size_t *len, const mock_expect *e);
void mock_append(char **buf, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
