/* Out of memory, the SQLite way: for N = 1, 2, 3, ... an operation runs with its N-th
 * allocation failing (once, then from it on), and must either succeed or return
 * SHELF_ENOMEM with a message, leaking nothing; the loop ends at the first N past the
 * operation's allocations. Past the first few hundred allocations N grows by a stride
 * (1/64 of N), which keeps the thousands-of-allocations operations fast.
 *
 * Leaks: in the sanitizer build, LeakSanitizer looks for unreachable memory after every
 * LEAK_CHECK_EVERY runs and at the end of each loop (__lsan_do_recoverable_leak_check; a
 * check takes some 3 ms, as long as most runs, and its report has the stack of what
 * leaked). It rather than a count of live allocations in mem.c because memory from
 * mem_alloc may be released by free() or by a library, and because what leaks on an error
 * path is as often a library's object (a cJSON tree, a decoder) as shelf's. The release
 * build checks the statuses only (valgrind, in `make test`, looks for leaks there).
 *
 * The libraries' own allocations are not counted, except cJSON's in the last test, which
 * hooks them to mem_alloc so that shelf's handling of cJSON returning NULL is tried too. */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <webp/encode.h>
#include <zlib.h>
#include <jpeglib.h> /* after stdio.h, which it needs */
#include <png.h>

#include "core/mem.h"
#include "image/decode.h"
#include "shelf.h"
#include "scratch_dir.h"

#if defined(__SANITIZE_ADDRESS__)
#define LEAK_CHECK 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LEAK_CHECK 1
#endif
#endif
#ifdef LEAK_CHECK
#include <sanitizer/lsan_interface.h>
#endif

enum { N = 12, SIDE = 12, K = 3 };
static const char *colours[] = {"red", "blue", "green"};
static const unsigned char rgb_of[3][3] = {{220, 30, 30}, {30, 30, 220}, {30, 200, 30}};

static char csv[256];
/* the models, trained once with no allocation failing, and their files */
enum { BAG, BAG_DIM, GRU, TRANSFORMER, IMAGE, FUSED, BAG_INT8, MODELS };
static const char *model_names[MODELS] = {"bag", "bag_dim", "gru", "transformer", "image",
                                          "fused", "bag_int8"};
static shelf_model *models[MODELS];
static char model_paths[MODELS][256];
static shelf_catalog *products; /* the catalog, read for prediction */
static unsigned char *photo;     /* a valid WebP, in memory */
static size_t photo_size;

/* ---- the loop ------------------------------------------------------------------------ */

/* An operation under test: everything it makes it frees before returning. */
typedef shelf_status (*operation)(const void *arg, shelf_error *err);

/* Set while cJSON allocates through mem_alloc (json_failing): a parse that runs out of
 * memory is then told as invalid JSON (SHELF_EDATA, HTTP 400), cJSON_Parse saying no
 * more than NULL. */
static int json_allocs_counted;

static int invalid_json(shelf_status s, const shelf_error *err)
{
    return (s == SHELF_EDATA && strstr(err->message, "invalid JSON")) ||
           (s == SHELF_EIO && strcmp(err->message, "HTTP 400") == 0);
}

/* An operation that sets things up first (a server) lets allocations fail only from
 * failures_resume to failures_pause; the loop then judges that window. */
static unsigned long armed_at;
static int armed_persist, paused, paused_failed;
static unsigned long paused_calls;

static void failures_pause(void)
{
    paused = 1;
    paused_failed = mem_failed();
    paused_calls = mem_calls();
    mem_fail_at(0, 0);
}

static void failures_resume(void) { mem_fail_at(armed_at, armed_persist); }

static unsigned long next_n(unsigned long n) { return n < 300 ? n + 1 : n + n / 64; }

enum { LEAK_CHECK_EVERY = 8 };

static int leaked(void)
{
#ifdef LEAK_CHECK
    return __lsan_do_recoverable_leak_check();
#else
    return 0;
#endif
}

/* Fails the test if anything leaked in the runs of allocations failing from..to. */
static void expect_no_leak(const char *name, int persist, unsigned long from, unsigned long to)
{
    if (leaked())
        fail_msg("%s: a leak in the runs with allocations failing %s %lu to %lu", name,
                 persist ? "from" : "at", from, to);
}

/* Runs op with each allocation failing in turn, once (persist 0) or for good (1); returns
 * the allocations of a run in which none failed. */
static unsigned long fail_each_allocation(const char *name, operation op, const void *arg,
                                          int persist)
{
    unsigned long unchecked = 1; /* the first run not checked for leaks yet */
    for (unsigned long n = 1, runs = 1;; n = next_n(n), runs++) {
        shelf_error err;
        memset(&err, 0, sizeof err);
        armed_at = n;
        armed_persist = persist;
        paused = 0;
        mem_fail_at(n, persist);
        shelf_status s = op(arg, &err);
        int failed = paused ? paused_failed : mem_failed();
        unsigned long calls = paused ? paused_calls : mem_calls();
        mem_fail_at(0, 0);
        const char *mode = persist ? "from" : "at";
        int last = s == SHELF_OK && !failed;
        if (last || runs % LEAK_CHECK_EVERY == 0) {
            expect_no_leak(name, persist, unchecked, n);
            unchecked = next_n(n);
        }
        if (last)
            return calls;
        if (s == SHELF_OK)
            continue;
        if (failed && json_allocs_counted && invalid_json(s, &err))
            continue;
        if (s != SHELF_ENOMEM || !failed)
            fail_msg("%s: allocations failing %s %lu: %s, not out of memory: %s", name, mode,
                     n, shelf_strerror(s), err.message);
        if (!err.message[0] || err.code != SHELF_ENOMEM)
            fail_msg("%s: allocations failing %s %lu: out of memory without a message", name,
                     mode, n);
    }
}

static void fail_both_ways(const char *what, operation op, const void *arg)
{
    char name[96];
    snprintf(name, sizeof name, "%s%s", what, json_allocs_counted ? " (cJSON too)" : "");
    unsigned long once = fail_each_allocation(name, op, arg, 0);
    unsigned long persist = fail_each_allocation(name, op, arg, 1);
    print_message("%-36s %lu allocations (%lu in the persistent run)\n", name, once, persist);
}

