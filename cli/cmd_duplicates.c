/* shelf duplicates: groups of near-duplicate listings, one JSON line per group. With --index,
 * every product's nearest neighbours in an index of a model's embeddings at a cosine of at
 * least --threshold; with --data, a catalog's listings of the same product found without a
 * model (shelf_find_duplicates: fingerprints, then their photos or titles compared). Pairs
 * are joined into groups (a pair of products, and their other near ones):
 * {"ids":["p1","p9"],"labels":["A > B","A > C"],"score":0.981,"labels_differ":true}, the
 * lowest score that joined the group; labels_differ flags a product filed under two
 * categories, a catalog error worth fixing. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"

enum { QUERIES = 4096 }; /* products searched at a time */

/* Union-find over the products, with the lowest score that joined each group. */
static size_t root(size_t *up, size_t i)
{
    while (up[i] != i)
        i = up[i] = up[up[i]];
    return i;
}

typedef struct dup_args {
    const char *index, *data, *out;
    float threshold, candidate;
    int k, threads, exact;
    read_flags rf;
} dup_args;

static const shelf_option dup_opts[] = {
    OPT_STRING(dup_args, "index", index, NULL,
               "index file (shelf index): its embeddings' cosine decides"),
    OPT_STRING(dup_args, "data", data, NULL,
               "catalog, or - for standard input: listings of the same product whatever a "
               "seller changed (title words, case, a typo; a photo re-encoded, mirrored, "
               "cut by a tenth), found without a model"),
    OPT_FLOAT(dup_args, "threshold", threshold, -1, "0.95 with --index, 0.999 with --data",
              0, 1,
              "--index: the least cosine of two products' vectors; --data: the least "
              "correlation of their photos at their best alignment (of their titles' "
              "fingerprints when one has no photo)"),
    OPT_FLOAT(dup_args, "candidate", candidate, SHELF_DUPLICATE_CANDIDATE, NULL, 0, 1,
              "--data: the least cosine of two fingerprints for their photos to be compared"),
    OPT_INT(dup_args, "k", k, 10, NULL, 1, 1000, "neighbours looked at per product"),
    OPT_FLAG(dup_args, "exact", exact,
             "compare with every product even when the index has an approximate graph"),
    OPT_STRING(dup_args, "out", out, "standard output",
               "file to write; written whole or not at all"),
    OPT_INT(dup_args, "threads", threads, 0, "all cores", 0, 64, "threads"),
};

static const shelf_option file_opts[] = {READ_FILE_OPTS(dup_args)};
static const shelf_option column_opts[] = {
    COLUMN_OPTS(dup_args, "title, name, description", "id", "image"),
    OPT_STRING(dup_args, "label", rf.label, "category", "label column (optional)"),
};

static void usage(void)
{
    opt_usage("duplicates", "--index CATALOG.idx | --data CATALOG [--threshold T] [options]");
    opt_section("options", OPT_TABLE(dup_opts, NULL));
    opt_section("--data: how the file is written (--skip-bad also leaves unreadable photos "
                "out, counted)", OPT_TABLE(file_opts, NULL));
    opt_section("--data: its columns", OPT_TABLE(column_opts, NULL));
}

/* Where a group's members come from: an index or a catalog. */
typedef struct listing {
    const shelf_index *x;
    const shelf_catalog *c;
} listing;

static size_t listing_size(const listing *l)
{
    return l->x ? shelf_index_size(l->x) : shelf_catalog_size(l->c);
}

static const char *listing_id(const listing *l, size_t i)
{
    return l->x ? shelf_index_id(l->x, i) : shelf_catalog_get(l->c, i)->id;
}

static const char *listing_label(const listing *l, size_t i)
{
    const char *s = l->x ? shelf_index_label(l->x, i) : shelf_catalog_get(l->c, i)->label;
    return s ? s : "";
}

/* Products a and b into one group, which keeps the lowest score that joined it. */
static void join(size_t *up, float *low, size_t a, size_t b, float s)
{
    size_t ra = root(up, a), rb = root(up, b);
    if (rb < ra) { /* the group's first product is its root */
        size_t t = ra;
        ra = rb, rb = t;
    }
    float l = fminf(s, fminf(low[ra], low[rb]));
    if (ra != rb)
        up[rb] = ra;
    low[ra] = l;
}

