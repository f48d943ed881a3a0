/* Distributed training without MPI: two ranks as two threads of this process, joined by a
 * sum over shared memory (the shelf_comm the command-line tool gives over Open MPI). The
 * ranks must come out with the same model, byte for byte, with the labels and feature rows
 * one process gives the whole catalog, and as accurate. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/comm.h"
#include "scratch_dir.h"
#include "same_model.h"
#include "shelf.h"

enum { RANKS = 2 };

/* The shared side of the fake: each rank's buffer, met at a barrier. */
typedef struct fake {
    pthread_barrier_t bar;
    void *buf[RANKS];
} fake;

typedef struct rank_ctx {
    fake *f;
    int rank;
} rank_ctx;

static size_t type_size(shelf_comm_type t)
{
    return t == SHELF_COMM_U8 ? 1 : t == SHELF_COMM_U32 || t == SHELF_COMM_FLOAT ? 4 : 8;
}

/* Every rank sums all buffers in rank order into scratch, then writes it back: the same
 * sum, bit for bit, on every rank (as MPI's reduction gives them). */
static int fake_sum(void *user, void *buf, size_t n, shelf_comm_type t)
{
    rank_ctx *c = user;
    fake *f = c->f;
    f->buf[c->rank] = buf;
    pthread_barrier_wait(&f->bar);
    unsigned char *acc = calloc(n ? n : 1, type_size(t));
    for (size_t i = 0; i < n; i++)
        for (int r = 0; r < RANKS; r++) {
            switch (t) {
            case SHELF_COMM_U8: acc[i] += ((unsigned char *)f->buf[r])[i]; break;
            case SHELF_COMM_U32: ((uint32_t *)acc)[i] += ((uint32_t *)f->buf[r])[i]; break;
            case SHELF_COMM_U64: ((uint64_t *)acc)[i] += ((uint64_t *)f->buf[r])[i]; break;
            case SHELF_COMM_FLOAT: ((float *)acc)[i] += ((float *)f->buf[r])[i]; break;
            default: ((double *)acc)[i] += ((double *)f->buf[r])[i];
            }
        }
    pthread_barrier_wait(&f->bar); /* all have read every buffer */
    memcpy(buf, acc, n * type_size(t));
    free(acc);
    pthread_barrier_wait(&f->bar);
    return 0;
}

/* ---- a gather ------------------------------------------------------------------------ */

typedef struct gather_job {
    rank_ctx ctx;
    char *all;
    size_t total, at;
    int rc;
} gather_job;

static void *gather_rank(void *arg)
{
    gather_job *j = arg;
    shelf_comm c = {j->ctx.rank, RANKS, &j->ctx, fake_sum};
    const char *mine = j->ctx.rank == 0 ? "first" : "second rank";
    void *all = NULL;
    j->rc = comm_gather(&c, mine, strlen(mine), &all, &j->total, &j->at);
    j->all = all;
    return NULL;
}

static void gather_puts_ranks_in_order(void **state)
{
    (void)state;
    fake f;
    pthread_barrier_init(&f.bar, NULL, RANKS);
    gather_job j[RANKS];
    pthread_t t[RANKS];
    for (int r = 0; r < RANKS; r++) {
        j[r] = (gather_job){.ctx = {&f, r}};
        pthread_create(&t[r], NULL, gather_rank, &j[r]);
    }
    for (int r = 0; r < RANKS; r++)
        pthread_join(t[r], NULL);
    for (int r = 0; r < RANKS; r++) {
        assert_int_equal(j[r].rc, 0);
        assert_int_equal(j[r].total, 16);
        assert_memory_equal(j[r].all, "firstsecond rank", 16);
        free(j[r].all);
    }
    assert_int_equal(j[0].at, 0);
    assert_int_equal(j[1].at, 5);
    pthread_barrier_destroy(&f.bar);
}

/* ---- training ------------------------------------------------------------------------ */

static const char *labels[] = {"Apparel > Tops", "Apparel > Jeans", "Kitchen > Knives",
                               "Garden > Hoses", "Toys > Kites"};
static const char *words[][4] = {{"cotton", "tee", "crew", "shirt"},
                                 {"denim", "jeans", "slim", "indigo"},
                                 {"steel", "knife", "chef", "blade"},
                                 {"garden", "hose", "spray", "nozzle"},
                                 {"kite", "string", "flying", "tail"}};
enum { ROWS = 400 };

/* Products [from, to) of the catalog; the kites only in the second half, so that rank 0
 * never sees that label. */
static const char *write_part(const char *name, int from, int to)
{
    const char *path = path_of(name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "id,title,category\n");
    for (int i = from; i < to; i++) {
        int c = i < ROWS / 2 ? i % 4 : i % 5;
        fprintf(f, "%d,%s %s brand%d,%s\n", i, words[c][i % 4], words[c][(i / 5) % 4], i % 7,
                labels[c]);
    }
    assert_int_equal(fclose(f), 0);
    return path;
}