/* Calls that say -1 or NULL without a message (shelf_predict, shelf_eval_json): the test
 * names the call. */
static shelf_status err_set_enomem(shelf_error *err, const char *what)
{
    err->code = SHELF_ENOMEM;
    snprintf(err->message, sizeof err->message, "%s", what);
    return SHELF_ENOMEM;
}

static shelf_status minus_one_is_enomem(int r, const char *call, shelf_error *err)
{
    return r >= 0 ? SHELF_OK : err_set_enomem(err, call);
}

/* ---- the data and models ------------------------------------------------------------- */

/* A flat SIDE x SIDE WebP of colour c with a little noise; the caller frees with WebPFree. */
static size_t webp_of(int c, int seed, unsigned char **out)
{
    unsigned char px[SIDE * SIDE * 3];
    for (int i = 0; i < SIDE * SIDE * 3; i++)
        px[i] = (unsigned char)(rgb_of[c][i % 3] + (i * 7 + seed * 13) % 20);
    size_t n = WebPEncodeLosslessRGB(px, SIDE, SIDE, SIDE * 3, out);
    assert_true(n > 0);
    return n;
}

/* The options of a tiny model of the kind `which`, on a catalog read with ro. */
static shelf_train_options train_options(int which, const shelf_read_options *ro)
{
    shelf_train_options o;
    shelf_train_options_default(&o);
    o.modality = which == IMAGE ? SHELF_MODALITY_IMAGE
               : which == FUSED ? SHELF_MODALITY_BOTH
                                : SHELF_MODALITY_TEXT;
    o.read = *ro;
    o.threads = 1;
    o.seed = 1;
    o.epochs = 2;
    o.dim = which == BAG_DIM ? 4 : which == GRU || which == TRANSFORMER ? 8 : 0;
    o.hierarchy = which == BAG_DIM || which == GRU;
    o.buckets = 1000;
    if (which == GRU || which == TRANSFORMER) {
        o.text_encoder = which == GRU ? SHELF_TEXT_ENCODER_GRU : SHELF_TEXT_ENCODER_TRANSFORMER;
        o.max_tokens = 6;
        o.layers = 1;
        o.heads = 2;
    }
    o.image_size = 8;
    o.width = 2;
    o.batch = 4;
    o.augment = 0;
    return o;
}

static shelf_read_options train_read_options(int which)
{
    shelf_read_options ro = {0};
    ro.require_label = 1;
    ro.for_images = which == IMAGE;
    return ro;
}

static shelf_model *train(int which)
{
    shelf_read_options ro = train_read_options(which);
    shelf_catalog *c = NULL;
    shelf_error err;
    assert_int_equal(shelf_catalog_load(csv, &ro, &c, &err), SHELF_OK);
    shelf_train_options o = train_options(which, &ro);
    shelf_model *m = NULL;
    if (shelf_train(c, NULL, &o, &m, &err) != SHELF_OK)
        fail_msg("training %s: %s", model_names[which], err.message);
    if (which == BAG_INT8 && shelf_model_quantize(m, NULL, NULL, &err) != SHELF_OK)
        fail_msg("quantizing: %s", err.message);
    shelf_catalog_free(c);
    return m;
}

static int setup(void **state)
{
    (void)state;
    assert_int_equal(scratch_setup("alloc_failure"), 0);
    snprintf(csv, sizeof csv, "%s", path_of("train.csv"));
    FILE *f = fopen(csv, "w");
    assert_non_null(f);
    fprintf(f, "id,title,image,category\n");
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof name, "%d.webp", i);
        unsigned char *data = NULL;
        size_t n = webp_of(i % 3, i, &data);
        write_bytes(name, data, n);
        WebPFree(data);
        fprintf(f, "%d,%s thing %d,%s,Things > %s\n", i, colours[i % 3], i % 5, name,
                colours[i % 3]);
    }
    assert_int_equal(fclose(f), 0);
    f = fopen(path_of("examples.csv"), "w"); /* a new colour, and old ones beside it */
    assert_non_null(f);
    fprintf(f, "id,title,image,category\n");
    for (int i = 0; i < 6; i++)
        fprintf(f, "e%d,violet gadget %d,,Things > violet\ne%d,%s thing %d,,Things > %s\n", i,
                i, i + 6, colours[i % 3], i, colours[i % 3]);
    assert_int_equal(fclose(f), 0);
    photo_size = webp_of(1, 99, &photo);
    for (int m = 0; m < MODELS; m++) {
        models[m] = train(m);
        char name[64];
        snprintf(name, sizeof name, "%s.shelf", model_names[m]);
        snprintf(model_paths[m], sizeof model_paths[m], "%s", path_of(name));
        assert_int_equal(shelf_model_save(models[m], model_paths[m], NULL), SHELF_OK);
    }
    shelf_read_options ro = *shelf_model_read_options(models[FUSED]);
    ro.require_label = 0;
    assert_int_equal(shelf_catalog_load(csv, &ro, &products, NULL), SHELF_OK);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (int m = 0; m < MODELS; m++)
        shelf_model_free(models[m]);
    shelf_catalog_free(products);
    WebPFree(photo);
    return scratch_teardown();
}

/* ---- a. model load ------------------------------------------------------------------- */

static shelf_status load_model(const void *arg, shelf_error *err)
{
    shelf_model *m = NULL;
    shelf_status s = shelf_model_load(arg, &m, err);
    shelf_model_free(m);
    return s;
}

static void loading_a_model(void **state)
{
    (void)state;
    for (int m = 0; m < MODELS; m++) {
        char name[64];
        snprintf(name, sizeof name, "load %s", model_names[m]);
        fail_both_ways(name, load_model, model_paths[m]);
    }
}

/* ---- b. text prediction -------------------------------------------------------------- */

static const char *const texts[] = {"red thing 1", "blue", "", "green thing 4 green"};
enum { TEXTS = sizeof texts / sizeof *texts };