/* Joins every product to its neighbours at the threshold or above. 0, or 1 after an error. */
static int join_pairs(const dup_args *a, const shelf_index *x, size_t *up, float *low)
{
    size_t n = shelf_index_size(x);
    int k = a->k < (int)n - 1 ? a->k : (int)n - 1;
    long *rows = malloc(QUERIES * (size_t)k * sizeof *rows), *skip = malloc(QUERIES * sizeof *skip);
    float *scores = malloc(QUERIES * (size_t)k * sizeof *scores);
    int status = rows && skip && scores ? 0 : 1;
    if (status)
        fprintf(stderr, "shelf duplicates: out of memory\n");
    shelf_error err = {0};
    for (size_t q0 = 0; q0 < n && !status; q0 += QUERIES) {
        size_t c = n - q0 < QUERIES ? n - q0 : QUERIES;
        for (size_t i = 0; i < c; i++) /* each product's neighbours but itself */
            skip[i] = (long)(q0 + i);
        /* the index's vectors lie one after another: a block of them is the queries */
        if (shelf_index_search(x, shelf_index_vector(x, q0), c, k, skip, a->exact, a->threads, rows, scores, &err) !=
            SHELF_OK) {
            fprintf(stderr, "shelf duplicates: %s\n", err.message);
            status = 1;
            break;
        }
        for (size_t i = 0; i < c; i++)
            for (int r = 0; r < k; r++) {
                long j = rows[i * (size_t)k + (size_t)r];
                float s = scores[i * (size_t)k + (size_t)r];
                if (j < 0 || s < a->threshold)
                    break;
                join(up, low, q0 + i, (size_t)j, s);
            }
    }
    free(rows);
    free(skip);
    free(scores);
    return status;
}

/* The groups, in the order of their first product. Counts groups and mixed ones. */
static int write_groups(FILE *out, const listing *x, size_t *up, const float *low,
                        long *groups, long *mixed, long *members)
{
    size_t n = listing_size(x);
    size_t *next = malloc(n * sizeof *next), *last = malloc(n * sizeof *last);
    if (!next || !last) {
        free(next);
        free(last);
        return -1;
    }
    for (size_t i = 0; i < n; i++) /* each root's members as a list, in product order */
        next[i] = last[i] = n;
    for (size_t i = 0; i < n; i++) {
        size_t r = root(up, i);
        if (r != i)
            next[last[r] == n ? r : last[r]] = i, last[r] = i;
    }
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        if (up[i] != i || next[i] == n)
            continue;
        cJSON *o = cJSON_CreateObject(), *ids = cJSON_CreateArray(), *labels = cJSON_CreateArray();
        int differ = 0, size = 0;
        for (size_t m = i; m != n; m = next[m], size++) {
            cJSON_AddItemToArray(ids, cJSON_CreateString(listing_id(x, m)));
            cJSON_AddItemToArray(labels, cJSON_CreateString(listing_label(x, m)));
            differ |= strcmp(listing_label(x, m), listing_label(x, i)) != 0;
        }
        cJSON_AddItemToObject(o, "ids", ids);
        cJSON_AddItemToObject(o, "labels", labels);
        cJSON_AddNumberToObject(o, "score", round((double)low[i] * 1e6) / 1e6);
        cJSON_AddBoolToObject(o, "labels_differ", differ);
        char *text = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        if (!text) {
            rc = -1;
            break;
        }
        fprintf(out, "%s\n", text);
        cJSON_free(text);
        (*groups)++;
        *mixed += differ;
        *members += size;
    }
    free(next);
    free(last);
    return rc;
}

/* --data: the catalog's verified pairs, joined. 0, or 1 after an error. */
static int join_found(const dup_args *a, const shelf_catalog *c, size_t *up, float *low)
{
    shelf_duplicate_options o;
    shelf_duplicate_options_default(&o);
    o.threshold = a->threshold;
    o.candidate = a->candidate;
    o.k = a->k;
    o.threads = a->threads;
    o.skip_bad = a->rf.skip_bad;
    shelf_duplicate_pairs found;
    shelf_error err = {0};
    if (shelf_find_duplicates(c, &o, &found, &err) != SHELF_OK) {
        fprintf(stderr, "shelf duplicates: %s\n", err.message);
        return 1;
    }
    for (size_t i = 0; i < found.n; i++)
        join(up, low, found.pairs[i].a, found.pairs[i].b, found.pairs[i].score);
    if (found.unread_photos)
        fprintf(stderr, "%s: %ld photos could not be read and were left out (compared by "
                "title), the first: %s\n", shelf_catalog_path(c), found.unread_photos,
                found.first_unread);
    shelf_duplicate_pairs_free(&found);
    return 0;
}