static shelf_train_options options(void)
{
    shelf_train_options o;
    shelf_train_options_default(&o);
    o.threads = 1;
    o.seed = 1;
    o.epochs = 5;
    return o;
}

static char valid_csv[256]; /* every rank validates on all of it, each scoring a share */

static shelf_text_encoder encoder_asked = SHELF_TEXT_ENCODER_BAG; /* what train_on trains */

static shelf_model *train_on(const char *path, const shelf_comm *comm)
{
    shelf_read_options ro = {0};
    ro.require_label = 1;
    shelf_catalog *c = NULL, *v = NULL;
    assert_int_equal(shelf_catalog_load(path, &ro, &c, NULL), SHELF_OK);
    assert_int_equal(shelf_catalog_load(valid_csv, &ro, &v, NULL), SHELF_OK);
    shelf_train_options o = options();
    o.comm = comm;
    o.text_encoder = encoder_asked;
    if (encoder_asked != SHELF_TEXT_ENCODER_BAG) {
        o.dim = 8;
        o.max_tokens = 8;
        o.batch = 16;
        o.epochs = 12;
        o.lr = 0.01f;
    }
    shelf_model *m = NULL;
    shelf_error err;
    if (shelf_train(c, v, &o, &m, &err) != SHELF_OK)
        fail_msg("training: %s", err.message);
    shelf_catalog_free(c);
    shelf_catalog_free(v);
    return m;
}

typedef struct train_job {
    rank_ctx ctx;
    const char *path;
    shelf_model *m;
} train_job;

static void *train_rank(void *arg)
{
    train_job *j = arg;
    shelf_comm c = {j->ctx.rank, RANKS, &j->ctx, fake_sum};
    j->m = train_on(j->path, &c);
    return NULL;
}

/* Accuracy on the rows [from, to) of the catalog. */
static double accuracy_on(const shelf_model *m, int from, int to)
{
    shelf_scratch *s = NULL;
    assert_int_equal(shelf_scratch_new(m, &s, NULL), SHELF_OK);
    int right = 0;
    for (int i = from; i < to; i++) {
        int c = i < ROWS / 2 ? i % 4 : i % 5, label;
        float p;
        char t[96];
        snprintf(t, sizeof t, "%s %s brand%d", words[c][i % 4], words[c][(i / 5) % 4], i % 7);
        right += shelf_predict(m, s, t, 1, &label, &p) == 1 &&
                 !strcmp(shelf_model_label(m, label), labels[c]);
    }
    shelf_scratch_free(s);
    return right / (double)(to - from);
}

static double accuracy(const shelf_model *m) { return accuracy_on(m, 0, ROWS); }

/* One process's model of the whole catalog into *one, and two ranks' (threads), each of
 * half of it, into j; all validating on valid.csv. */
static void train_one_and_two_ranks(shelf_model **one, train_job j[RANKS])
{
    snprintf(valid_csv, sizeof valid_csv, "%s", write_part("valid.csv", 3, ROWS / 3));
    *one = train_on(write_part("all.csv", 0, ROWS), NULL);
    fake f;
    pthread_barrier_init(&f.bar, NULL, RANKS);
    j[0] = (train_job){{&f, 0}, write_part("p0.csv", 0, ROWS / 2), NULL};
    j[1] = (train_job){{&f, 1}, write_part("p1.csv", ROWS / 2, ROWS), NULL};
    pthread_t t[RANKS];
    for (int r = 0; r < RANKS; r++)
        pthread_create(&t[r], NULL, train_rank, &j[r]);
    for (int r = 0; r < RANKS; r++)
        pthread_join(t[r], NULL);
    pthread_barrier_destroy(&f.bar);
}

static void two_ranks_train_one_model(void **state)
{
    (void)state;
    shelf_model *one = NULL;
    train_job j[RANKS];
    train_one_and_two_ranks(&one, j);
    /* the labels of both parts, in the whole file's order, on both ranks */
    for (int r = 0; r < RANKS; r++) {
        assert_int_equal(shelf_model_num_labels(j[r].m), 5);
        for (int k = 0; k < 5; k++)
            assert_string_equal(shelf_model_label(j[r].m, k), shelf_model_label(one, k));
    }
    /* the feature rows one process keeps of the whole catalog */
    char *d1 = shelf_model_describe(one, 0), *d2 = shelf_model_describe(j[0].m, 0);
    const char *r1 = strstr(d1, "sparse linear"), *r2 = strstr(d2, "sparse linear");
    assert_non_null(r1);
    assert_non_null(r2);
    assert_memory_equal(r1, r2, strcspn(r1, "\n"));
    free(d1);
    free(d2);
    shelf_model_summary s;
    shelf_model_summarize(j[1].m, &s);
    assert_int_equal(s.train_rows, ROWS);
    /* each rank scored a share of the validation products: their sum is the whole set's
     * accuracy of the model kept (the best epoch's) */
    assert_true(s.valid_accuracy >= 0);
    assert_float_equal(s.valid_accuracy, accuracy_on(j[1].m, 3, ROWS / 3), 1e-12);
    assert_same_files(j[0].m, j[1].m); /* the same model on both ranks, byte for byte */
    /* and as good as one process's: the kites, which rank 0 never saw, included */
    assert_true(accuracy(j[0].m) >= accuracy(one) - 0.02);
    for (int r = 0; r < RANKS; r++)
        shelf_model_free(j[r].m);
    shelf_model_free(one);
}