static shelf_status predict_one(const void *arg, shelf_error *err)
{
    const shelf_model *m = arg;
    shelf_scratch *s = NULL;
    shelf_status st = shelf_scratch_new(m, &s, err);
    if (st != SHELF_OK)
        return st;
    int labels[K];
    float probs[K];
    for (int i = 0; i < TEXTS && st == SHELF_OK; i++)
        st = minus_one_is_enomem(shelf_predict(m, s, texts[i], K, labels, probs),
                                 "shelf_predict", err);
    shelf_scratch_free(s);
    return st;
}

static shelf_status predict_texts(const void *arg, shelf_error *err)
{
    const shelf_model *m = arg;
    shelf_scratch *s = NULL;
    shelf_status st = shelf_scratch_new(m, &s, err);
    if (st != SHELF_OK)
        return st;
    int labels[TEXTS * K], counts[TEXTS];
    float probs[TEXTS * K];
    st = minus_one_is_enomem(shelf_predict_texts(m, s, texts, TEXTS, K, labels, probs, counts),
                             "shelf_predict_texts", err);
    shelf_scratch_free(s);
    return st;
}

static shelf_status predict_batch(const void *arg, shelf_error *err)
{
    int labels[TEXTS * K], counts[TEXTS];
    float probs[TEXTS * K];
    return shelf_predict_batch(arg, texts, TEXTS, K, 2, labels, probs, counts, err);
}

/* Every product of the catalog; with images from their files for the models that read
 * them. */
static shelf_status predict_products(const void *arg, shelf_error *err)
{
    int labels[N * K], counts[N];
    float probs[N * K];
    unsigned char used[N];
    shelf_predict_stats st;
    shelf_product p[N];
    for (size_t i = 0; i < N; i++)
        p[i] = *shelf_catalog_get(products, i);
    return shelf_predict_products(arg, csv, p, N, K, 2, labels, probs, counts, used, &st,
                                  err);
}

/* A predictor made once and run twice: the catalog's products, then products with their
 * image in memory (a good one, bytes that are no image, none). */
static shelf_status predictor_runs(const void *arg, shelf_error *err)
{
    static const unsigned char junk[] = "GIF89a, not really";
    shelf_product mem[3] = {
        {"good", "blue thing", "", "products[0].image_base64", 0, photo, photo_size},
        {"junk", "red thing", "", "products[1].image_base64", 0, junk, sizeof junk},
        {"none", "green thing", "", "", 0, NULL, 0}};
    shelf_product p[N];
    for (size_t i = 0; i < N; i++)
        p[i] = *shelf_catalog_get(products, i);
    int labels[N * K], counts[N];
    float probs[N * K];
    unsigned char used[N];
    shelf_predict_stats st;
    shelf_predictor *pr = NULL;
    shelf_status s = shelf_predictor_new(arg, 2, 5, &pr, err);
    if (s == SHELF_OK)
        s = shelf_predictor_run(pr, csv, p, N, K, labels, probs, counts, used, &st, err);
    if (s == SHELF_OK)
        s = shelf_predictor_run(pr, "-", mem, 3, K, labels, probs, counts, used, &st, err);
    shelf_predictor_free(pr);
    return s;
}

/* Embeddings of the catalog's products, then of products with their image in memory, with
 * a predictor made once; and the vectors written to a file. */
static shelf_status embedded_runs(const void *arg, shelf_error *err)
{
    static const unsigned char junk[] = "GIF89a, not really";
    shelf_product mem[2] = {
        {"good", "blue thing", "", "products[0].image_base64", 0, photo, photo_size},
        {"junk", "zqxj", "", "products[1].image_base64", 0, junk, sizeof junk}};
    shelf_product p[N];
    for (size_t i = 0; i < N; i++)
        p[i] = *shelf_catalog_get(products, i);
    size_t dim = shelf_embedding_dim(arg);
    float *v = malloc(N * dim * sizeof *v);
    unsigned char ok[N];
    shelf_predictor *pr = NULL;
    shelf_vector_writer *w = NULL;
    shelf_status s = v ? shelf_predictor_new(arg, 2, 5, &pr, err) : SHELF_ENOMEM;
    if (s == SHELF_OK)
        s = shelf_predictor_embed(pr, csv, p, N, v, ok, NULL, err);
    if (s == SHELF_OK)
        s = shelf_predictor_embed(pr, "-", mem, 2, v, ok, NULL, err);
    if (s == SHELF_OK)
        s = shelf_vector_writer_open(path_of("v.npy"), path_of("v.ids"), SHELF_VECTORS_NPY,
                                     dim, &w, err);
    if (s == SHELF_OK)
        s = shelf_vector_writer_add(w, NULL, v, 2, err);
    if (s == SHELF_OK) {
        s = shelf_vector_writer_commit(w, err);
        w = NULL;
    }
    shelf_vector_writer_discard(w);
    shelf_predictor_free(pr);
    free(v);
    return s;
}

/* An index of the catalog's embeddings: made, built (exact, or with a graph), saved,
 * loaded and searched both ways. hnswlib's own allocations do not go through the hook. */
static shelf_status index_runs(const void *arg, shelf_error *err)
{
    const shelf_model *m = models[BAG];
    int graph = *(const int *)arg;
    shelf_product p[N];
    const char *ids[N];
    for (size_t i = 0; i < N; i++) {
        p[i] = *shelf_catalog_get(products, i);
        ids[i] = p[i].id;
    }
    size_t dim = shelf_embedding_dim(m);
    float *v = malloc(N * dim * sizeof *v);
    unsigned char ok[N];
    long rows[N * 3];
    float scores[N * 3];
    shelf_index *x = NULL, *y = NULL;
    shelf_status s = v ? shelf_embed(m, csv, p, N, 2, v, ok, NULL, err) : SHELF_ENOMEM;
    if (s == SHELF_OK)
        s = shelf_index_new(m, &x, err);
    if (s == SHELF_OK)
        s = shelf_index_add(x, ids, NULL, 1, v, N, err);
    if (s == SHELF_OK)
        s = shelf_index_build(x, graph ? SHELF_INDEX_HNSW : SHELF_INDEX_EXACT, 2, err);
    if (s == SHELF_OK)
        s = shelf_index_save(x, path_of("c.idx"), err);
    if (s == SHELF_OK)
        s = shelf_index_load(path_of("c.idx"), m, &y, err);
    if (s == SHELF_OK)
        s = shelf_index_search(y, v, N, 3, NULL, 0, 2, rows, scores, err);
    if (s == SHELF_OK)
        s = shelf_index_search(y, v, N, 3, NULL, 1, 2, rows, scores, err);
    shelf_index_free(x);
    shelf_index_free(y);
    free(v);
    return s;
}