int cmd_duplicates(int argc, char **argv)
{
    dup_args a = {0};
    const opt_table t[] = {OPT_TABLE(dup_opts, &a), OPT_TABLE(file_opts, &a),
                           OPT_TABLE(column_opts, &a)};
    opt_defaults(t, 3);
    int r = opt_parse("duplicates", argc, argv, t, 3, NULL);
    if (r)
        return r > 0 ? (usage(), 0) : 2;
    if (!a.index == !a.data) {
        fprintf(stderr, "shelf duplicates: needs --index (a model's embeddings) or --data (a "
                        "catalog, without a model), not both\n");
        return 2;
    }
    if (a.data && a.exact) {
        fprintf(stderr, "shelf duplicates: --exact searches an index's vectors exactly; with "
                        "--data, search is exact below 50,000 products\n");
        return 2;
    }
    if (a.threshold < 0)
        a.threshold = a.index ? 0.95f : SHELF_DUPLICATE_THRESHOLD;
    const char *inputs[] = {a.index ? a.index : a.data}, *names[] = {a.index ? "--index" : "--data"};
    if (out_is_an_input("duplicates", a.out, inputs, names, 1))
        return 2;
    shelf_read_options ro;
    if (a.data && read_flags_apply(&a.rf, NULL, &ro))
        return 2;
    shelf_error err = {0};
    if (a.out && shelf_outfile_check(a.out, &err) != SHELF_OK) {
        fprintf(stderr, "shelf duplicates: --out %s\n", err.message);
        return 1;
    }
    shelf_index *x = NULL;
    shelf_catalog *c = NULL;
    shelf_outfile *of = NULL;
    size_t *up = NULL;
    float *low = NULL;
    int status = 1;
    if ((a.index ? shelf_index_load(a.index, NULL, &x, &err)
                 : shelf_catalog_load(a.data, &ro, &c, &err)) != SHELF_OK ||
        (a.out && shelf_outfile_open(a.out, &of, &err) != SHELF_OK)) {
        fprintf(stderr, "shelf duplicates: %s\n", err.message);
        goto done;
    }
    if (c) {
        shelf_read_stats st;
        shelf_catalog_stats(c, &st);
        report_read_stats(a.data, &st);
    }
    const listing l = {x, c};
    size_t n = listing_size(&l);
    up = malloc((n ? n : 1) * sizeof *up);
    low = malloc((n ? n : 1) * sizeof *low);
    if (!up || !low) {
        fprintf(stderr, "shelf duplicates: out of memory\n");
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        up[i] = i, low[i] = 1;
    if (n > 1 && (x ? join_pairs(&a, x, up, low) : join_found(&a, c, up, low)))
        goto done;
    long groups = 0, mixed = 0, members = 0;
    FILE *out = of ? shelf_outfile_stream(of) : stdout;
    if (write_groups(out, &l, up, low, &groups, &mixed, &members)) {
        fprintf(stderr, "shelf duplicates: out of memory\n");
        goto done;
    }
    shelf_outfile *o = of;
    of = NULL;
    if ((o ? shelf_outfile_commit(o, &err) : shelf_outfile_flush(stdout, "standard output",
                                                                 &err)) != SHELF_OK) {
        fprintf(stderr, "shelf duplicates: %s\n", err.message);
        goto done;
    }
    fprintf(stderr, "shelf duplicates: %ld groups of near-duplicates (%ld of the %zu products) "
            "at %s of %g or more; %ld of them under different labels%s\n", groups, members, n,
            x ? "a cosine" : "a similarity", (double)a.threshold, mixed,
            x && shelf_index_labels_predicted(x) ? " (the model's guesses)" : "");
    status = 0;
done:
    shelf_outfile_discard(of);
    free(up);
    free(low);
    shelf_index_free(x);
    shelf_catalog_free(c);
    return status;
}
