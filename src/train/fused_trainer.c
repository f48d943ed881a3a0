/* Training of fused models (--modality both): the text model and the CNN, each on its own,
 * then the fusion head (model/fusion_head.h) that weighs them, chosen and fitted by
 * train/fusion_choice.h.
 *
 * The head must learn how each encoder errs on products it has not seen: on its own
 * training data each is nearly always right and sure (the CNN memorizes photos, the text
 * model titles), which would teach the head nothing. So the head is fitted on the
 * validation set; without one, on every tenth training product, held out from both
 * encoders (unless there are fewer than 20).
 *
 * (A CNN trained on top of the text model's out-of-fold evidence, end to end, was tried
 * first: on fashion it fixed 12 of the text model's test errors and made 25 new ones, the
 * photos' noise learned as if it were signal. See docs/benchmarks.md.) */
#include <stdlib.h>
#include <string.h>

#include "core/comm.h"
#include "core/error.h"
#include "core/mem.h"
#include "core/threadpool.h"
#include "image/image_set.h"
#include "io/catalog.h"
#include "model/model.h"
#include "train/fused_trainer.h"
#include "train/fusion_choice.h"
#include "train/image_trainer.h"
#include "train/options.h"
#include "train/text_trainer.h"

/* Without a validation set, every HOLDOUT_EVERY-th training product fits the head. */
enum { HOLDOUT_EVERY = 10 };
/* The head is fitted on at most this many products and label probabilities (two per
 * product and label: the text's and the image's); a fit's step reads every one, and the
 * choice makes a dozen fits of hundreds of steps. */
enum { HEAD_MAX_ROWS = 50000, HEAD_MAX_CELLS = 1 << 22 };
/* Images through the image encoder at a time. */
enum { EVIDENCE_BATCH = 64 };

/* The branch of each label: its path without the last part; labels with one part share
 * one branch. Fills group[K], returns the number of branches, -1 when out of memory. */
static int label_branches(const shelf_model *m, int32_t *group)
{
    strmap parents;
    strmap_init(&parents);
    int status = 0;
    for (int c = 0; c < model_num_labels(m) && status == 0; c++) {
        const char *label = m->labels.keys[c];
        char *parent = mem_strndup(label, model_parent_len(m, label));
        long id = parent ? strmap_intern(&parents, parent) : -1;
        mem_free(parent);
        if (id < 0)
            status = -1;
        group[c] = (int32_t)id;
    }
    int n = status ? -1 : (int)parents.n;
    strmap_free(&parents);
    return n;
}

/* Each product's text and image log-probabilities under m's two encoders, and its label
 * (-1 when it has no usable image or a label m does not know: such rows are left out). */
static shelf_status head_evidence(const shelf_model *m, const shelf_catalog *fit, size_t n,
                                  thread_pool *pool, float *text, float *image, int *y,
                                  shelf_error *err)
{
    const char **refs = mem_alloc((n + 1) * sizeof *refs);
    long *lines = mem_alloc((n + 1) * sizeof *lines);
    const char **texts = mem_alloc((n + 1) * sizeof *texts);
    unsigned char *known = mem_alloc(n + 1);
    shelf_scratch *s = NULL;
    encoder_work *w = NULL;
    image_set set = {0};
    shelf_status st = SHELF_OK;
    if (!refs || !lines || !texts || !known ||
        !(w = cnn_encoder_work_new(m->image, EVIDENCE_BATCH, 0, pool))) {
        st = err_set(err, SHELF_ENOMEM, "out of memory");
        goto done;
    }
    if ((st = shelf_scratch_new(m, &s, err)) != SHELF_OK)
        goto done;
    for (size_t i = 0; i < n; i++) {
        const shelf_product *p = shelf_catalog_get(fit, i);
        refs[i] = p->image;
        lines[i] = p->line;
        texts[i] = p->text;
    }
    if (model_texts_log_probs(m, s, texts, n, text, known)) {
        st = err_set(err, SHELF_ENOMEM, "out of memory");
        goto done;
    }
    if ((st = image_set_load(&set, shelf_catalog_path(fit), refs, lines,
                             n ? shelf_catalog_get(fit, 0) : NULL, n,
                             image_encoder_size(m->image), pool, err)) != SHELF_OK)
        goto done;
    if (image_model_probs(m->image, &m->image_head, w, EVIDENCE_BATCH, set.pix, n, 1, image, NULL, 0)) {
        st = err_set(err, SHELF_ENOMEM, "out of memory");
        goto done;
    }
    /* the head weighs two sides: a product missing one is predicted by the other alone */
    for (size_t i = 0; i < n; i++)
        y[i] = set.ok[i] && known[i]
                   ? (int)strmap_find(&m->labels, shelf_catalog_get(fit, i)->label)
                   : -1;
done:
    image_set_free(&set);
    if (w)
        m->image->ops->work_free(w);
    shelf_scratch_free(s);
    mem_free(refs);
    mem_free(lines);
    mem_free(texts);
    mem_free(known);
    return st;
}

