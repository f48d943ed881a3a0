/* shelf_train: the options checked and completed, then the trainer of the model's encoders
 * (train/bag_trainer.h, seq_trainer.h, image_trainer.h, fused_trainer.h), then what every
 * model records and its calibration. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/error.h"
#include "core/mem.h"
#include "model/model.h"
#include "train/bag_trainer.h"
#include "train/calibrate.h"
#include "train/fused_trainer.h"
#include "train/image_trainer.h"
#include "train/seq_trainer.h"
#include "train/loop.h"
#include "train/vocab.h"

enum { MAX_THREADS = LOOP_MAX_THREADS };

/* Epochs when the user gave none: small catalogs need many passes, large ones few (their
 * products repeat each other), growing with the square root of the size so that a larger
 * catalog still gets more updates in all. */
static int default_epochs(size_t n)
{
    double e = 15.0 * sqrt(10000.0 / (double)(n ? n : 1));
    return e < 3 ? 3 : e > 15 ? 15 : (int)lround(e);
}

void shelf_train_options_default(shelf_train_options *o)
{
    memset(o, 0, sizeof *o);
    o->minn = o->maxn = -1;
    o->seed = 1;
    o->weight_decay = 5e-4f;
    o->augment = -1;
    o->dropout = -1;
}

static shelf_status check_options(shelf_train_options *o, size_t n, shelf_error *err)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (o->threads < 0 || o->epochs < 0 || o->buckets < 0 || o->ngrams < 0 || o->minn < -1 ||
        o->maxn < -1 || o->dim < 0 || !(o->lr >= 0) || o->lr > 1e6f || o->image_size < 0 ||
        o->width < 0 || o->batch < 0)
        return err_set(err, SHELF_EINVAL, "options must not be negative (0 means the default)");
    if (o->threads == 0)
        o->threads = cores > 0 ? (int)cores : 1;
    if (o->threads > MAX_THREADS)
        o->threads = MAX_THREADS;
    if (n > UINT32_MAX - 1)
        return err_set(err, SHELF_EINVAL, "at most %u products can be trained on", UINT32_MAX - 1);
    if (o->balance_power == 0)
        o->balance_power = 0.5f;
    if (!(o->balance_power > 0 && o->balance_power <= 4))
        return err_set(err, SHELF_EINVAL, "--balance-power must be above 0 and at most 4");
    if (!(o->label_smoothing >= 0 && o->label_smoothing < 1))
        return err_set(err, SHELF_EINVAL, "--label-smoothing must be at least 0 and below 1");
    if ((unsigned)o->balance > SHELF_BALANCE_UNDERSAMPLE)
        return err_set(err, SHELF_EINVAL, "unknown balance mode %d", (int)o->balance);
    if (o->text_encoder != SHELF_TEXT_ENCODER_BAG)
        return seq_check_options(o, n, err);
    if (o->modality != SHELF_MODALITY_TEXT)
        return SHELF_OK; /* the image and fused trainers check the rest */
    if (o->epochs <= 0)
        o->epochs = default_epochs(n);
    if (o->lr <= 0)
        o->lr = 1.0f;
    if (o->ngrams <= 0)
        o->ngrams = 2;
    if (o->minn < 0)
        o->minn = 2;
    if (o->maxn < 0)
        o->maxn = 5;
    if (o->buckets <= 0)
        o->buckets = 2000000;
    if (o->dim > BAG_MAX_DIM)
        return err_set(err, SHELF_EINVAL, "--dim must be at most %d, not %d", BAG_MAX_DIM, o->dim);
    if (o->maxn > 0 && (o->minn < 1 || o->minn > o->maxn || o->maxn > BAG_MAX_CHARN))
        return err_set(err, SHELF_EINVAL, "character n-grams need 1 <= minn <= maxn <= %d",
                       BAG_MAX_CHARN);
    if (o->ngrams > BAG_MAX_NGRAMS)
        return err_set(err, SHELF_EINVAL, "--ngrams must be at most %d, not %d", BAG_MAX_NGRAMS,
                       o->ngrams);
    if (o->buckets > BAG_MAX_BUCKETS)
        return err_set(err, SHELF_EINVAL, "--buckets must be at most %d, not %d",
                       BAG_MAX_BUCKETS, o->buckets);
    return SHELF_OK;
}

