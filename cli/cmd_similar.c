/* shelf similar: the nearest products of an index to each product of a catalog (embedded
 * by the index's model) or to a product of the index named by its id, one JSON line each:
 * {"id":"q1","neighbours":[{"id":"p7","score":0.93,"label":"A > B"},...]}. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "embedding.h"
#include "options.h"

/* A score as written: 6 decimals, enough to rank and short to read. */
static double rounded(float s) { return round((double)s * 1e6) / 1e6; }

/* One query's line; neighbours rows[0..k) (-1: none). 0, or -1 out of memory. */
static int write_neighbours(FILE *out, const shelf_index *x, const char *id, const long *rows,
                            const float *scores, int k, const char *error)
{
    cJSON *o = cJSON_CreateObject(), *list = cJSON_CreateArray();
    int bad = !o || !list || !cJSON_AddStringToObject(o, "id", id ? id : "");
    if (!bad)
        cJSON_AddItemToObject(o, "neighbours", list);
    else
        cJSON_Delete(list);
    for (int i = 0; i < k && !bad && !error; i++) {
        if (rows[i] < 0)
            break;
        cJSON *n = cJSON_CreateObject();
        bad = !n || !cJSON_AddStringToObject(n, "id", shelf_index_id(x, (size_t)rows[i])) ||
              !cJSON_AddNumberToObject(n, "score", rounded(scores[i])) ||
              !cJSON_AddStringToObject(n, "label", shelf_index_label(x, (size_t)rows[i]));
        if (n)
            cJSON_AddItemToArray(list, n);
    }
    if (error && !bad)
        bad = !cJSON_AddStringToObject(o, "error", error);
    char *text = bad ? NULL : cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!text)
        return -1;
    fputs(text, out);
    fputc('\n', out);
    cJSON_free(text);
    return 0;
}

typedef struct similar_job {
    const shelf_index *x;
    int k, exact, threads;
    long *rows;
    float *scores;
    FILE *out;
    const char *out_name;
    long answered;
} similar_job;

/* A batch of queries: searched at once, written in input order. */
static int search_batch(embedding *e, const batch *b, size_t n)
{
    (void)b;
    similar_job *j = e->sink_arg;
    shelf_error err = {0};
    if (shelf_index_search(j->x, e->vecs, n, j->k, NULL, j->exact, j->threads, j->rows,
                           j->scores, &err) != SHELF_OK) {
        note(e->pg, "%s", err.message);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        size_t at = i * (size_t)j->k;
        const char *why = e->ok[e->kept[i]] ? NULL : "no word the model knows: nothing to "
                                                      "compare";
        if (write_neighbours(j->out, j->x, e->ids[i], j->rows + at, j->scores + at, j->k,
                             why)) {
            note(e->pg, "out of memory");
            return -1;
        }
    }
    j->answered += (long)n;
    if (shelf_outfile_flush(j->out, j->out_name, &err) != SHELF_OK) {
        note(e->pg, "%s", err.message);
        return -1;
    }
    return 0;
}

typedef struct similar_args {
    const char *index, *model, *data, *id, *out;
    int k, threads, exact;
    read_flags rf;
} similar_args;

static const shelf_option similar_opts[] = {
    OPT_STRING(similar_args, "index", index, NULL, "index file (shelf index; required)"),
    OPT_STRING(similar_args, "model", model, NULL,
               "the model that built the index, to embed --data's products"),
    OPT_STRING(similar_args, "data", data, NULL,
               "catalog of products to find neighbours of, or - for standard input"),
    OPT_STRING(similar_args, "id", id, NULL, "or: the id of a product of the index"),
    OPT_INT(similar_args, "k", k, 10, NULL, 1, 1000, "neighbours per product"),
    OPT_FLAG(similar_args, "exact", exact,
             "compare with every product even when the index has an approximate graph"),
    OPT_STRING(similar_args, "out", out, "standard output",
               "file to write; written whole or not at all"),
    OPT_INT(similar_args, "threads", threads, 0, "all cores", 0, 64, "threads"),
};
static const shelf_option file_opts[] = {READ_FILE_OPTS(similar_args)};
static const shelf_option column_opts[] = {
    COLUMN_OPTS(similar_args, "the model's", "the model's", "the model's")};

static void usage(void)
{
    opt_usage("similar", "--index CATALOG.idx (--model MODEL --data FILE | --id ID) "
              "[options]");
    opt_section("options", OPT_TABLE(similar_opts, NULL));
    opt_section("how the file is written", OPT_TABLE(file_opts, NULL));
    opt_section("its columns: the model's (as given at training), unless these name others",
                OPT_TABLE(column_opts, NULL));
}