/* A run that explains as it predicts, each product's best label explained at once and one
 * product's second label alone, twice (the second run reuses the buffers). */
static shelf_status explained_runs(const void *arg, shelf_error *err)
{
    shelf_product p[N];
    for (size_t i = 0; i < N; i++)
        p[i] = *shelf_catalog_get(products, i);
    int labels[N * K], counts[N], best[N];
    float probs[N * K];
    unsigned char used[N];
    const char *json[N];
    shelf_predict_stats st;
    shelf_predictor *pr = NULL;
    shelf_status s = shelf_predictor_new(arg, 2, 0, &pr, err);
    shelf_predictor_explain_best(pr, 1);
    for (int run = 0; run < 2 && s == SHELF_OK; run++) {
        s = shelf_predictor_run(pr, csv, p, N, K, labels, probs, counts, used, &st, err);
        for (size_t i = 0; i < N && s == SHELF_OK; i++)
            best[i] = counts[i] > 0 ? labels[i * K] : -1;
        if (s == SHELF_OK)
            s = shelf_predictor_explain_many(pr, csv, p, N, best, json, err);
        char *one = NULL;
        if (s == SHELF_OK && counts[0] > 1)
            s = shelf_predictor_explain(pr, csv, p, 0, labels[1], &one, err);
        free(one);
    }
    shelf_predictor_free(pr);
    return s;
}

/* New labels from examples (shelf_labels_add) into a fresh copy of a text model: the model
 * loaded, the examples read, the labels added; a failure leaves the model as it was. */
static shelf_status labels_added(const void *arg, shelf_error *err)
{
    int which = *(const int *)arg;
    char examples[256];
    snprintf(examples, sizeof examples, "%s", path_of("examples.csv"));
    shelf_model *m = NULL;
    shelf_catalog *c = NULL;
    shelf_read_options ro = train_read_options(which);
    shelf_status s = shelf_model_load(model_paths[which], &m, err);
    if (s == SHELF_OK)
        s = shelf_catalog_load(examples, &ro, &c, err);
    int before = m ? shelf_model_num_labels(m) : 0;
    shelf_imprint_report rep;
    if (s == SHELF_OK)
        s = shelf_labels_add(m, c, &rep, err);
    if (m && s != SHELF_OK && shelf_model_num_labels(m) != before)
        fail_msg("labels add %s: the model changed on a failure", model_names[which]);
    shelf_catalog_free(c);
    shelf_model_free(m);
    return s;
}

/* The bag quantized with a cutoff (shelf_model_quantize) in a fresh copy: a failure leaves
 * the model as it was, predicting as before. */
static shelf_status quantized(const void *arg, shelf_error *err)
{
    (void)arg;
    shelf_model *m = NULL;
    shelf_status s = shelf_model_load(model_paths[BAG], &m, err);
    shelf_quantize_options o = shelf_quantize_options_default();
    o.cutoff = 5;
    shelf_quantize_report rep;
    if (s == SHELF_OK)
        s = shelf_model_quantize(m, &o, &rep, err);
    shelf_model_summary sum;
    if (m)
        shelf_model_summarize(m, &sum);
    if (m && s != SHELF_OK && sum.quantized)
        fail_msg("quantize: the model changed on a failure");
    shelf_model_free(m);
    return s;
}

/* The CNN quantized, calibrated on the catalog's photos, in a fresh copy: a failure leaves
 * the model as it was; the int8 model then predicts. */
static shelf_status quantized_image(const void *arg, shelf_error *err)
{
    (void)arg;
    shelf_model *m = NULL;
    shelf_status s = shelf_model_load(model_paths[IMAGE], &m, err);
    shelf_quantize_options o = shelf_quantize_options_default();
    o.calibration = products;
    o.threads = 2;
    if (s == SHELF_OK)
        s = shelf_model_quantize(m, &o, NULL, err);
    shelf_model_summary sum;
    if (m)
        shelf_model_summarize(m, &sum);
    if (m && s != SHELF_OK && sum.quantized)
        fail_msg("quantize image: the model changed on a failure");
    if (s == SHELF_OK)
        s = predict_products(m, err);
    shelf_model_free(m);
    return s;
}

/* Near-duplicates without a model: the catalog's photos read on two threads, their
 * fingerprints searched and the pairs verified. */
static shelf_status duplicates_found(const void *arg, shelf_error *err)
{
    (void)arg;
    shelf_duplicate_options o;
    shelf_duplicate_options_default(&o);
    o.threads = 2;
    o.threshold = 0.5f; /* many pairs: the list grows */
    o.candidate = 0;
    shelf_duplicate_pairs found;
    shelf_status s = shelf_find_duplicates(products, &o, &found, err);
    shelf_duplicate_pairs_free(&found);
    return s;
}

