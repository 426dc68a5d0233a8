/* A JSON string writer for the CLI's --json output. */
#ifndef IMI_TOOLS_JSON_OUT_H
#define IMI_TOOLS_JSON_OUT_H
#include <stdio.h>
/* Writes s as a JSON string ("null" for NULL). */
void json_str(FILE *out, const char *s);
#endif
