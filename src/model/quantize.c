/* shelf quantize: the sparse bag's label head as int8 rows (nn/int8_rows.h), and with a
 * cutoff only the features that weigh most, the rest dropped from the bag as if training
 * had never kept them; the CNN's int8 form (model/cnn_int8.h), calibrated on sample
 * images. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/mem.h"
#include "core/threadpool.h"
#include "image/image_set.h"
#include "model/bag_encoder.h"
#include "model/cnn_encoder.h"
#include "model/cnn_int8.h"
#include "model/label_head.h"
#include "model/model.h"
#include "model/seq_text_encoder.h"

shelf_quantize_options shelf_quantize_options_default(void)
{
    return (shelf_quantize_options){
        .cutoff = 0, .drop = SHELF_QUANTIZE_DROP, .images = SHELF_QUANTIZE_IMAGES};
}

typedef struct ranked {
    float score;
    uint32_t row;
} ranked;

static int by_score_desc(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return x->row < y->row ? -1 : x->row > y->row; /* the same choice on every machine */
}

static int by_row(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* The n rows of the bag that weigh most into keep[n], ascending (so their buckets stay in
 * order): a feature's weight on a product's scores is its TF-IDF value, about its IDF, times
 * its row of weights, whose largest says how far it can move one label. 0, or -1. */
static int rows_to_keep(const bag_encoder *b, const label_head *h, uint32_t n, uint32_t *keep)
{
    ranked *r = mem_alloc(((size_t)b->nrows ? b->nrows : 1) * sizeof *r);
    if (!r)
        return -1;
    for (uint32_t i = 0; i < b->nrows; i++) {
        const float *w = h->w + (size_t)i * (size_t)h->out;
        float mx = 0;
        for (int k = 0; k < h->out; k++)
            mx = fmaxf(mx, fabsf(w[k]));
        r[i] = (ranked){mx * b->idf[i], i};
    }
    qsort(r, b->nrows, sizeof *r, by_score_desc);
    for (uint32_t i = 0; i < n; i++)
        keep[i] = r[i].row;
    mem_free(r);
    qsort(keep, n, sizeof *keep, by_row);
    return 0;
}

/* A copy of bag b with only its rows keep[0..n) (ascending). NULL out of memory. */
static bag_encoder *bag_keep_rows(const bag_encoder *b, const uint32_t *keep, uint32_t n)
{
    bag_encoder *e = bag_encoder_new(&b->feat, 0);
    if (!e || bag_encoder_alloc(e, n)) {
        if (e)
            encoder_free(&e->base);
        return NULL;
    }
    e->char_norm_one = b->char_norm_one;
    for (uint32_t i = 0; i < n; i++) {
        e->idf[i] = b->idf[keep[i]];
        bucket_map_add(&e->rows, b->rows.buckets[keep[i]]);
    }
    e->nrows = n;
    return e;
}

static size_t head_bytes(const label_head *h)
{
    return h->nparams * 4 + (h->q ? int8_rows_bytes(h->q) : 0);
}

/* The image side's int8 form (model/cnn_int8.h), calibrated on the images of up to
 * o->images products spread over the calibration catalog. */
static shelf_status quantize_image(shelf_model *m, const shelf_quantize_options *o,
                                   shelf_quantize_report *rep, shelf_error *err)
{
    const shelf_catalog *cat = o->calibration;
    const size_t total = cat ? shelf_catalog_size(cat) : 0;
    if (!total)
        return err_set(err, SHELF_EINVAL, "an image model's int8 activations are calibrated "
                       "on sample images: give a catalog of products with images (shelf "
                       "quantize --calibrate FILE; the training catalog serves)");
    const size_t n = o->images > 0 && (size_t)o->images < total ? (size_t)o->images : total;
    const char **refs = mem_alloc(n * sizeof *refs);
    long *lines = mem_alloc(n * sizeof *lines);
    shelf_product *picked = mem_alloc(n * sizeof *picked); /* their images may be bytes */
    thread_pool *pool = pool_new(o->threads);
    image_set set = {0};
    shelf_status st = SHELF_OK;
    if (!refs || !lines || !picked || !pool) {
        st = err_set(err, SHELF_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) { /* spread: a catalog is often sorted by category */
        const shelf_product *p = shelf_catalog_get(cat, i * total / n);
        refs[i] = p->image;
        lines[i] = p->line;
        picked[i] = *p;
    }
    cnn_encoder *c = as_cnn(m->image);
    const size_t bytes = (size_t)c->net.size * (size_t)c->net.size * 3;
    if ((st = image_set_load(&set, shelf_catalog_path(cat), refs, lines, picked, n, c->net.size,
                             pool, err)) != SHELF_OK)
        goto done;
    size_t good = 0;
    for (size_t i = 0; i < n; i++)
        if (set.ok[i])
            memmove(set.pix + good++ * bytes, set.pix + i * bytes, bytes);
    if (!good) {
        st = err_set(err, SHELF_EDATA, "none of the %zu calibration products has a usable "
                     "image; the first: %s", n, set.first_error);
        goto done;
    }
    if (rep) {
        rep->images = (long)good;
        rep->bad_images = (long)(n - good);
        rep->bytes_before += (c->net.nparams + c->net.nstats) * 4;
    }
    int r = cnn_encoder_quantize(c, set.pix, good, 64, o->clip_mse, pool);
    if (r) {
        st = r == -2 ? err_set(err, SHELF_EDATA, "the image network gives values out of "
                               "range (not numbers, or beyond int8's reach): it cannot be "
                               "quantized; retrain it")
                     : err_set(err, SHELF_ENOMEM, "out of memory calibrating the image network");
        goto done;
    }
    if (rep)
        rep->bytes_after += c->net.q->ncodes + c->net.nchans * 8;
done:
    image_set_free(&set);
    pool_free(pool);
    mem_free(refs);
    mem_free(lines);
    mem_free(picked);
    return st;
}

/* A checkpoint's training state (float copies of the parameters) is not kept. */
static void drop_state(shelf_model *m)
{
    if (m->state) {
        mem_free(m->state->best);
        mem_free(m->state->extra);
        mem_free(m->state);
        m->state = NULL;
    }
}

shelf_status shelf_model_quantize(shelf_model *m, const shelf_quantize_options *o,
                                  shelf_quantize_report *rep, shelf_error *err)
{
    shelf_quantize_options d = shelf_quantize_options_default();
    if (!o)
        o = &d;
    if (rep)
        memset(rep, 0, sizeof *rep);
    if (!m)
        return err_set(err, SHELF_EINVAL, "no model to quantize");
    if (model_quantized(m))
        return err_set(err, SHELF_EINVAL, "the model is already quantized (int8)");
    if (m->modality == SHELF_MODALITY_BOTH && !fusion_head_ready(&m->head))
        return err_set(err, SHELF_EINVAL, "a fused model's checkpoint taken while its CNN "
                       "trained (no fusion head yet): finish its training, then quantize");
    if (m->nmembers)
        return err_set(err, SHELF_EINVAL, "an ensemble cannot be quantized yet: quantize "
                       "its members' models instead (sparse bags) before combining them");
    const bag_encoder *b = m->text ? model_bag(m) : NULL;
    const int seq = m->text && (m->text->ops->kind == ENCODER_GRU ||
                                m->text->ops->kind == ENCODER_TRANSFORMER);
    if (m->text && !seq && (!b || b->dim))
        return err_set(err, SHELF_EINVAL, "the bag with embeddings (--dim) cannot be quantized "
                       "yet: the bag without --dim, the GRU, the Transformer and the CNN can");
    if (seq && m->image)
        return err_set(err, SHELF_EINVAL, "a fused model with a %s cannot be quantized yet",
                       m->text->ops->name);
    if (seq && o->cutoff)
        return err_set(err, SHELF_EINVAL, "--cutoff prunes the bag's features; a %s has none "
                       "to prune (its embedding table is quantized whole)", m->text->ops->name);
    if (seq) { /* the embedding table: the bulk of the parameters */
        seq_encoder *e = as_seq(m->text);
        size_t before = e->nparams * 4 + (size_t)e->nwords * 8;
        if (seq_encoder_quantize(e))
            return err_set(err, SHELF_ENOMEM, "out of memory quantizing the %s",
                           m->text->ops->name);
        if (rep) {
            rep->bytes_before = before;
            rep->bytes_after = e->nparams * 4 + (size_t)e->nwords * 8 +
                               seq_rows(e) * ((size_t)e->D + 4);
            rep->embedding_rows = (long)seq_rows(e);
        }
        drop_state(m);
        return SHELF_OK;
    }
    if (m->text && m->text_head.out > INT8_ROWS_MAX_COLS)
        return err_set(err, SHELF_EINVAL, "an int8 head scores at most %d labels (or taxonomy "
                       "nodes); this one scores %d", INT8_ROWS_MAX_COLS, m->text_head.out);
    if (o->cutoff < 0 || !(o->drop >= 0 && o->drop < 1) || o->images < 0)
        return err_set(err, SHELF_EINVAL, "quantize: the cutoff must be >= 0, drop in [0, 1) "
                       "and the calibration images >= 0 (got %ld, %g and %ld)", o->cutoff,
                       (double)o->drop, o->images);
    if (m->image && !o->calibration)
        return quantize_image(m, o, rep, err); /* says what is missing */
    const uint32_t n = !b ? 0
                       : o->cutoff && (unsigned long)o->cutoff < b->nrows ? (uint32_t)o->cutoff
                                                                         : b->nrows;
    uint32_t *keep = NULL;
    bag_encoder *kept = NULL;
    label_head q = {0};
    shelf_status st = SHELF_OK;
    if (b && n < b->nrows) {
        keep = mem_alloc(((size_t)n ? n : 1) * sizeof *keep);
        if (!keep || rows_to_keep(b, &m->text_head, n, keep) ||
            !(kept = bag_keep_rows(b, keep, n)))
            goto oom;
    }
    if (b && label_head_quantize(&m->text_head, keep, n, o->drop, &q))
        goto oom;
    /* the image side last: it may fail on its images, and m changes only on success */
    if (m->image && (st = quantize_image(m, o, rep, err)) != SHELF_OK) {
        label_head_free(&q);
        goto fail;
    }
    if (b && rep) {
        rep->rows_before = b->nrows;
        rep->rows_after = n;
        rep->weights_before = m->text_head.in * (size_t)m->text_head.out;
        rep->weights_after = int8_rows_ncodes(q.q);
        rep->bytes_before += head_bytes(&m->text_head) + (size_t)b->nrows * 8;
        rep->bytes_after += head_bytes(&q) + (size_t)n * 8;
    }
    if (kept) {
        encoder_free(m->text);
        m->text = &kept->base;
    }
    if (b) {
        label_head_free(&m->text_head);
        m->text_head = q;
    }
    drop_state(m);
    mem_free(keep);
    return SHELF_OK;
oom:
    st = err_set(err, SHELF_ENOMEM, "out of memory quantizing %u feature rows", n);
fail:
    if (kept)
        encoder_free(&kept->base);
    mem_free(keep);
    return st;
}