static void predicting_texts(void **state)
{
    (void)state;
    static const int text_models[] = {BAG, BAG_DIM, GRU, TRANSFORMER, BAG_INT8};
    for (size_t i = 0; i < sizeof text_models / sizeof *text_models; i++) {
        const shelf_model *m = models[text_models[i]];
        const char *name = model_names[text_models[i]];
        char what[64];
        snprintf(what, sizeof what, "predict %s", name);
        fail_both_ways(what, predict_one, m);
        snprintf(what, sizeof what, "predict_texts %s", name);
        fail_both_ways(what, predict_texts, m);
        snprintf(what, sizeof what, "predict_batch %s", name);
        fail_both_ways(what, predict_batch, m);
        snprintf(what, sizeof what, "predict_products %s", name);
        fail_both_ways(what, predict_products, m);
        snprintf(what, sizeof what, "predictor %s", name);
        fail_both_ways(what, predictor_runs, m);
        snprintf(what, sizeof what, "explained %s", name);
        fail_both_ways(what, explained_runs, m);
        snprintf(what, sizeof what, "embedded %s", name);
        fail_both_ways(what, embedded_runs, m);
        snprintf(what, sizeof what, "labels add %s", name);
        if (text_models[i] == BAG || text_models[i] == GRU) /* both head layouts */
            fail_both_ways(what, labels_added, &text_models[i]);
    }
    static const int exact = 0, graph = 1;
    fail_both_ways("index exact", index_runs, &exact);
    fail_both_ways("index hnsw", index_runs, &graph);
    fail_both_ways("duplicates without a model", duplicates_found, NULL);
    fail_both_ways("quantize", quantized, NULL);
}

/* ---- c. image prediction ------------------------------------------------------------- */

static shelf_status check_image(const void *arg, shelf_error *err)
{
    (void)arg;
    return shelf_image_check(photo, photo_size, err);
}

typedef struct blob {
    unsigned char *data;
    size_t size;
} blob;

/* W x H pixels of a gradient, RGB or RGBA. */
enum { W = 40, H = 30 };
static void gradient(unsigned char *px, int channels)
{
    for (int i = 0; i < W * H; i++)
        for (int c = 0; c < channels; c++)
            px[i * channels + c] = (unsigned char)(c == 3 ? 128 + i % 100 : (i * (c + 3)) % 256);
}

/* An EXIF segment (little-endian TIFF) with one tag: the orientation. */
static const unsigned char exif_rotated[] = {
    'E', 'x', 'i', 'f', 0, 0, 'I', 'I', 42, 0, 8, 0, 0, 0, /* header, first IFD at 8 */
    1, 0,                                                 /* one entry */
    0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0,             /* 0x0112 SHORT 1: 6, turned */
    0, 0, 0, 0};                                          /* no next IFD */

/* A JPEG of the gradient: baseline, progressive (1) or turned by its EXIF tag (2). */
static blob jpeg_of_gradient(int kind)
{
    unsigned char px[W * H * 3];
    gradient(px, 3);
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr jerr;
    unsigned char *out = NULL;
    unsigned long n = 0;
    c.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, &out, &n);
    c.image_width = W;
    c.image_height = H;
    c.input_components = 3;
    c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    if (kind == 1)
        jpeg_simple_progression(&c);
    jpeg_start_compress(&c, TRUE);
    if (kind == 2)
        jpeg_write_marker(&c, JPEG_APP0 + 1, exif_rotated, sizeof exif_rotated);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = px + (size_t)c.next_scanline * W * 3;
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    return (blob){out, n};
}

static blob png_of_gradient(void)
{
    unsigned char px[W * H * 4];
    gradient(px, 4);
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    im.width = W;
    im.height = H;
    im.format = PNG_FORMAT_RGBA;
    png_alloc_size_t n = 0;
    assert_true(png_image_write_to_memory(&im, NULL, &n, 0, px, 0, NULL));
    blob b = {malloc(n), n};
    assert_non_null(b.data);
    assert_true(png_image_write_to_memory(&im, b.data, &n, 0, px, 0, NULL));
    return b;
}

static shelf_status decode_image(const void *arg, shelf_error *err)
{
    const blob *b = arg;
    image im;
    shelf_status s = image_decode_mem(b->data, b->size, 8, 1000000, &im, err);
    if (s == SHELF_OK)
        image_free(&im);
    return s;
}

static void predicting_images(void **state)
{
    (void)state;
    blob jpeg = jpeg_of_gradient(0), progressive = jpeg_of_gradient(1),
         turned = jpeg_of_gradient(2), png = png_of_gradient();
    fail_both_ways("decode jpeg", decode_image, &jpeg);
    fail_both_ways("decode progressive jpeg", decode_image, &progressive);
    fail_both_ways("decode turned jpeg", decode_image, &turned);
    fail_both_ways("decode png", decode_image, &png);
    free(jpeg.data);
    free(progressive.data);
    free(turned.data);
    free(png.data);
    fail_both_ways("image_check", check_image, NULL);
    fail_both_ways("predict_products image", predict_products, models[IMAGE]);
    fail_both_ways("predictor image", predictor_runs, models[IMAGE]);
    fail_both_ways("predict_products fused", predict_products, models[FUSED]);
    fail_both_ways("predictor fused", predictor_runs, models[FUSED]);
    fail_both_ways("explained fused", explained_runs, models[FUSED]);
    fail_both_ways("embedded image", embedded_runs, models[IMAGE]);
    fail_both_ways("embedded fused", embedded_runs, models[FUSED]);
    fail_both_ways("quantize image", quantized_image, NULL);
}

/* ---- d. a server's request ----------------------------------------------------------- */

/* One request to the server on port (body: size bytes, perhaps binary); returns the
 * answer's HTTP status, 0 when the server closed the connection without one. */
typedef struct http_call {
    const char *method, *path, *type, *token;
    const char *body;
    size_t size;
} http_call;

static int http_status(int port, const http_call *c)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    static char req[1 << 16];
    char auth[128] = "";
    if (c->token)
        snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\n", c->token);
    int n = snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: localhost\r\n%sContent-Type: "
                     "%s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", c->method,
                     c->path, auth, c->type, c->size);
    assert_true(n > 0 && (size_t)n + c->size < sizeof req);
    memcpy(req + n, c->body, c->size);
    size_t len = (size_t)n + c->size;
    assert_int_equal(send(fd, req, len, MSG_NOSIGNAL), (ssize_t)len);
    char answer[4096];
    size_t got = 0;
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    while (got < sizeof answer - 1 && poll(&pfd, 1, 10000) == 1) {
        ssize_t r = recv(fd, answer + got, sizeof answer - 1 - got, 0);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    answer[got] = '\0';
    int status = 0;
    if (sscanf(answer, "HTTP/1.%*d %d", &status) != 1)
        status = 0;
    return status;
}

