#ifndef IMI_TOOLS_BENCH_H
#define IMI_TOOLS_BENCH_H
#include <stdbool.h>
typedef struct imi_bench_opts { const char *config_path; long ops; int threads; bool json; } imi_bench_opts;
int imi_bench_log(const imi_bench_opts *o);
#endif
