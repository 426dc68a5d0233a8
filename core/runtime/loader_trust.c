/* Whether a driver file may be loaded at all: checked before dlopen, because loading runs
 * the file's constructors. Like sudo and ssh with their files, a driver (and every folder
 * above it) must be writable only by its owner and root, and owned by root or by the
 * user running the program. A world-writable folder with the sticky bit (/tmp) is
 * accepted: there nobody can replace another user's entries. */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "iminfra/error.h"
#include "loader.h"

static int refuse(const char *file, const char *what, const char *path, const char *why)
{
    return imi_error_set(IMI_EDRIVER, 0, "driver %s refused: %s %s %s (it could be replaced "
                         "by another user; chmod go-w and chown it)", file, what, path, why);
}

static int check_one(const char *file, const char *path, bool is_dir)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return imi_error_set(IMI_EDRIVER, 0, "driver %s cannot be loaded: cannot stat %s",
                             file, path);
    const char *what = is_dir ? "its folder" : "the file";
    if (!is_dir && !S_ISREG(st.st_mode))
        return imi_error_set(IMI_EDRIVER, 0, "driver %s refused: not a regular file", file);
    uid_t me = geteuid();
    if (st.st_uid != 0 && st.st_uid != me) {
        char why[64];
        snprintf(why, sizeof why, "is owned by uid %u, not by root or uid %u",
                 (unsigned)st.st_uid, (unsigned)me);
        return refuse(file, what, path, why);
    }
    bool sticky_dir = is_dir && (st.st_mode & S_ISVTX);
    if ((st.st_mode & S_IWOTH) && !sticky_dir)
        return refuse(file, what, path, "is writable by everyone");
    if ((st.st_mode & S_IWGRP) && st.st_gid != 0 && !sticky_dir)
        return refuse(file, what, path, "is writable by its group");
    return IMI_OK;
}

int imi_driver_check_trust(const char *real)
{
    int rc = check_one(real, real, false);
    if (rc)
        return rc;
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", real);
    for (char *slash = strrchr(dir, '/'); slash; slash = strrchr(dir, '/')) {
        if (slash == dir) {
            dir[1] = '\0';
            return check_one(real, dir, true);
        }
        *slash = '\0';
        if ((rc = check_one(real, dir, true)))
            return rc;
    }
    return IMI_OK;
}
