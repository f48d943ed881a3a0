/* Whether two models are the same, byte for byte, as files: what a resumed run, a
 * distributed run's ranks and one process must agree on. Needs scratch_dir.h first (the
 * files go in the scratch directory). Included by one test file each: everything static. */
#ifndef SHELF_TESTS_SAME_MODEL_H
#define SHELF_TESTS_SAME_MODEL_H

#include <stdio.h>
#include <stdlib.h>

#include "shelf.h"

/* A file's bytes (malloc'd; *n of them). */
static inline char *file_bytes(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    rewind(f);
    char *b = malloc(*n ? *n : 1);
    assert_int_equal(fread(b, 1, *n, f), *n);
    fclose(f);
    return b;
}

/* The two models' files are the same, byte for byte. */
static inline void assert_same_files(const shelf_model *x, const shelf_model *y)
{
    char a[256], b[256];
    snprintf(a, sizeof a, "%s", path_of("same-x.shelf"));
    snprintf(b, sizeof b, "%s", path_of("same-y.shelf"));
    assert_int_equal(shelf_model_save(x, a, NULL), SHELF_OK);
    assert_int_equal(shelf_model_save(y, b, NULL), SHELF_OK);
    size_t na, nb;
    char *ba = file_bytes(a, &na), *bb = file_bytes(b, &nb);
    assert_int_equal(na, nb);
    assert_memory_equal(ba, bb, na);
    free(ba);
    free(bb);
}

#endif
