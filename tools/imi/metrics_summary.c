/* The counters `imi bench` and `imi demo` print at the end: imi_metrics_write's samples
 * without the comments, the histogram buckets and the zeros. */
#include <stdlib.h>
#include <string.h>
#include "cli.h"

void cli_print_counters(imi_app *app, const char *title, FILE *out)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return;
    int rc = imi_metrics_write(app, f);
    fclose(f);
    if (rc) {
        fprintf(out, "%s: metrics unavailable: %s\n", title, imi_error_message());
        free(text);
        return;
    }
    fprintf(out, "\n== %s (imi stats shows them live)\n", title);
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        const char *sp = strrchr(line, ' ');
        if (line[0] == '#' || strstr(line, "_bucket{") || !sp || !strcmp(sp, " 0"))
            continue;
        fprintf(out, "   %s\n", line);
    }
    free(text);
}
