/* The similarity index: exact search against a brute force by hand, the HNSW graph's recall
 * against exact search, the file (round trip, another model's index refused, damage
 * refused), ids and labels. A tiny text model is trained here; the vectors are random. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index/index.h"
#include "scratch_dir.h"
#include "shelf.h"

static shelf_model *model, *other;
static size_t dim;

static shelf_model *train(const char *csv, int epochs)
{
    shelf_read_options ro = {0};
    ro.require_label = 1;
    shelf_catalog *c = NULL;
    assert_int_equal(shelf_catalog_load(csv, &ro, &c, NULL), SHELF_OK);
    shelf_train_options o;
    shelf_train_options_default(&o);
    o.read = ro;
    o.threads = 1;
    o.seed = 1;
    o.epochs = epochs;
    shelf_model *m = NULL;
    assert_int_equal(shelf_train(c, NULL, &o, &m, NULL), SHELF_OK);
    shelf_catalog_free(c);
    return m;
}

static int setup(void **state)
{
    (void)state;
    assert_int_equal(scratch_setup("index"), 0);
    const char *csv = path_of("train.csv");
    FILE *f = fopen(csv, "w");
    fprintf(f, "id,title,category\n");
    for (int i = 0; i < 30; i++)
        fprintf(f, "%d,%s thing %d,%s\n", i, i % 2 ? "red" : "blue", i % 7, i % 2 ? "a" : "b");
    fclose(f);
    model = train(csv, 3);
    other = train(csv, 4);
    dim = shelf_embedding_dim(model);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    shelf_model_free(model);
    shelf_model_free(other);
    return scratch_teardown();
}

/* n random unit vectors of dim floats, seeded. */
static float *random_units(size_t n, unsigned seed)
{
    float *v = malloc(n * dim * sizeof *v);
    assert_non_null(v);
    uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
    for (size_t i = 0; i < n; i++) {
        double ss = 0;
        for (size_t d = 0; d < dim; d++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            float x = (float)((double)(s >> 11) / 9007199254740992.0 - 0.5);
            v[i * dim + d] = x;
            ss += (double)x * x;
        }
        for (size_t d = 0; d < dim; d++)
            v[i * dim + d] /= (float)sqrt(ss);
    }
    return v;
}

/* An index of n random vectors, ids "p0".."p{n-1}" (p3 twice: rows 3 and n-1), labels by
 * row parity. */
static shelf_index *filled(const shelf_model *m, size_t n, float **vecs)
{
    shelf_index *x = NULL;
    assert_int_equal(shelf_index_new(m, &x, NULL), SHELF_OK);
    *vecs = random_units(n, 7);
    char (*names)[24] = malloc(n * sizeof *names);
    const char **ids = malloc(n * sizeof *ids), **labels = malloc(n * sizeof *labels);
    for (size_t i = 0; i < n; i++) {
        snprintf(names[i], 24, "p%zu", i + 1 == n ? 3 : i);
        ids[i] = names[i];
        labels[i] = i % 2 ? "odd" : "even";
    }
    /* in two calls, as a stream of batches adds them */
    assert_int_equal(shelf_index_add(x, ids, labels, 0, *vecs, n / 2, NULL), SHELF_OK);
    assert_int_equal(shelf_index_add(x, ids + n / 2, labels + n / 2, 0, *vecs + n / 2 * dim,
                                     n - n / 2, NULL), SHELF_OK);
    free(names);
    free(ids);
    free(labels);
    return x;
}

