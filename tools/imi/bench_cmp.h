/* The method every imi bench comparison follows: im-infra and its baseline measured in
 * alternating rounds (the order flips each round, so warm-up and the noise of a shared
 * machine fall on both alike), the ratio taken per round, and the median ratio reported
 * with its min and max. One text row or one JSON line per comparison, and a summary
 * table of every comparison of the run. */
#ifndef IMI_TOOLS_BENCH_CMP_H
#define IMI_TOOLS_BENCH_CMP_H

#include <stdbool.h>
#include "bench.h"

#define BENCH_MAX_ROUNDS 64

typedef struct bench_cmp {
    const char *bench, *driver, *name;   /* name: the case, e.g. "point select" */
    const char *unit;                    /* "ops/s", "msg/s", "ns/op", "us" ... */
    const char *baseline_name;           /* NULL: no baseline (figures only) */
    int threads;
    long size;                           /* message or value bytes; 0 when not swept */
    bool lower_better;                   /* a time: ratio = baseline / im-infra */
    int rounds;
    double im[BENCH_MAX_ROUNDS], base[BENCH_MAX_ROUNDS];
    double ids_per_s;                    /* uid: added to the JSON when > 0 */
} bench_cmp;

/* Records one round: im-infra's figure and the baseline's (ignored without a baseline). */
void bench_cmp_add(bench_cmp *c, double im, double base);
/* The figures of a finished comparison: medians of each side and of the per-round ratio
 * (1 when both sides are equal, above 1 when im-infra is faster); ratio is 0 without a
 * baseline. */
void bench_cmp_stats(const bench_cmp *c, double *im, double *base, double *ratio,
                     double *rmin, double *rmax);
/* Prints the comparison (a text row or a JSON line) and keeps it for the summary. */
void bench_cmp_report(const imi_bench_opts *o, const bench_cmp *c);
/* The table of every comparison reported so far (to stderr under --json). */
void bench_summary(const imi_bench_opts *o);
/* True when the round should run im-infra first (it alternates). */
static inline bool bench_im_first(int round) { return round % 2 == 0; }
/* A progress line on stderr. */
void bench_progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The thread counts of a sweep: o->threads alone when given, else 1, 2, 4, 8. */
int bench_thread_sweep(const imi_bench_opts *o, int out[4]);

#endif
