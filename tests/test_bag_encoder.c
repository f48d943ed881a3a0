/* The bag of n-grams as an encoder (model/bag_encoder.h), through the training side of the
 * interface: the vocabulary train_begin learns, forward_train giving the features forward
 * gives, backward's SGD step on the embeddings' rows, and the cache of training vectors
 * (model/bag_cache.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "model/bag_cache.h"
#include "model/bag_encoder.h"
#include "model/bag_vocab.h"

enum { N = 60, DIM = 4 };
static const char *texts[N];
static char store[N][64];

/* Titles from a few words: "cotton" in every third, "onlyonce" in the first alone. */
static void make_texts(void)
{
    static const char *w[] = {"cotton", "denim", "steel", "garden", "纯棉"};
    for (int i = 0; i < N; i++) {
        snprintf(store[i], sizeof store[i], "%s %s item%d%s", w[i % 5], w[(i / 5) % 5], i % 7,
                 i == 0 ? " onlyonce" : "");
        texts[i] = store[i];
    }
    snprintf(store[N - 1], sizeof store[N - 1], "%s", ""); /* an empty title */
}

static bag_encoder *begin(int dim, uint32_t threads, uint64_t *seen)
{
    make_texts();
    const feat_config f = {2, 3, 5, 1u << 16};
    bag_encoder *b = bag_encoder_new(&f, dim);
    assert_non_null(b);
    shelf_train_options o;
    shelf_train_options_default(&o);
    rng r;
    rng_seed(&r, 1);
    const encoder_batch all = {.n = N, .texts = texts};
    const encoder_setup s = {&all, &o, (int)threads, &r, seen};
    shelf_error err;
    assert_int_equal(b->base.ops->train_begin(&b->base, &s, &err), SHELF_OK);
    return b;
}

static void vocabulary_keeps_words_and_repeated_character_ngrams(void **state)
{
    (void)state;
    uint64_t seen[N];
    bag_encoder *one = begin(0, 1, seen), *four = begin(0, 4, NULL);
    assert_true(one->nrows > 0);
    assert_int_equal(one->nrows, four->nrows); /* threads do not change what is kept */
    assert_memory_equal(one->rows.buckets, four->rows.buckets, one->nrows * sizeof(uint32_t));
    assert_memory_equal(one->idf, four->idf, one->nrows * sizeof(float));
    /* a word seen once has a row: "onlyonce" makes a vector of text 0 longer than text 5's,
     * whose words are the same otherwise */
    encoder_work *w = one->base.ops->work_new(&one->base, 2, 0);
    const char *pair[2] = {"cotton cotton item0 onlyonce", "cotton cotton item0"};
    encoder_features f;
    assert_int_equal(one->base.ops->forward(&one->base, w, &(encoder_batch){.n = 2,
                                                .texts = pair}, &f), 0);
    assert_true(f.sparse[0].n > f.sparse[1].n);
    assert_int_equal(seen[0] == seen[1], 0); /* the texts' hashes differ */
    one->base.ops->work_free(w);
    encoder_free(&one->base);
    encoder_free(&four->base);
}

/* Training's features of a row are prediction's of its text, sparse or embedded. */
static void forward_train_gives_what_forward_gives(void **state)
{
    (void)state;
    for (int dim = 0; dim <= DIM; dim += DIM) {
        bag_encoder *b = begin(dim, 2, NULL);
        encoder *e = &b->base;
        encoder_work *wt = e->ops->work_new(e, 1, 1), *wp = e->ops->work_new(e, 1, 0);
        for (uint32_t i = 0; i < N; i++) {
            encoder_features ft, fp;
            assert_int_equal(e->ops->forward_train(e, wt, &(encoder_batch){.n = 1, .rows = &i},
                                                   &ft), 0);
            assert_int_equal(e->ops->forward(e, wp, &(encoder_batch){.n = 1, .texts = &texts[i]},
                                             &fp), 0);
            assert_int_equal(ft.missing[0], i == N - 1);
            assert_int_equal(fp.missing[0], i == N - 1);
            if (dim) {
                assert_non_null(ft.grad);
                assert_memory_equal(ft.dense, fp.dense, DIM * sizeof(float));
            } else {
                assert_null(ft.grad);
                assert_int_equal(ft.sparse[0].n, fp.sparse[0].n);
                assert_memory_equal(ft.sparse[0].rows, fp.sparse[0].rows,
                                    fp.sparse[0].n * sizeof(uint32_t));
                assert_memory_equal(ft.sparse[0].vals, fp.sparse[0].vals,
                                    fp.sparse[0].n * sizeof(float));
            }
        }
        e->ops->work_free(wt);
        e->ops->work_free(wp);
        encoder_free(e);
    }
}

/* With rows, product i of the training set is texts[rows[i]]: forward_train of row i gives
 * forward's features of that text (the bag keeps its own copy in that order). */
