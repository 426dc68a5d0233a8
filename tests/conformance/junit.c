/* The JUnit XML report of a conformance run: the format CI systems (GitLab, Jenkins,
 * GitHub test reporters) read. One <testsuite> per kind and driver, one <testcase> per case,
 * a <failure> with the case's message when it failed. */
#include <stdio.h>
#include <string.h>
#include "conformance.h"

/* Writes s escaped for an XML attribute or text; drops control characters XML 1.0
 * cannot hold at all. */
static void xml_escape(FILE *f, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        case '\t': case '\n': case '\r': fprintf(f, "&#%d;", *p); break;
        default:
            if (*p >= 0x20)
                fputc(*p, f);
        }
    }
}

int imi_conf_junit_write(const char *path, const char *kind, const char *driver,
                         const imi_conf_result *r, size_t n)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    size_t failures = 0;
    double total = 0;
    for (size_t i = 0; i < n; i++) {
        failures += !r[i].passed;
        total += r[i].seconds;
    }
    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", f);
    fprintf(f, "<testsuites tests=\"%zu\" failures=\"%zu\" time=\"%.3f\">\n", n, failures, total);
    fputs("  <testsuite name=\"", f);
    xml_escape(f, kind);
    fputc('.', f);
    xml_escape(f, driver);
    fprintf(f, "\" tests=\"%zu\" failures=\"%zu\" errors=\"0\" skipped=\"0\" time=\"%.3f\">\n",
            n, failures, total);
    for (size_t i = 0; i < n; i++) {
        fputs("    <testcase classname=\"conformance.", f);
        xml_escape(f, kind);
        fputs("\" name=\"", f);
        xml_escape(f, r[i].name);
        fprintf(f, "\" time=\"%.3f\"", r[i].seconds);
        if (r[i].passed) {
            fputs("/>\n", f);
            continue;
        }
        fputs(">\n      <failure message=\"", f);
        xml_escape(f, r[i].message);
        fputs("\">", f);
        xml_escape(f, r[i].message);
        fputs("</failure>\n    </testcase>\n", f);
    }
    fputs("  </testsuite>\n</testsuites>\n", f);
    int bad = ferror(f);
    return fclose(f) || bad ? -1 : 0;
}