/* Two ranks train one GRU (each half the batch, the embedding rows any rank used shared
 * every step): the same model on both, byte for byte, with the vocabulary one process
 * learns from the whole catalog (words each part alone sees once count), and as accurate. */
static void two_ranks_train_one_gru(void **state)
{
    (void)state;
    encoder_asked = SHELF_TEXT_ENCODER_GRU;
    shelf_model *one = NULL;
    train_job j[RANKS];
    train_one_and_two_ranks(&one, j);
    encoder_asked = SHELF_TEXT_ENCODER_BAG;
    char *d1 = shelf_model_describe(one, 0), *d2 = shelf_model_describe(j[0].m, 0);
    const char *w1 = strstr(d1, "words seen"), *w2 = strstr(d2, "words seen");
    assert_non_null(w1);
    assert_non_null(w2);
    const char *l1 = w1, *l2 = w2; /* the whole line: the count of words */
    while (l1 > d1 && l1[-1] != '\n')
        l1--;
    while (l2 > d2 && l2[-1] != '\n')
        l2--;
    assert_memory_equal(l1, l2, strcspn(l1, "\n"));
    free(d1);
    free(d2);
    assert_same_files(j[0].m, j[1].m);
    assert_true(accuracy(j[0].m) >= accuracy(one) - 0.05);
    for (int r = 0; r < RANKS; r++)
        shelf_model_free(j[r].m);
    shelf_model_free(one);
}

static int lone_sum(void *user, void *buf, size_t n, shelf_comm_type t)
{
    (void)user, (void)buf, (void)n, (void)t;
    return 0;
}

/* A comm of one rank (a library caller may pass one) trains the GRU as no comm does, byte
 * for byte. */
static void one_rank_is_one_process(void **state)
{
    (void)state;
    encoder_asked = SHELF_TEXT_ENCODER_GRU;
    snprintf(valid_csv, sizeof valid_csv, "%s", write_part("valid.csv", 3, ROWS / 3));
    const char *all = write_part("all.csv", 0, ROWS);
    shelf_model *plain = train_on(all, NULL);
    shelf_comm one = {0, 1, NULL, lone_sum};
    shelf_model *lone = train_on(all, &one);
    encoder_asked = SHELF_TEXT_ENCODER_BAG;
    assert_same_files(plain, lone);
    shelf_model_free(plain);
    shelf_model_free(lone);
}

static void what_does_not_run_distributed_is_refused(void **state)
{
    (void)state;
    rank_ctx ctx = {NULL, 0};
    shelf_comm c = {0, RANKS, &ctx, fake_sum};
    shelf_read_options ro = {0};
    ro.require_label = 1;
    shelf_catalog *cat = NULL;
    assert_int_equal(shelf_catalog_load(write_part("x.csv", 0, 20), &ro, &cat, NULL), SHELF_OK);
    shelf_train_options o = options();
    o.comm = &c;
    o.modality = SHELF_MODALITY_BOTH;
    shelf_model *m = NULL;
    shelf_error err;
    assert_int_equal(shelf_train(cat, NULL, &o, &m, &err), SHELF_EINVAL);
    assert_non_null(strstr(err.message, "--modality both"));
    o = options();
    o.comm = &c;
    o.balance = SHELF_BALANCE_OVERSAMPLE;
    assert_int_equal(shelf_train(cat, NULL, &o, &m, &err), SHELF_EINVAL);
    assert_non_null(strstr(err.message, "--balance"));
    shelf_catalog_free(cat);
}

static int setup(void **state)
{
    (void)state;
    return scratch_setup("comm");
}

static int teardown(void **state)
{
    (void)state;
    return scratch_teardown();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(gather_puts_ranks_in_order),
        cmocka_unit_test(two_ranks_train_one_model),
        cmocka_unit_test(two_ranks_train_one_gru),
        cmocka_unit_test(one_rank_is_one_process),
        cmocka_unit_test(what_does_not_run_distributed_is_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