static void rows_name_the_texts_in_their_order(void **state)
{
    (void)state;
    make_texts();
    const feat_config fc = {2, 3, 5, 1u << 16};
    bag_encoder *b = bag_encoder_new(&fc, 0);
    assert_non_null(b);
    shelf_train_options o;
    shelf_train_options_default(&o);
    rng r;
    rng_seed(&r, 1);
    uint32_t rows[N];
    for (uint32_t i = 0; i < N; i++)
        rows[i] = N - 1 - i;
    const encoder_batch all = {.n = N, .texts = texts, .rows = rows};
    const encoder_setup s = {&all, &o, 2, &r, NULL};
    shelf_error err;
    encoder *e = &b->base;
    assert_int_equal(e->ops->train_begin(e, &s, &err), SHELF_OK);
    encoder_work *wt = e->ops->work_new(e, 1, 1), *wp = e->ops->work_new(e, 1, 0);
    for (uint32_t i = 0; i < N; i += 7) {
        encoder_features ft, fp;
        assert_int_equal(e->ops->forward_train(e, wt, &(encoder_batch){.n = 1, .rows = &i}, &ft),
                         0);
        assert_int_equal(e->ops->forward(e, wp, &(encoder_batch){.n = 1,
                                             .texts = &texts[rows[i]]}, &fp), 0);
        assert_int_equal(ft.sparse[0].n, fp.sparse[0].n);
        if (fp.sparse[0].n)
            assert_memory_equal(ft.sparse[0].rows, fp.sparse[0].rows,
                                fp.sparse[0].n * sizeof(uint32_t));
    }
    e->ops->work_free(wt);
    e->ops->work_free(wp);
    encoder_free(e);
}

/* backward moves each row the product used by -lr x its weight x the features' gradient,
 * and no other row. */
static void backward_steps_only_the_rows_used(void **state)
{
    (void)state;
    bag_encoder *b = begin(DIM, 1, NULL);
    encoder *e = &b->base;
    const size_t P = (size_t)b->nrows * DIM;
    float *before = malloc(P * sizeof *before);
    memcpy(before, b->emb, P * sizeof *before);
    encoder_work *w = e->ops->work_new(e, 1, 1);
    uint32_t row = 3;
    encoder_features f;
    assert_int_equal(e->ops->forward_train(e, w, &(encoder_batch){.n = 1, .rows = &row}, &f),
                     0);
    const float g[DIM] = {1, -2, 0.5f, 0}, lr = 0.1f;
    memcpy(f.grad, g, sizeof g);
    e->ops->backward(e, w, &(encoder_update){.lr = lr});
    unsigned char *used = calloc(b->nrows, 1);
    sparse_vec v = {0}; /* the product's rows and weights */
    vec_scratch vs;
    assert_int_equal(vec_scratch_init(&vs, b->nrows), 0);
    assert_int_equal(bag_vectorize(b, &vs, &v, texts[row], strlen(texts[row]), NULL, 0), 0);
    assert_true(v.n > 0);
    for (size_t k = 0; k < v.n; k++) {
        used[v.rows[k]] = 1;
        for (int d = 0; d < DIM; d++)
            assert_float_equal(b->emb[(size_t)v.rows[k] * DIM + d],
                               before[(size_t)v.rows[k] * DIM + d] - lr * v.vals[k] * g[d], 1e-6);
    }
    for (uint32_t r = 0; r < b->nrows; r++)
        if (!used[r])
            assert_memory_equal(b->emb + (size_t)r * DIM, before + (size_t)r * DIM,
                                DIM * sizeof(float));
    sparse_vec_free(&v);
    vec_scratch_free(&vs);
    e->ops->work_free(w);
    free(used);
    free(before);
    encoder_free(e);
}

static void vector_cache_matches_and_respects_its_budget(void **state)
{
    (void)state;
    bag_encoder *b = begin(0, 2, NULL);
    vcache vc;
    assert_int_equal(vcache_build(&vc, b, texts, N, 2, 64), 0); /* does not fit */
    assert_null(vc.off);
    assert_int_equal(vcache_build(&vc, b, texts, N, 2, 1 << 24), 1);
    vec_scratch vs;
    sparse_vec x = {0}, got;
    assert_int_equal(vec_scratch_init(&vs, b->nrows), 0);
    for (size_t i = 0; i < N; i++) {
        assert_int_equal(bag_vectorize(b, &vs, &x, texts[i], strlen(texts[i]), NULL, 0), 0);
        vcache_get(&vc, i, &got);
        assert_int_equal(got.n, x.n);
        if (x.n) {
            assert_memory_equal(got.rows, x.rows, x.n * sizeof *x.rows);
            assert_memory_equal(got.vals, x.vals, x.n * sizeof *x.vals);
        }
    }
    sparse_vec_free(&x);
    vec_scratch_free(&vs);
    vcache_free(&vc);
    encoder_free(&b->base);
}

/* More threads than texts: the jobs without texts have no block to copy (UBSan once caught
 * memcpy from NULL here). */
static void vector_cache_with_more_threads_than_rows(void **state)
{
    (void)state;
    bag_encoder *b = begin(0, 1, NULL);
    const char *three[3] = {"cotton tee", "denim jeans", ""};
    vcache vc;
    assert_int_equal(vcache_build(&vc, b, three, 3, 8, 1 << 24), 1);
    assert_int_equal(vc.off[3], vc.off[2]); /* the empty title */
    vcache_free(&vc);
    encoder_free(&b->base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(vocabulary_keeps_words_and_repeated_character_ngrams),
        cmocka_unit_test(forward_train_gives_what_forward_gives),
        cmocka_unit_test(rows_name_the_texts_in_their_order),
        cmocka_unit_test(backward_steps_only_the_rows_used),
        cmocka_unit_test(vector_cache_matches_and_respects_its_budget),
        cmocka_unit_test(vector_cache_with_more_threads_than_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
