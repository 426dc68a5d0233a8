/* Driver loading: finding a driver file, loading it with libltdl, checking its
 * descriptor, and keeping it loaded while handles use it. */
#ifndef IMI_CORE_LOADER_H
#define IMI_CORE_LOADER_H

#include <stdbool.h>
#include "iminfra/config.h"
#include "iminfra/driver/driver.h"

typedef struct imi_driver imi_driver;

const char *imi_kind_name(imi_kind kind);   /* "cache", "mq", "db", "coord" */
int imi_kind_parse(const char *name);       /* -1 when unknown */

/* Loads the driver a config section asks for with `driver = NAME` or `driver = PATH.so`:
 * by name it searches the section's driver_path, [drivers] path, $IMI_DRIVER_PATH, then
 * for a program run from this build tree the build's driver folder, else the install's
 * driver folder found relative to the running libiminfra or program and the compiled-in
 * install folder. kind and name are checked against the descriptor. */
int imi_driver_load_for(const imi_config *cfg, const char *section, imi_kind kind,
                        imi_driver **out);
/* The same with the driver named by another key of the section (chaos's `target`). */
int imi_driver_load_key(const imi_config *cfg, const char *section, const char *key,
                        imi_kind kind, imi_driver **out);
/* Loads one file; expect_kind 0 and expect_name NULL check nothing but the ABI. */
int imi_driver_load_file(const char *path, imi_kind expect_kind, const char *expect_name,
                         imi_driver **out);
/* Drops a reference. The file stays mapped for the life of the process (see loader.c). */
void imi_driver_release(imi_driver *drv);

const imi_driver_desc *imi_driver_descriptor(const imi_driver *drv);
const char *imi_driver_file(const imi_driver *drv);

/* The folders searched for drivers by name, in order (cfg and section may be NULL).
 * Calls fn for each; stops when fn returns non-zero. */
void imi_driver_search_dirs(const imi_config *cfg, const char *section,
                            int (*fn)(void *ud, const char *dir), void *ud);
/* "mem, redis": the drivers of kind in the folders searched for section. */
void imi_driver_names(const imi_config *cfg, const char *section, imi_kind kind, char *out,
                      size_t cap);
/* IMI_OK when the file and every folder above it may be trusted (loader_trust.c). */
int imi_driver_check_trust(const char *real_path);
/* The file name of a driver: imi_<kind>_<name>.so */
void imi_driver_file_name(imi_kind kind, const char *name, char *out, size_t cap);

#endif
