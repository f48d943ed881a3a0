/* What the libFuzzer harnesses share: a private scratch folder (under $TMPDIR, else
 * /dev/shm, else /tmp), removed at exit, for the entry points that read a path, and a way
 * to put one input's bytes in a file there. Included by one harness each, so everything
 * is static. A harness never writes anywhere else. */
#ifndef SHELF_TESTS_FUZZ_UTIL_H
#define SHELF_TESTS_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char fuzz_dir[256];
static char fuzz_path_buf[300];

static void fuzz_remove_dir(void)
{
    if (fuzz_path_buf[0])
        unlink(fuzz_path_buf);
    if (fuzz_dir[0])
        rmdir(fuzz_dir);
}

/* The scratch folder, made on the first call; aborts the run (a harness failure, not a
 * finding) when it cannot be made. */
static const char *fuzz_scratch(void)
{
    if (fuzz_dir[0])
        return fuzz_dir;
    const char *base = getenv("TMPDIR");
    if (!base || !*base)
        base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(fuzz_dir, sizeof fuzz_dir, "%s/shelf-fuzz-XXXXXX", base);
    if (!mkdtemp(fuzz_dir)) {
        perror("fuzz: mkdtemp");
        abort();
    }
    atexit(fuzz_remove_dir);
    return fuzz_dir;
}

/* Writes data[0..n) to the file NAME in the scratch folder (the same file every run, so
 * its name gives the reader its extension) and returns its path. */
static const char *fuzz_write_file(const char *name, const uint8_t *data, size_t n)
{
    snprintf(fuzz_path_buf, sizeof fuzz_path_buf, "%s/%s", fuzz_scratch(), name);
    FILE *f = fopen(fuzz_path_buf, "wb");
    if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f) != 0) {
        perror("fuzz: writing the input");
        abort();
    }
    return fuzz_path_buf;
}

#endif