shelf_status fused_fit_head(shelf_model *m, const shelf_catalog *fit, int threads,
                            shelf_error *err)
{
    size_t K = (size_t)model_num_labels(m), n = shelf_catalog_size(fit);
    n = n < HEAD_MAX_ROWS ? n : HEAD_MAX_ROWS;
    n = n < HEAD_MAX_CELLS / K ? n : HEAD_MAX_CELLS / K;
    float *text = mem_alloc((n + 1) * K * sizeof *text);
    float *image = mem_alloc((n + 1) * K * sizeof *image);
    int *y = mem_alloc((n + 1) * sizeof *y);
    int32_t *group = mem_alloc(K * sizeof *group);
    int G = group ? label_branches(m, group) : -1;
    thread_pool *pool = pool_new(threads);
    shelf_status st = SHELF_OK;
    if (!text || !image || !y || G < 0 || !pool ||
        fusion_head_init(&m->head, (int)K, G, group)) {
        st = err_set(err, SHELF_ENOMEM, "out of memory for the fusion head");
        goto done;
    }
    if ((st = head_evidence(m, fit, n, pool, text, image, y, err)) != SHELF_OK)
        goto done;
    fusion_fit_options fo;
    fusion_fit_options_default(&fo);
    if (fusion_head_choose(&m->head, text, image, y, n, &fo, pool))
        st = err_set(err, SHELF_ENOMEM, "out of memory fitting the fusion head");
done:
    pool_free(pool);
    mem_free(text);
    mem_free(image);
    mem_free(y);
    mem_free(group);
    return st;
}

/* Every HOLDOUT_EVERY-th product of train into *held, the others into *kept. */
static shelf_status hold_out(const shelf_catalog *train, shelf_catalog **kept,
                             shelf_catalog **held, shelf_error *err)
{
    size_t n = shelf_catalog_size(train), nk = 0, nh = 0;
    size_t *k = mem_alloc((n + 1) * sizeof *k), *h = mem_alloc((n + 1) * sizeof *h);
    *kept = *held = NULL;
    if (k && h) {
        for (size_t i = 0; i < n; i++) {
            if (i % HOLDOUT_EVERY == HOLDOUT_EVERY - 1)
                h[nh++] = i;
            else
                k[nk++] = i;
        }
        *kept = catalog_view(train, k, nk);
        *held = catalog_view(train, h, nh);
    }
    mem_free(k);
    mem_free(h);
    if (*kept && *held)
        return SHELF_OK;
    shelf_catalog_free(*kept);
    shelf_catalog_free(*held);
    *kept = *held = NULL;
    return err_set(err, SHELF_ENOMEM, "out of memory");
}

/* The products of train that have a text or an image (the others teach nothing but how
 * often their label occurs): a view into *kept, or *kept NULL when all do. */
