/* libiminfra loaded with dlopen, as a language binding or a plugin host loads it: it loads
 * (no initial-exec TLS block too large for glibc's static surplus), a thread makes calls
 * through it (taking a metrics stripe: a pthread key whose destructor is in the library),
 * and a buffered log installs its fatal-signal handlers. dlclose leaves it mapped (it is
 * linked -z nodelete), so that thread's exit and those handlers still find their code, and
 * a second dlopen works on.
 *   unit_lib_dlopen LIBIMINFRA.so SCRATCH_DIR */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct imi_app imi_app;
typedef struct imi_cache imi_cache;

static void *lib;
static char config[4096];
static pthread_barrier_t called, closed;

static void fail(const char *what)
{
    fprintf(stderr, "FAIL: %s\n", what);
    exit(1);
}

static void *sym(const char *name)
{
    void *p = dlsym(lib, name);
    if (!p)
        fail(name);
    return p;
}

/* Opens the config, a cache on the mem driver, pings it and frees it all; 0 when it all
 * worked. */
static int calls(void)
{
    int (*app_open)(const char *, imi_app **) = sym("imi_app_open");
    void (*app_free)(imi_app *) = sym("imi_app_free");
    int (*cache_open)(imi_app *, const char *, imi_cache **) = sym("imi_cache_open");
    int (*cache_ping)(imi_cache *, const void *) = sym("imi_cache_ping");
    void (*cache_free)(imi_cache *) = sym("imi_cache_free");
    const char *(*message)(void) = sym("imi_error_message");
    imi_app *app = NULL;
    imi_cache *cache = NULL;
    int rc = app_open(config, &app);
    if (!rc)
        rc = cache_open(app, NULL, &cache);
    if (!rc)
        rc = cache_ping(cache, NULL);
    if (rc)
        fprintf(stderr, "a call through the library failed: %s\n", message());
    cache_free(cache);
    app_free(app);
    return rc;
}

static void *caller(void *rc)
{
    *(int *)rc = calls();
    pthread_barrier_wait(&called);
    pthread_barrier_wait(&closed); /* exits after the dlclose */
    return NULL;
}

static void load(const char *path)
{
    lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        fprintf(stderr, "FAIL: dlopen: %s\n", dlerror());
        exit(1);
    }
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s LIBIMINFRA.so SCRATCH_DIR\n", argv[0]);
        return 2;
    }
    char log[4096];
    snprintf(log, sizeof log, "%s/lib_dlopen.log", argv[2]);
    snprintf(config, sizeof config, "%s/lib_dlopen.ini", argv[2]);
    FILE *f = fopen(config, "w");
    if (!f)
        fail("cannot write the config");
    fprintf(f, "[log]\noutput = %s\nbuffer = 64k\n\n[cache]\ndriver = mem\n", log);
    fclose(f);

    load(argv[1]);
    pthread_barrier_init(&called, NULL, 2);
    pthread_barrier_init(&closed, NULL, 2);
    pthread_t t;
    int thread_rc = -1;
    if (pthread_create(&t, NULL, caller, &thread_rc))
        fail("pthread_create");
    pthread_barrier_wait(&called);
    if (thread_rc)
        fail("calls through the dlopen'ed library");
    if (dlclose(lib))
        fail("dlclose");
    pthread_barrier_wait(&closed);
    pthread_join(t, NULL); /* runs the thread's destructors: a crash if the code were gone */

    load(argv[1]);
    if (calls())
        fail("calls after a second dlopen");
    dlclose(lib);
    remove(config);
    remove(log);
    puts("ok: libiminfra loaded with dlopen, used from a thread, closed and loaded again");
    return 0;
}
