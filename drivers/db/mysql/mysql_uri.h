/* mysql://user:password@host:port/database?key=value&... */
#ifndef IMI_DRIVERS_DB_MYSQL_URI_H
#define IMI_DRIVERS_DB_MYSQL_URI_H

#include <stdbool.h>

typedef struct my_uri {
    char *user, *password, *host, *database, *socket;
    unsigned port;
    bool ssl;               /* ?ssl=true: require TLS */
    char *ssl_ca;           /* ?ssl_ca=/path: verify the server against this CA */
    char *ssl_cert;         /* ?ssl_cert=/path&ssl_key=/path: the client's certificate */
    char *ssl_key;
} my_uri;

/* 0 on success; else -1 with why filled. Percent-escapes in user and password decoded. */
int my_uri_parse(const char *text, my_uri *out, char *why, unsigned why_len);
void my_uri_free(my_uri *u);

#endif