static shelf_status with_content(const shelf_catalog *train, shelf_catalog **kept,
                                 long *skipped, shelf_error *err)
{
    size_t n = shelf_catalog_size(train), nk = 0;
    size_t *rows = mem_alloc((n + 1) * sizeof *rows);
    *kept = NULL;
    if (!rows)
        return err_set(err, SHELF_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const shelf_product *p = shelf_catalog_get(train, i);
        if ((p->text && *p->text) || (p->image && *p->image))
            rows[nk++] = i;
    }
    *skipped = (long)(n - nk);
    if (nk == 0) {
        mem_free(rows);
        return err_set(err, SHELF_EDATA, "%s: no product has a text or an image",
                       shelf_catalog_path(train));
    }
    if (nk < n && !(*kept = catalog_view(train, rows, nk))) {
        mem_free(rows);
        return err_set(err, SHELF_ENOMEM, "out of memory");
    }
    mem_free(rows);
    return SHELF_OK;
}

shelf_status train_fused_model(const shelf_catalog *train, const shelf_catalog *valid,
                               const shelf_train_options *opts, shelf_model **out,
                               shelf_error *err)
{
    shelf_train_options text = *opts, image = *opts;
    text.modality = SHELF_MODALITY_TEXT;
    text.progress = NULL; /* the CNN's progress is what takes time */
    text.epochs = 0; /* --epochs, --lr and --batch are the CNN's; the text model keeps its */
    text.lr = 0;     /* defaults (with --text-encoder, its own) */
    text.batch = 0;
    image.modality = SHELF_MODALITY_IMAGE;
    text.given = image.given = 0; /* shelf_train checked them against the fused model */
    /* --resume: a checkpoint of the text side's training goes on there; one of the CNN's
     * (the whole model so far) goes on there, after the text side is trained again as it
     * was (the same seed and data; it is the quick side), writing no checkpoint over it */
    const int image_stage = opts->resume && opts->resume->image;
    text.resume = image_stage ? NULL : opts->resume;
    image.resume = image_stage ? opts->resume : NULL;
    if (image_stage)
        text.checkpoint = NULL;
    shelf_catalog *content = NULL, *kept = NULL, *held = NULL;
    const shelf_catalog *learn = train, *fit = valid;
    shelf_model *m = NULL;
    long empty = 0;
    shelf_status st = with_content(train, &content, &empty, err);
    if (st != SHELF_OK)
        return st;
    learn = content ? content : train;
    if (!valid || shelf_catalog_size(valid) == 0) {
        fit = learn; /* too few to hold any out: the head sees what the encoders saw */
        if (shelf_catalog_size(learn) >= 2 * HOLDOUT_EVERY &&
            (st = hold_out(learn, &kept, &held, err)) == SHELF_OK) {
            learn = kept;
            fit = held;
        }
    }
    if (st == SHELF_OK && !(m = model_new()))
        st = err_set(err, SHELF_ENOMEM, "out of memory");
    /* a distributed run: every rank's count, so that all take the same default epochs; a
     * rank that failed above tells the others here */
    uint64_t nlearn[2] = {shelf_catalog_size(learn), st != SHELF_OK};
    if (comm_sum(opts->comm, nlearn, 2, SHELF_COMM_U64) || (nlearn[1] && st == SHELF_OK))
        st = err_set(err, SHELF_EIO, "another rank stopped the run");
    if (st == SHELF_OK && (st = train_check_options(&text, (size_t)nlearn[0], err)) ==
                              SHELF_OK &&
        (st = train_text_model(m, learn, valid, &text, err)) == SHELF_OK &&
        (st = train_image_model(m, learn, valid, &image, 1, err)) == SHELF_OK)
        st = fused_fit_head(m, fit, opts->threads, err);
    if (m)
        m->info.skipped_empty = empty;
    shelf_catalog_free(content);
    shelf_catalog_free(kept);
    shelf_catalog_free(held);
    if (st != SHELF_OK) {
        shelf_model_free(m);
        return st;
    }
    *out = m;
    return SHELF_OK;
}
