/* Reference values computed once by a script (tests/fixtures/make_*_golden.py, with Debian's
 * python3-torch) and committed as a fixture of named arrays: a line "NAME COUNT", then COUNT
 * numbers; lines starting with '#' are comments. Reading one, and checking results against
 * its arrays. Included by one test file each, after cmocka.h, so everything is static. */
#ifndef SHELF_TESTS_GOLDEN_H
#define SHELF_TESTS_GOLDEN_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct golden_array {
    char name[64];
    size_t n;
    double *v;
} golden_array;

typedef struct golden {
    const char *path;
    golden_array *a; /* in the fixture's order */
    int count, cap;
} golden;

static inline void golden_free(golden *g)
{
    for (int i = 0; g && i < g->count; i++)
        free(g->a[i].v);
    if (g)
        free(g->a);
    free(g);
}

/* The next array slot of g, or NULL out of memory. */
static inline golden_array *golden_grow(golden *g)
{
    if (g->count == g->cap) {
        const int cap = g->cap ? 2 * g->cap : 64;
        golden_array *a = realloc(g->a, (size_t)cap * sizeof *a);
        if (!a)
            return NULL;
        g->a = a;
        g->cap = cap;
    }
    return &g->a[g->count];
}

/* Every array of the fixture at path (relative to the repository root, where the tests run),
 * or NULL when it cannot be read or memory runs out. A short array reads as empty, so that
 * the test which reads it fails. */
static inline golden *golden_read(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        print_error("cannot open %s (run the tests from the repository root)\n", path);
        return NULL;
    }
    golden *g = calloc(1, sizeof *g);
    char line[256];
    while (g && fgets(line, sizeof line, f)) {
        golden_array *a = golden_grow(g);
        if (!a) {
            golden_free(g);
            g = NULL;
            break;
        }
        if (line[0] == '#' || sscanf(line, "%63s %zu", a->name, &a->n) != 2)
            continue;
        if (!(a->v = malloc((a->n ? a->n : 1) * sizeof *a->v))) {
            golden_free(g);
            g = NULL;
            break;
        }
        g->count++;
        for (size_t i = 0; i < a->n; i++)
            if (fscanf(f, "%lf", &a->v[i]) != 1)
                a->n = 0;
    }
    fclose(f);
    if (g)
        g->path = path;
    return g;
}

/* cmocka group setup and teardown: *state is the fixture at path. */
static inline int golden_setup(void **state, const char *path)
{
    *state = golden_read(path);
    return *state ? 0 : -1;
}

static inline int golden_teardown(void **state)
{
    golden_free(*state);
    return 0;
}

/* The fixture's array `name`; fails the test when there is none. */
static inline const golden_array *golden_find(const golden *g, const char *name)
{
    for (int i = 0; i < g->count; i++)
        if (!strcmp(g->a[i].name, name))
            return &g->a[i];
    fail_msg("%s: no array %s", g->path, name);
    return NULL;
}

/* got[0..n) against the fixture's array `name`: |got - want| <= 1e-4 max(|want|, m / 10),
 * m the array's largest |want|, so that an element which is what remains of a sum of larger
 * terms is judged at the scale of those terms, not at its own. Returns the largest
 * |got - want| / max(|want|, m / 10), for the record. */
static inline double golden_expect(const golden *g, const char *name, const float *got,
                                   size_t n)
{
    const golden_array *a = golden_find(g, name);
    assert_int_equal(a->n, n);
    double m = 0, worst = 0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs(a->v[i]));
    for (size_t i = 0; i < n; i++) {
        const double err = fabs(got[i] - a->v[i]) / fmax(fmax(fabs(a->v[i]), m / 10), 1e-30);
        if (err > 1e-4)
            fail_msg("%s[%zu]: got %.8g, want %.8g", name, i, got[i], a->v[i]);
        worst = fmax(worst, err);
    }
    return worst;
}

#endif