/* What every trained model records, and its temperature fitted on valid. */
static shelf_status finish_model(shelf_model *m, const shelf_train_options *o, size_t n,
                                 const shelf_catalog *valid, shelf_error *err)
{
    mem_free(m->info.train_path); /* a fused model's text part recorded it already */
    m->info.train_path = NULL;
    if (o->train_path && !(m->info.train_path = mem_strdup(o->train_path)))
        return err_set(err, SHELF_ENOMEM, "out of memory");
    /* a fused model's text part learned from every product, its CNN from those with images */
    m->info.train_rows = (long)n - m->info.skipped_empty -
                         (m->modality == SHELF_MODALITY_IMAGE ? m->info.skipped_images : 0);
    if (valid && calibrate_model(m, valid, o->threads))
        return err_set(err, SHELF_ENOMEM, "out of memory calibrating on the validation set");
    m->info.valid_rows = valid ? (long)shelf_catalog_size(valid) : 0;
    if (!model_has_image(m)) { /* the image trainer records its own */
        m->info.epochs_planned = o->epochs;
        m->info.lr = o->lr;
    }
    m->info.threads = o->threads;
    m->info.seed = o->seed;
    return SHELF_OK;
}

shelf_status shelf_train(const shelf_catalog *train, const shelf_catalog *valid,
                         const shelf_train_options *opts, shelf_model **out, shelf_error *err)
{
    shelf_train_options o = *opts;
    size_t n = shelf_catalog_size(train);
    shelf_status st = check_options(&o, n, err);
    if (st != SHELF_OK)
        return st;
    if (n == 0)
        return err_set(err, SHELF_EDATA, "no products to train on");
    if (o.modality == SHELF_MODALITY_BOTH) { /* the text model, the CNN, the head */
        shelf_model *fused = NULL;
        shelf_train_options both = *opts;
        both.threads = o.threads;
        if ((st = train_fused_model(train, valid, &both, &fused, err)) == SHELF_OK &&
            (st = finish_model(fused, &o, n, valid, err)) == SHELF_OK) {
            *out = fused;
            return SHELF_OK;
        }
        shelf_model_free(fused);
        return st;
    }
    shelf_model *m = model_new();
    uint32_t *y = mem_alloc((n + 1) * sizeof *y);
    const double t0 = now_sec();
    if (!m || !y) {
        st = err_set(err, SHELF_ENOMEM, "out of memory");
        goto fail;
    }
    m->hierarchical = o.modality == SHELF_MODALITY_TEXT && o.hierarchy; /* text models only */
    if (model_set_read_options(m, &o.read)) {
        st = err_set(err, SHELF_ENOMEM, "out of memory");
        goto fail;
    }
    if (o.modality == SHELF_MODALITY_IMAGE) {
        if ((st = train_image_model(m, train, valid, &o, 0, err)) != SHELF_OK)
            goto fail;
    } else if (o.text_encoder != SHELF_TEXT_ENCODER_BAG) {
        if ((st = vocab_labels(m, train, y, err)) != SHELF_OK ||
            (st = train_seq_model(m, train, valid, &o, y, err)) != SHELF_OK)
            goto fail;
    } else if ((st = train_bag_model(m, train, valid, &o, err)) != SHELF_OK) {
        goto fail;
    }
    if (o.modality != SHELF_MODALITY_IMAGE) /* the image trainer records its own */
        m->info.train_seconds = now_sec() - t0;
    if ((st = finish_model(m, &o, n, valid, err)) != SHELF_OK)
        goto fail;
    *out = m;
    m = NULL;
fail:
    mem_free(y);
    shelf_model_free(m);
    return st;
}