typedef struct serve_case {
    const char *model_path;
    http_call call;
} serve_case;

static const char *const TOKEN = "s3cret";

/* A server started with every allocation working, one request with them failing, and the
 * stop: the answer must be 200, or 500 or 503 (which say why in their body). */
static shelf_status serve_one(const void *arg, shelf_error *err)
{
    const serve_case *c = arg;
    failures_pause();
    shelf_server_options o;
    shelf_server_options_default(&o);
    o.model_path = c->model_path;
    o.port = 0;
    o.threads = 2;
    o.token = c->call.token;
    shelf_server *srv = NULL;
    assert_int_equal(shelf_server_start(&o, &srv, NULL), SHELF_OK);
    failures_resume();
    int status = http_status(shelf_server_port(srv), &c->call);
    failures_pause();
    shelf_server_stop(srv, 1);
    if (status == 200)
        return SHELF_OK;
    snprintf(err->message, sizeof err->message, "HTTP %d", status);
    err->code = status == 500 || status == 503 ? SHELF_ENOMEM : SHELF_EIO;
    return err->code;
}

/* shelf_server_start and an immediate stop, allocations failing throughout. */
static shelf_status serve_start(const void *arg, shelf_error *err)
{
    shelf_server_options o;
    shelf_server_options_default(&o);
    o.model_path = arg;
    o.port = 0;
    o.threads = 2;
    o.token = TOKEN;
    shelf_server *srv = NULL;
    shelf_status s = shelf_server_start(&o, &srv, err);
    shelf_server_stop(srv, 0);
    return s;
}

static http_call classify(const char *body)
{
    return (http_call){"POST", "/v1/classify", "application/json", NULL, body, strlen(body)};
}