static void exact_search_is_a_brute_force(void **state)
{
    (void)state;
    enum { N = 300, Q = 40, K = 7 };
    float *v;
    shelf_index *x = filled(model, N, &v);
    assert_int_equal(shelf_index_build(x, SHELF_INDEX_AUTO, 2, NULL), SHELF_OK);
    assert_false(shelf_index_is_approximate(x));
    float *q = random_units(Q, 99);
    long rows[Q * K], skip[Q];
    float scores[Q * K];
    for (int i = 0; i < Q; i++)
        skip[i] = i % 3 ? -1 : i; /* some queries leave product i out */
    assert_int_equal(shelf_index_search(x, q, Q, K, skip, 1, 2, rows, scores, NULL), SHELF_OK);
    for (int i = 0; i < Q; i++) {
        float prev = INFINITY;
        for (int r = 0; r < K; r++) {
            long row = rows[i * K + r];
            assert_true(row >= 0 && row < N && row != skip[i]);
            double dot = 0;
            for (size_t d = 0; d < dim; d++)
                dot += (double)q[i * dim + d] * v[row * dim + d];
            assert_true(fabs(dot - scores[i * K + r]) < 1e-4);
            assert_true(scores[i * K + r] <= prev);
            prev = scores[i * K + r];
        }
        int better = 0; /* no product outside the answer scores above its last */
        for (long row = 0; row < N; row++) {
            if (row == skip[i])
                continue;
            double dot = 0;
            for (size_t d = 0; d < dim; d++)
                dot += (double)q[i * dim + d] * v[row * dim + d];
            better += dot > prev + 1e-4;
        }
        assert_true(better <= K - 1);
    }
    /* ids: a repeated id finds its first product; labels; bad requests */
    assert_int_equal(shelf_index_find(x, "p3"), 3);
    assert_int_equal(shelf_index_find(x, "p0"), 0);
    assert_int_equal(shelf_index_find(x, "nope"), -1);
    assert_string_equal(shelf_index_id(x, N - 1), "p3");
    assert_string_equal(shelf_index_label(x, 1), "odd");
    assert_null(shelf_index_id(x, N));
    assert_null(shelf_index_vector(x, N));
    shelf_error err;
    assert_int_equal(shelf_index_search(x, q, 1, 0, NULL, 1, 1, rows, scores, &err),
                     SHELF_EINVAL);
    assert_int_equal(shelf_index_search(x, q, 1, N + 1, NULL, 1, 1, rows, scores, &err),
                     SHELF_EINVAL);
    assert_non_null(strstr(err.message, "k must be from 1 to 300"));
    free(q);
    free(v);
    shelf_index_free(x);
}

/* Random vectors are the graph's hardest case (no clusters); recall@10 stays high. */
static void the_graph_finds_most_of_the_exact_neighbours(void **state)
{
    (void)state;
    enum { N = 3000, Q = 100, K = 10 };
    float *v;
    shelf_index *x = filled(model, N, &v);
    assert_int_equal(shelf_index_build(x, SHELF_INDEX_HNSW, 2, NULL), SHELF_OK);
    assert_true(shelf_index_is_approximate(x));
    long exact[Q * K], approx[Q * K];
    float se[Q * K], sa[Q * K];
    assert_int_equal(shelf_index_search(x, v, Q, K, NULL, 1, 2, exact, se, NULL), SHELF_OK);
    assert_int_equal(shelf_index_search(x, v, Q, K, NULL, 0, 2, approx, sa, NULL), SHELF_OK);
    int found = 0;
    for (int i = 0; i < Q; i++) {
        assert_int_equal(approx[i * K], i); /* each vector is its own nearest */
        for (int a = 0; a < K; a++)
            for (int e = 0; e < K; e++)
                found += approx[i * K + a] == exact[i * K + e];
    }
    print_message("recall@10 %.3f\n", found / (double)(Q * K));
    assert_true(found >= 0.8 * Q * K);
    /* leaving each query's own product out */
    long skip[Q];
    for (int i = 0; i < Q; i++)
        skip[i] = i;
    assert_int_equal(shelf_index_search(x, v, Q, K, skip, 0, 1, approx, sa, NULL), SHELF_OK);
    for (int i = 0; i < Q; i++)
        for (int a = 0; a < K; a++)
            assert_true(approx[i * K + a] != i && approx[i * K + a] >= 0);
    free(v);
    shelf_index_free(x);
}