/* --id: the neighbours of one product of the index. */
static int similar_to_id(similar_job *j, const char *id)
{
    long row = shelf_index_find(j->x, id);
    if (row < 0) {
        fprintf(stderr, "shelf similar: --id %s: no product of the index has this id\n", id);
        return 1;
    }
    shelf_error err = {0};
    if ((size_t)j->k >= shelf_index_size(j->x)) {
        fprintf(stderr, "shelf similar: --k %d: the index holds %zu products, %zu besides "
                "this one\n", j->k, shelf_index_size(j->x), shelf_index_size(j->x) - 1);
        return 1;
    }
    if (shelf_index_search(j->x, shelf_index_vector(j->x, (size_t)row), 1, j->k, &row,
                           j->exact, j->threads, j->rows, j->scores, &err) != SHELF_OK) {
        fprintf(stderr, "shelf similar: %s\n", err.message);
        return 1;
    }
    if (write_neighbours(j->out, j->x, id, j->rows, j->scores, j->k, NULL)) {
        fprintf(stderr, "shelf similar: out of memory\n");
        return 1;
    }
    return 0;
}

/* --data: the neighbours of each of a catalog's products, embedded by the model. */
static int similar_to_catalog(similar_job *j, const similar_args *a, const shelf_model *m)
{
    return embedding_run("similar", m, &a->rf, a->data, a->threads, search_batch, j);
}

int cmd_similar(int argc, char **argv)
{
    similar_args a = {0};
    const opt_table t[] = {OPT_TABLE(similar_opts, &a), OPT_TABLE(file_opts, &a),
                           OPT_TABLE(column_opts, &a)};
    opt_defaults(t, 3);
    int r = opt_parse("similar", argc, argv, t, 3, NULL);
    if (r)
        return r > 0 ? (usage(), 0) : 2;
    if (!a.index || !a.id == !a.data || (a.data && !a.model)) {
        fprintf(stderr, "shelf similar: needs --index, and --model with --data, or --id\n");
        return 2;
    }
    const char *inputs[] = {a.data ? a.data : "", a.model ? a.model : "", a.index};
    const char *names[] = {"--data", "--model", "--index"};
    if (out_is_an_input("similar", a.out, inputs, names, 3))
        return 2;
    shelf_error err = {0};
    if (a.out && shelf_outfile_check(a.out, &err) != SHELF_OK) { /* before any work */
        fprintf(stderr, "shelf similar: --out %s\n", err.message);
        return 1;
    }
    shelf_model *m = NULL;
    shelf_index *x = NULL;
    shelf_outfile *of = NULL;
    similar_job j = {.k = a.k, .exact = a.exact, .threads = a.threads};
    int status = 1;
    if ((a.model && shelf_model_load(a.model, &m, &err) != SHELF_OK) ||
        shelf_index_load(a.index, m, &x, &err) != SHELF_OK ||
        (a.out && shelf_outfile_open(a.out, &of, &err) != SHELF_OK)) {
        fprintf(stderr, "shelf similar: %s\n", err.message);
        goto done;
    }
    j.x = x;
    if ((size_t)a.k > shelf_index_size(x)) {
        fprintf(stderr, "shelf similar: --k %d: the index holds %zu products\n", a.k,
                shelf_index_size(x));
        goto done;
    }
    j.rows = malloc(BATCH * (size_t)a.k * sizeof *j.rows);
    j.scores = malloc(BATCH * (size_t)a.k * sizeof *j.scores);
    if (!j.rows || !j.scores) {
        fprintf(stderr, "shelf similar: out of memory\n");
        goto done;
    }
    j.out = of ? shelf_outfile_stream(of) : stdout;
    j.out_name = a.out ? a.out : "standard output";
    status = a.id ? similar_to_id(&j, a.id) : similar_to_catalog(&j, &a, m);
    if (status == 0) {
        shelf_outfile *o = of;
        of = NULL;
        if ((o ? shelf_outfile_commit(o, &err) : shelf_outfile_flush(stdout, j.out_name, &err))
            != SHELF_OK) {
            fprintf(stderr, "shelf similar: %s\n", err.message);
            status = 1;
        }
    }
done:
    shelf_outfile_discard(of);
    free(j.rows);
    free(j.scores);
    shelf_index_free(x);
    shelf_model_free(m);
    return status;
}
