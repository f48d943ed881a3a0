/* The training options: their defaults, and their checks for a catalog of n products. */
#include "train/options.h"

#include <math.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "model/bag_encoder.h"
#include "train/loop.h"
#include "train/seq_trainer.h"

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

shelf_status train_check_options(shelf_train_options *o, size_t n, shelf_error *err)
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