static void an_index_file_comes_back_as_it_was_saved(void **state)
{
    (void)state;
    enum { N = 500, K = 5 };
    for (int graph = 0; graph < 2; graph++) {
        float *v;
        shelf_index *x = filled(model, N, &v);
        assert_int_equal(shelf_index_build(x, graph ? SHELF_INDEX_HNSW : SHELF_INDEX_EXACT, 1,
                                           NULL), SHELF_OK);
        const char *path = path_of("c.idx");
        shelf_error err;
        assert_int_equal(shelf_index_save(x, path, &err), SHELF_OK);
        shelf_index *y = NULL;
        assert_int_equal(shelf_index_load(path, model, &y, &err), SHELF_OK);
        assert_int_equal(shelf_index_size(y), N);
        assert_int_equal(shelf_index_dim(y), dim);
        assert_int_equal(shelf_index_is_approximate(y), graph);
        assert_false(shelf_index_labels_predicted(y));
        assert_int_equal(shelf_index_find(y, "p3"), 3);
        assert_string_equal(shelf_index_label(y, 4), "even");
        assert_memory_equal(shelf_index_vector(y, N - 1), v + (N - 1) * dim, dim * sizeof *v);
        long r1[10 * K], r2[10 * K];
        float s1[10 * K], s2[10 * K];
        assert_int_equal(shelf_index_search(x, v, 10, K, NULL, 0, 1, r1, s1, NULL), SHELF_OK);
        assert_int_equal(shelf_index_search(y, v, 10, K, NULL, 0, 1, r2, s2, NULL), SHELF_OK);
        assert_memory_equal(r1, r2, sizeof r1);
        /* another model's vectors do not compare: refused */
        shelf_index *z = (shelf_index *)&err;
        assert_int_equal(shelf_index_load(path, other, &z, &err), SHELF_EINVAL);
        assert_null(z);
        assert_non_null(strstr(err.message, "built by another model"));
        shelf_index_free(y);
        shelf_index_free(x);
        free(v);
    }
}

static void a_damaged_index_file_is_refused(void **state)
{
    (void)state;
    float *v;
    shelf_index *x = filled(model, 50, &v);
    assert_int_equal(shelf_index_build(x, SHELF_INDEX_HNSW, 1, NULL), SHELF_OK);
    const char *path = path_of("d.idx");
    assert_int_equal(shelf_index_save(x, path, NULL), SHELF_OK);
    FILE *f = fopen(path, "rb");
    unsigned char *b = malloc(1 << 20);
    size_t n = fread(b, 1, 1 << 20, f);
    fclose(f);
    shelf_error err;
    shelf_index *y = NULL;
    b[n / 2] ^= 1; /* one bit */
    write_bytes("d1.idx", b, n);
    assert_int_equal(shelf_index_load(path_of("d1.idx"), NULL, &y, &err), SHELF_EMODEL);
    assert_non_null(strstr(err.message, "checksum mismatch"));
    b[n / 2] ^= 1;
    write_bytes("d2.idx", b, n - 9); /* cut short */
    assert_int_equal(shelf_index_load(path_of("d2.idx"), NULL, &y, &err), SHELF_EMODEL);
    write_bytes("d3.idx", "SHELFIDX", 8);
    assert_int_equal(shelf_index_load(path_of("d3.idx"), NULL, &y, &err), SHELF_EMODEL);
    assert_int_equal(shelf_index_load(path_of("none.idx"), NULL, &y, &err), SHELF_EIO);
    assert_int_equal(shelf_index_load(path_of("none.idx"), NULL, &y, &err), SHELF_EIO);
    assert_non_null(strstr(err.message, "cannot open index"));
    assert_int_equal(shelf_index_load(path_of("."), NULL, &y, &err), SHELF_EMODEL);
    assert_non_null(strstr(err.message, "not a regular file"));
    assert_null(y);
    free(b);
    /* bad requests */
    shelf_index_type t;
    assert_int_equal(shelf_index_type_parse("HNSW", &t, NULL), SHELF_OK);
    assert_int_equal(t, SHELF_INDEX_HNSW);
    assert_int_equal(shelf_index_type_parse("ivf", &t, &err), SHELF_EINVAL);
    assert_int_equal(shelf_index_add(x, NULL, NULL, 0, v, 1, &err), SHELF_EINVAL);
    assert_int_equal(shelf_index_new(NULL, &x, &err), SHELF_EINVAL);
    shelf_index_free(x);
    shelf_index_free(NULL);
    free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exact_search_is_a_brute_force),
        cmocka_unit_test(the_graph_finds_most_of_the_exact_neighbours),
        cmocka_unit_test(an_index_file_comes_back_as_it_was_saved),
        cmocka_unit_test(a_damaged_index_file_is_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
