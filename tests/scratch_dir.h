/* A fresh directory under /tmp for one test program's files, removed at the end: the
 * cmocka group setup and teardown, and helpers that write files into it. Included by one
 * test file each, so everything is static. */
#ifndef SHELF_TESTS_SCRATCH_DIR_H
#define SHELF_TESTS_SCRATCH_DIR_H

#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static char scratch_dir[64];

/* A path in the scratch directory; valid until the 8th next call. */
static inline const char *path_of(const char *name)
{
    static char paths[8][256];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, 256, "%s/%s", scratch_dir, name);
    return p;
}

static inline const char *write_bytes(const char *name, const void *data, size_t n)
{
    const char *path = path_of(name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
    return path;
}

static inline int scratch_remove_entry(const char *path, const struct stat *sb, int flag,
                                       struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Makes /tmp/shelf_test_NAME_XXXXXX. 0, or -1. */
static inline int scratch_setup(const char *name)
{
    snprintf(scratch_dir, sizeof scratch_dir, "/tmp/shelf_test_%s_XXXXXX", name);
    return mkdtemp(scratch_dir) ? 0 : -1;
}

static inline int scratch_teardown(void)
{
    return nftw(scratch_dir, scratch_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
