/* shelf index: a catalog's embeddings, ids and labels in one index file (shelf_index), for
 * shelf similar, shelf duplicates and the server's /v1/similar. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "embedding.h"
#include "options.h"

typedef struct index_sink {
    shelf_index *x;
    int predicted;  /* -1 until the first batch: the catalog's labels, or the model's */
    const shelf_model *m;
    int *labels, *counts; /* BATCH: the model's best label per product */
    float *probs;
    const char **names;   /* BATCH: the labels of the kept products */
} index_sink;

static int add_batch(embedding *e, const batch *b, size_t n)
{
    index_sink *s = e->sink_arg;
    shelf_error err = {0};
    if (s->predicted < 0) { /* a catalog with labels gives them */
        s->predicted = 1;
        for (size_t i = 0; i < b->n && s->predicted; i++)
            s->predicted = !b->p[i].label[0];
    }
    if (s->predicted) {
        shelf_predict_stats ps;
        if (shelf_predictor_run(e->pred, e->data, b->p, b->n, 1, s->labels, s->probs,
                                s->counts, NULL, &ps, &err) != SHELF_OK) {
            note(e->pg, "%s", err.message);
            return -1;
        }
    }
    for (size_t i = 0; i < n; i++) {
        size_t at = e->kept[i];
        s->names[i] = !s->predicted ? b->p[at].label
                      : s->counts[at] > 0 ? shelf_model_label(s->m, s->labels[at]) : "";
    }
    if (shelf_index_add(s->x, e->ids, s->names, s->predicted, e->vecs, n, &err) == SHELF_OK)
        return 0;
    note(e->pg, "%s", err.message);
    return -1;
}

typedef struct index_args {
    const char *model, *data, *out, *type;
    int threads;
    read_flags rf;
} index_args;

static const shelf_option index_opts[] = {
    OPT_STRING(index_args, "model", model, NULL, "model file (required)"),
    OPT_STRING(index_args, "data", data, "standard input",
               "catalog to index, or - for standard input"),
    OPT_STRING(index_args, "out", out, NULL, "index file to write (required)"),
    OPT_STRING(index_args, "index-type", type, "auto",
               "exact (every product, by matrix products), hnsw (an approximate graph: "
               "large catalogs), or auto: exact below 50,000 products"),
    OPT_INT(index_args, "threads", threads, 0, "all cores", 0, 64, "threads"),
};
static const shelf_option file_opts[] = {READ_FILE_OPTS(index_args)};
static const shelf_option column_opts[] = {
    COLUMN_OPTS(index_args, "the model's", "the model's", "the model's"),
    OPT_STRING(index_args, "label", rf.label, "the model's",
               "label column: the catalog's labels go into the index; without one, the "
               "model's best guesses")};

static void usage(void)
{
    opt_usage("index", "--model MODEL --data CATALOG --out CATALOG.idx [options]");
    opt_section("options", OPT_TABLE(index_opts, NULL));
    opt_section("how the file is written", OPT_TABLE(file_opts, NULL));
    opt_section("its columns: the model's (as given at training), unless these name others",
                OPT_TABLE(column_opts, NULL));
}

static int index_run(const index_args *a, const shelf_model *m, shelf_index_type type)
{
    shelf_error err = {0};
    index_sink s = {.predicted = -1, .m = m};
    int status = 1;
    s.labels = malloc(BATCH * sizeof *s.labels);
    s.counts = malloc(BATCH * sizeof *s.counts);
    s.probs = malloc(BATCH * sizeof *s.probs);
    s.names = malloc(BATCH * sizeof *s.names);
    if (!s.labels || !s.counts || !s.probs || !s.names) {
        fprintf(stderr, "shelf index: out of memory\n");
        goto done;
    }
    if (shelf_index_new(m, &s.x, &err) != SHELF_OK) {
        fprintf(stderr, "shelf index: %s\n", err.message);
        goto done;
    }
    if ((status = embedding_run("index", m, &a->rf, a->data, a->threads, add_batch, &s)))
        goto done;
    status = 1;
    if (shelf_index_size(s.x) == 0) {
        fprintf(stderr, "shelf index: %s: no products to index\n", a->data);
        goto done;
    }
    if (shelf_index_build(s.x, type, a->threads, &err) != SHELF_OK ||
        shelf_index_save(s.x, a->out, &err) != SHELF_OK) {
        fprintf(stderr, "shelf index: %s\n", err.message);
        goto done;
    }
    fprintf(stderr, "shelf index: %zu products, %zu dimensions, %s search, %s labels -> %s\n",
            shelf_index_size(s.x), shelf_index_dim(s.x),
            shelf_index_is_approximate(s.x) ? "approximate (HNSW)" : "exact",
            shelf_index_labels_predicted(s.x) ? "the model's" : "the catalog's", a->out);
    status = 0;
done:
    free(s.labels);
    free(s.counts);
    free(s.probs);
    free((void *)s.names);
    shelf_index_free(s.x);
    return status;
}

int cmd_index(int argc, char **argv)
{
    index_args a = {0};
    const opt_table t[] = {OPT_TABLE(index_opts, &a), OPT_TABLE(file_opts, &a),
                           OPT_TABLE(column_opts, &a)};
    opt_defaults(t, 3);
    int r = opt_parse("index", argc, argv, t, 3, NULL);
    if (r)
        return r > 0 ? (usage(), 0) : 2;
    shelf_error err = {0};
    shelf_index_type type = SHELF_INDEX_AUTO;
    if (!a.model || !a.out) {
        fprintf(stderr, "shelf index: needs --model and --out\n");
        return 2;
    }
    if (a.type && shelf_index_type_parse(a.type, &type, &err) != SHELF_OK) {
        fprintf(stderr, "shelf index: --index-type: %s\n", err.message);
        return 2;
    }
    if (read_flags_image_is_file(&a.rf, "index"))
        return 2;
    if (!a.data)
        a.data = "-";
    const char *inputs[] = {a.data, a.model}, *names[] = {"--data", "--model"};
    if (out_is_an_input("index", a.out, inputs, names, 2))
        return 2;
    if (shelf_outfile_check(a.out, &err) != SHELF_OK) { /* before any work */
        fprintf(stderr, "shelf index: --out %s\n", err.message);
        return 1;
    }
    shelf_model *m = NULL;
    if (shelf_model_load(a.model, &m, &err) != SHELF_OK) {
        fprintf(stderr, "shelf index: %s\n", err.message);
        return 1;
    }
    int status = index_run(&a, m, type);
    shelf_model_free(m);
    return status;
}