static void serving_a_request(void **state)
{
    (void)state;
    static char json[8192], form[8192], reload[512];
    static const char b64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *o = json + sprintf(json, "{\"id\": 7, \"title\": \"blue thing\", "
                                   "\"image_base64\": \"");
    for (size_t i = 0; i < photo_size; i += 3) {
        unsigned v = (unsigned)photo[i] << 16 |
                     (i + 1 < photo_size ? (unsigned)photo[i + 1] << 8 : 0) |
                     (i + 2 < photo_size ? photo[i + 2] : 0);
        for (size_t j = 0; j < 4; j++)
            *o++ = j <= photo_size - i ? b64[v >> (18 - 6 * j) & 63] : '=';
    }
    strcpy(o, "\", \"k\": 2}");
    int n = sprintf(form, "--XyZ\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\n"
                          "blue thing\r\n--XyZ\r\nContent-Disposition: form-data; "
                          "name=\"image\"; filename=\"p.webp\"\r\nContent-Type: image/webp"
                          "\r\n\r\n");
    memcpy(form + n, photo, photo_size);
    size_t form_size = (size_t)n + photo_size;
    form_size += (size_t)sprintf(form + form_size, "\r\n--XyZ--\r\n");
    snprintf(reload, sizeof reload, "{\"model\": \"%s\"}", model_paths[FUSED]);

    const serve_case cases[] = {
        {model_paths[BAG], classify("{\"products\": [{\"id\": 1, \"title\": \"red thing\"}, "
                                    "{\"id\": \"p2\", \"title\": \"green\"}], \"k\": 2, "
                                    "\"min_confidence\": 0.5}")},
        {model_paths[IMAGE], classify(json)},
        {model_paths[FUSED], classify(json)},
        {model_paths[FUSED], {"POST", "/v1/classify", "multipart/form-data; boundary=XyZ", NULL,
                              form, form_size}},
        {model_paths[FUSED], {"GET", "/v1/model", "text/plain", NULL, "", 0}},
        {model_paths[FUSED], {"GET", "/metrics", "text/plain", NULL, "", 0}},
        {model_paths[BAG], {"POST", "/v1/admin/reload", "application/json", TOKEN, reload,
                            strlen(reload)}},
    };
    static const char *const names[] = {"serve text", "serve image", "serve fused",
                                        "serve fused multipart", "serve GET /v1/model",
                                        "serve GET /metrics", "serve reload"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        fail_both_ways(names[i], serve_one, &cases[i]);
    fail_both_ways("serve start text", serve_start, model_paths[BAG]);
    fail_both_ways("serve start fused", serve_start, model_paths[FUSED]);
}

/* ---- e. catalogs, evaluation, model save -------------------------------------------- */

typedef struct catalog_case {
    const char *name, *text;
    shelf_format format;
    int lenient; /* skip_bad, fix_utf8, a depth limit and images */
    int no_header;
    const char *text_columns;
    const char *keep_columns;
} catalog_case;

static const catalog_case catalogs[] = {
    {.name = "c.csv",
     .text = "id,title,description,category\n1,Red \"shirt\",cotton,Apparel > Tops\n"
             "2,\"Blue, jeans\",denim,Apparel > Bottoms\n3,Mug,,Home\n",
     .keep_columns = "description,id"},
    {.name = "c.tsv", .text = "id\ttitle\tcategory\n1\tRed shirt\tApparel > Tops\n2\tMug\tHome\n"},
    {.name = "c.jsonl",
     .text = "{\"id\": 1, \"title\": \"Red shirt\", \"category\": \"Apparel > Tops\"}\n"
             "{\"id\": \"2\", \"title\": \"Mug\", \"description\": \"white\", "
             "\"category\": \"Home\"}\n",
     .keep_columns = "id"},
    {.name = "c.json",
     .text = "[{\"id\": 1, \"title\": \"Red shirt\", \"category\": \"Apparel > Tops\"},"
             " {\"id\": 2, \"title\": \"Mug\", \"category\": \"Home\"}]"},
    {.name = "c.txt", .text = "__label__Apparel_>_Tops red shirt\n__label__Home white mug\n",
     .format = SHELF_FORMAT_FASTTEXT},
    /* a bad row skipped, bad UTF-8 replaced, a label cut to one level, an image column */
    {.name = "bad.csv",
     .text = "id;title;category;image\n1;Red \xff shirt;Apparel > Tops;1.webp\n"
             "2;\"unterminated;Home;\n3;;Home;2.webp\n4;Mug;Home;3.webp\n",
     .lenient = 1},
    {.name = "nohead.tsv", .text = "1\tRed shirt\tcotton\tApparel\n2\tMug\twhite\tHome\n",
     .no_header = 1, .text_columns = "2,3"},
};
enum { CATALOGS = sizeof catalogs / sizeof *catalogs };

static shelf_read_options read_options(const catalog_case *c)
{
    shelf_read_options ro = {0};
    ro.format = c->format;
    ro.require_label = 1;
    ro.skip_bad = ro.fix_utf8 = c->lenient;
    ro.max_depth = c->lenient;
    ro.image_column = c->lenient ? "image" : NULL;
    ro.no_header = c->no_header;
    ro.text_columns = c->text_columns;
    ro.keep_columns = c->keep_columns;
    if (c->no_header) {
        ro.id_column = "1";
        ro.label_column = "4";
    }
    return ro;
}

static shelf_status load_catalog(const void *arg, shelf_error *err)
{
    const catalog_case *c = arg;
    shelf_read_options ro = read_options(c);
    shelf_catalog *cat = NULL;
    shelf_status s = shelf_catalog_load(path_of(c->name), &ro, &cat, err);
    shelf_catalog_free(cat);
    return s;
}

static shelf_status stream_catalog(const void *arg, shelf_error *err)
{
    const catalog_case *c = arg;
    shelf_read_options ro = read_options(c);
    shelf_reader *r = NULL;
    shelf_status s = shelf_reader_open(path_of(c->name), &ro, &r, err);
    shelf_product p;
    while (s == SHELF_OK)
        s = shelf_reader_next(r, &p, err);
    shelf_reader_close(r);
    return s == SHELF_END ? SHELF_OK : s;
}

static void write_gz(const char *name, const char *text)
{
    gzFile g = gzopen(path_of(name), "wb");
    assert_non_null(g);
    assert_int_equal(gzputs(g, text), (int)strlen(text));
    assert_int_equal(gzclose(g), Z_OK);
}

static void reading_catalogs(void **state)
{
    (void)state;
    static const catalog_case gz = {.name = "c.jsonl.gz"}, long_row = {.name = "long.csv"};
    write_gz(gz.name, catalogs[2].text);
    fail_both_ways("catalog_load c.jsonl.gz", load_catalog, &gz);
    fail_both_ways("reader c.jsonl.gz", stream_catalog, &gz);
    /* a row longer than the line reader's chunk (256 KiB) */
    FILE *f = fopen(path_of(long_row.name), "w");
    assert_non_null(f);
    fprintf(f, "id,title,description,category\n1,Mug,");
    for (int i = 0; i < 40000; i++)
        fputs("glazed ", f);
    fprintf(f, ",Home\n2,Shirt,cotton,Apparel\n");
    assert_int_equal(fclose(f), 0);
    fail_both_ways("catalog_load long.csv", load_catalog, &long_row);
    for (size_t i = 0; i < CATALOGS; i++) {
        write_bytes(catalogs[i].name, catalogs[i].text, strlen(catalogs[i].text));
        char what[64];
        snprintf(what, sizeof what, "catalog_load %s", catalogs[i].name);
        fail_both_ways(what, load_catalog, &catalogs[i]);
        snprintf(what, sizeof what, "reader %s", catalogs[i].name);
        fail_both_ways(what, stream_catalog, &catalogs[i]);
    }
}

static shelf_status evaluate(const void *arg, shelf_error *err)
{
    (void)arg;
    static const char *const truth[] = {"A > B", "A > C", "D", "A > B"};
    static const char *const ranked[][2] = {
        {"A > B", "D"}, {"A > B", "A > C"}, {"D", "A > C"}, {"E", "A > B"}};
    shelf_eval *e = NULL;
    shelf_status s = shelf_eval_new(" > ", &e, err);
    for (int i = 0; i < 4 && s == SHELF_OK; i++) {
        s = shelf_eval_add(e, truth[i], ranked[i], 2);
        if (s == SHELF_OK)
            s = shelf_eval_add_backoff(e, truth[i], i == 3 ? "A" : ranked[i][0], 0.5f);
        if (s != SHELF_OK) { /* these two take no shelf_error */
            err->code = s;
            snprintf(err->message, sizeof err->message, "shelf_eval_add: %s",
                     shelf_strerror(s));
        }
    }
    char *json = NULL, *text = NULL;
    if (s == SHELF_OK) {
        shelf_eval_summary sum;
        shelf_eval_summarize(e, &sum);
        long n;
        double acc, f1;
        shelf_eval_level(e, 2, &n, &acc, &f1);
        json = shelf_eval_json(e, 1, 5);
        text = shelf_eval_text(e, 1, 5);
        if (!json || !text)
            s = err_set_enomem(err, "shelf_eval_json or shelf_eval_text: NULL");
    }
    free(json);
    free(text);
    shelf_eval_free(e);
    return s;
}

static shelf_status save_model(const void *arg, shelf_error *err)
{
    return shelf_model_save(models[*(const int *)arg], path_of("saved.shelf"), err);
}

static shelf_status describe_model(const void *arg, shelf_error *err)
{
    char *d = shelf_model_describe(models[*(const int *)arg], 10);
    free(d);
    return d ? SHELF_OK : err_set_enomem(err, "shelf_model_describe: NULL");
}

static void evaluating_and_saving(void **state)
{
    (void)state;
    fail_both_ways("eval", evaluate, NULL);
    for (int m = 0; m < MODELS; m++) {
        char what[64];
        snprintf(what, sizeof what, "save %s", model_names[m]);
        fail_both_ways(what, save_model, &m);
        snprintf(what, sizeof what, "describe %s", model_names[m]);
        fail_both_ways(what, describe_model, &m);
    }
}

/* ---- f. training --------------------------------------------------------------------- */

/* Other choices of the training loops than the models of setup make. */
enum { PLAIN, OVERSAMPLE, WEIGHTED, AUGMENTED, NAMED, ADJUSTED, AUTOTUNED, CONTINUED };

typedef struct train_case {
    int which, variant;
    const char *name;
    const char *path; /* NULL: the catalog of setup, with itself for validation */
    shelf_catalog *train, *valid;
} train_case;

static shelf_status train_model(const void *arg, shelf_error *err)
{
    const train_case *t = arg;
    shelf_read_options ro = train_read_options(t->which);
    if (t->variant == NAMED) {
        ro.text_columns = "title";
        ro.label_column = "category";
        ro.id_column = "id";
        ro.label_sep = " > ";
        ro.image_column = "image";
    }
    shelf_train_options o = train_options(t->which, &ro);
    o.epochs = 1;
    if (t->variant == NAMED)
        o.train_path = t->path;
    switch (t->variant) {
    case OVERSAMPLE:
        o.balance = SHELF_BALANCE_OVERSAMPLE;
        o.label_smoothing = 0.1f;
        o.threads = 2;
        break;
    case WEIGHTED:
        o.balance = SHELF_BALANCE_WEIGHT;
        break;
    case ADJUSTED:
        o.balance = SHELF_BALANCE_ADJUST;
        break;
    case CONTINUED: /* the bag trained in setup, on examples with a new label */
        o.init = models[BAG];
        break;
    case AUGMENTED:
        o.augment = -1;
        o.optimizer = SHELF_OPTIMIZER_SGD;
        o.schedule = SHELF_SCHEDULE_COSINE;
        o.threads = 2;
        break;
    }
    shelf_model *m = NULL;
    shelf_status s;
    if (t->variant == AUTOTUNED) { /* two bags, always made an ensemble */
        shelf_autotune_options ao = {0, 2, SHELF_AUTOTUNE_ACCURACY, -2, NULL, NULL};
        double score;
        s = shelf_autotune(t->train, t->valid, &o, &ao, &m, &score, err);
    } else {
        s = shelf_train(t->train, t->valid, &o, &m, err);
    }
    shelf_model_free(m);
    return s;
}

static void training(void **state)
{
    (void)state;
    char gaps[256];
    snprintf(gaps, sizeof gaps, "%s", path_of("gaps.csv"));
    FILE *f = fopen(gaps, "w");
    assert_non_null(f);
    fprintf(f, "id,title,image,category\n");
    for (int i = 0; i < 2 * N; i++)
        fprintf(f, "%d,%s thing,%d.webp,%s\n", i, colours[i % 3], i % N, colours[i % 3]);
    fprintf(f, "%d,,,red\n", 2 * N);
    assert_int_equal(fclose(f), 0);
    char examples[256];
    snprintf(examples, sizeof examples, "%s", path_of("examples.csv"));
    train_case cases[] = {
        {BAG, PLAIN, "train bag", NULL, NULL, NULL},
        {BAG, OVERSAMPLE, "train bag oversampled", NULL, NULL, NULL},
        {BAG_DIM, WEIGHTED, "train bag_dim weighted", NULL, NULL, NULL},
        {BAG, ADJUSTED, "train bag logit-adjusted", NULL, NULL, NULL},
        {BAG, AUTOTUNED, "autotune to an ensemble", NULL, NULL, NULL},
        /* enough training products to rank the bags out of fold */
        {BAG, AUTOTUNED, "autotune out of fold", gaps, NULL, NULL},
        {GRU, PLAIN, "train gru", NULL, NULL, NULL},
        {TRANSFORMER, PLAIN, "train transformer", NULL, NULL, NULL},
        {IMAGE, PLAIN, "train image", NULL, NULL, NULL},
        {IMAGE, AUGMENTED, "train image augmented", NULL, NULL, NULL},
        {FUSED, PLAIN, "train fused", NULL, NULL, NULL},
        /* enough products to hold some out for the fusion head, one with neither a text
         * nor an image; every column named, which the model keeps */
        {FUSED, NAMED, "train fused without valid", gaps, NULL, NULL},
        {BAG, NAMED, "train bag without valid", gaps, NULL, NULL},
        {BAG, CONTINUED, "train --init bag", examples, NULL, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        train_case *t = &cases[i];
        shelf_read_options ro = train_read_options(t->which);
        assert_int_equal(shelf_catalog_load(t->path ? t->path : csv, &ro, &t->train, NULL),
                         SHELF_OK);
        if (!t->path || t->variant == AUTOTUNED)
            assert_int_equal(shelf_catalog_load(csv, &ro, &t->valid, NULL), SHELF_OK);
        fail_both_ways(t->name, train_model, t);
        shelf_catalog_free(t->train);
        shelf_catalog_free(t->valid);
    }
}

/* ---- cJSON's allocations failing too ------------------------------------------------- */

/* What reads or writes JSON, with cJSON allocating through mem_alloc: whatever cJSON
 * cannot allocate must leak nothing and never crash; out of memory in a parse is allowed
 * to read as invalid JSON (see json_allocs_counted). Last: a failure leaves the hooks. */
static void json_failing(void **state)
{
    cJSON_Hooks hooks = {mem_alloc, mem_free};
    cJSON_InitHooks(&hooks);
    json_allocs_counted = 1;
    serving_a_request(state);
    for (size_t i = 0; i < CATALOGS; i++)
        if (strstr(catalogs[i].name, ".json")) {
            char what[64];
            snprintf(what, sizeof what, "catalog_load %s", catalogs[i].name);
            fail_both_ways(what, load_catalog, &catalogs[i]);
        }
    fail_both_ways("eval", evaluate, NULL);
    json_allocs_counted = 0;
    cJSON_InitHooks(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(loading_a_model),
        cmocka_unit_test(predicting_texts),
        cmocka_unit_test(predicting_images),
        cmocka_unit_test(serving_a_request),
        cmocka_unit_test(reading_catalogs),
        cmocka_unit_test(evaluating_and_saving),
        cmocka_unit_test(training),
        cmocka_unit_test(json_failing),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
