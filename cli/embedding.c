#include "embedding.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int embedding_init(embedding *e, const shelf_model *m, int threads, const char *data,
                   int skip_bad, progress *pg)
{
    *e = (embedding){.data = data, .dim = shelf_embedding_dim(m), .skip_bad = skip_bad,
                     .pg = pg};
    e->vecs = malloc(BATCH * e->dim * sizeof *e->vecs);
    e->ok = malloc(BATCH);
    e->ids = malloc(BATCH * sizeof *e->ids);
    e->kept = malloc(BATCH * sizeof *e->kept);
    if (!e->vecs || !e->ok || !e->ids || !e->kept) {
        fprintf(stderr, "shelf %s: out of memory\n", pg->cmd);
        return -1;
    }
    shelf_error err = {0};
    if (shelf_predictor_new(m, threads, 0, &e->pred, &err) != SHELF_OK) {
        fprintf(stderr, "shelf %s: %s\n", pg->cmd, err.message);
        return -1;
    }
    return 0;
}

void embedding_free(embedding *e)
{
    free(e->vecs);
    free(e->ok);
    free((void *)e->ids);
    free(e->kept);
    shelf_predictor_free(e->pred);
    e->vecs = NULL;
    e->ok = NULL;
    e->ids = NULL;
    e->kept = NULL;
    e->pred = NULL;
}

int embedding_batch(void *arg, const batch *b)
{
    embedding *e = arg;
    shelf_error err = {0};
    shelf_predict_stats ps;
    if (shelf_predictor_embed(e->pred, e->data, b->p, b->n, e->vecs, e->ok, &ps, &err)) {
        note(e->pg, "%s", err.message);
        return -1;
    }
    if (ps.bad_images && !e->skip_bad) {
        note(e->pg, "%s (--skip-bad skips such products)", ps.first_bad);
        return -1;
    }
    if (ps.bad_images && !e->skipped)
        note(e->pg, "skipping products with a bad image; the first: %s", ps.first_bad);
    e->skipped += ps.bad_images;
    size_t n = 0; /* the products kept, their vectors moved up over the skipped */
    for (size_t i = 0; i < b->n; i++) {
        if (!e->ok[i] && ps.bad_images && shelf_predictor_image_error(e->pred, i))
            continue; /* a bad image, skipped */
        if (!e->ok[i] && !e->unknown++)
            e->first_unknown = b->p[i].line;
        if (n != i)
            memcpy(e->vecs + n * e->dim, e->vecs + i * e->dim, e->dim * sizeof *e->vecs);
        e->ids[n] = b->p[i].id;
        e->kept[n++] = i;
    }
    return e->sink(e, b, n);
}

void embedding_report(const embedding *e)
{
    if (e->skipped)
        fprintf(stderr, "%s: skipped %ld products with a bad image\n", e->data, e->skipped);
    if (e->unknown)
        fprintf(stderr, "%s: %ld products have no word the model knows: their vectors are "
                "zeros (the first at line %ld)\n", e->data, e->unknown, e->first_unknown);
}

int embedding_run(const char *cmd, const shelf_model *m, const read_flags *rf,
                  const char *data, int threads,
                  int (*sink)(embedding *e, const batch *b, size_t n), void *sink_arg)
{
    shelf_read_options ro;
    if (read_flags_apply(rf, shelf_model_read_options(m), &ro))
        return 2;
    ro.require_label = 0;
    ro.for_images = shelf_model_modality(m) != SHELF_MODALITY_TEXT;
    progress pg;
    progress_start(&pg, cmd, isatty(2));
    embedding e;
    batch *b = calloc(2, sizeof *b);
    shelf_reader *rd = NULL;
    shelf_error err = {0};
    int status = 1;
    if (embedding_init(&e, m, threads, data, ro.skip_bad, &pg))
        goto done;
    if (!b || shelf_reader_open(data, &ro, &rd, &err) != SHELF_OK) {
        fprintf(stderr, "shelf %s: %s\n", cmd, b ? err.message : "out of memory");
        goto done;
    }
    e.sink = sink;
    e.sink_arg = sink_arg;
    if (stream_batches(rd, b, &pg, embedding_batch, &e))
        goto done;
    progress_show(&pg, rd, 1);
    shelf_read_stats st;
    shelf_reader_stats(rd, &st);
    report_read_stats(data, &st);
    embedding_report(&e);
    status = 0;
done:
    for (int i = 0; b && i < 2; i++)
        free(b[i].strings);
    free(b);
    embedding_free(&e);
    shelf_reader_close(rd);
    return status;
}
