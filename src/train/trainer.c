/* shelf_train: the options checked and completed (train/options.h), then the trainer of the
 * model's encoders (text_trainer.h, image_trainer.h, fused_trainer.h), then what every
 * model records and its calibration. */
#include <math.h>
#include <string.h>

#include "core/clock.h"
#include "core/comm.h"
#include "core/error.h"
#include "core/mem.h"
#include "model/bag_encoder.h"
#include "model/model.h"
#include "train/calibrate.h"
#include "train/fused_trainer.h"
#include "train/image_trainer.h"
#include "train/options.h"
#include "train/text_trainer.h"

/* --balance adjust: each label's log share of the training products (one more each, so
 * that no share is 0), for calibrate_model to fit the strength of. 0, or -1. */
static int set_log_prior(shelf_model *m, const shelf_catalog *train)
{
    const size_t K = (size_t)model_num_labels(m), n = shelf_catalog_size(train);
    if (!(m->log_prior = mem_alloc((K ? K : 1) * sizeof *m->log_prior)))
        return -1;
    for (size_t c = 0; c < K; c++)
        m->log_prior[c] = 1;
    for (size_t i = 0; i < n; i++) {
        int c = shelf_model_find_label(m, shelf_catalog_get(train, i)->label);
        if (c >= 0)
            m->log_prior[c]++;
    }
    double total = 0;
    for (size_t c = 0; c < K; c++)
        total += m->log_prior[c];
    for (size_t c = 0; c < K; c++)
        m->log_prior[c] = (float)log(m->log_prior[c] / total);
    return 0;
}

/* What every trained model records, its temperature fitted on valid, and with train (for
 * --balance adjust) its logit adjustment. */
static shelf_status finish_model(shelf_model *m, const shelf_train_options *o, size_t n,
                                 const shelf_catalog *valid, const shelf_catalog *adjust,
                                 shelf_error *err)
{
    mem_free(m->info.train_path); /* a fused model's text part recorded it already */
    m->info.train_path = NULL;
    if (o->train_path && !(m->info.train_path = mem_strdup(o->train_path)))
        return err_set(err, SHELF_ENOMEM, "out of memory");
    /* a fused model's text part learned from every product, its CNN from those with images */
    m->info.train_rows = (long)n - m->info.skipped_empty -
                         (m->modality == SHELF_MODALITY_IMAGE ? m->info.skipped_images : 0);
    if (o->init) /* --init: its corpus, then this one (new words' IDF counts on both) */
        m->info.train_rows += o->init->info.train_rows;
    if (adjust && set_log_prior(m, adjust))
        return err_set(err, SHELF_ENOMEM, "out of memory");
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

/* --init: the model must be one the bag's trainer can continue, and its settings are the
 * run's. */
static shelf_status continue_from(shelf_train_options *o, shelf_error *err)
{
    const shelf_model *m = o->init;
    const char *what = m->nmembers                          ? "an ensemble"
                     : m->image                             ? "a model that reads photos"
                     : m->text->ops->kind != ENCODER_BAG    ? m->text->ops->name
                     : as_const_bag(m->text)->dim           ? "a bag with embeddings (--dim)"
                                                            : NULL;
    if (!what && m->text_head.q)
        return err_set(err, SHELF_EINVAL, "--init: the model is quantized (int8); continue "
                       "its float model, then quantize that");
    if (what)
        return err_set(err, SHELF_EINVAL, "--init continues a sparse bag-of-n-grams text "
                       "model; this one is %s (retrain it, or add labels with shelf labels "
                       "add)", what);
    if (o->modality != SHELF_MODALITY_TEXT)
        return err_set(err, SHELF_EINVAL, "--init continues a text model: no --modality");
    static const char *const kept[] = {"text-encoder", "ngrams", "minn", "maxn", "buckets",
                                       "dim", "hierarchy"};
    for (size_t i = 0; i < sizeof kept / sizeof *kept; i++)
        if (train_option_given(o, kept[i]))
            return err_set(err, SHELF_EINVAL, "--init keeps the model's settings: --%s "
                           "cannot change them", kept[i]);
    const char *sep = o->read.label_sep ? o->read.label_sep : SHELF_DEFAULT_LABEL_SEP;
    const char *had = m->read.label_sep ? m->read.label_sep : SHELF_DEFAULT_LABEL_SEP;
    if (m->hierarchical && strcmp(sep, had) != 0) /* its nodes are split on its own */
        return err_set(err, SHELF_EINVAL, "--init: the model splits label paths on '%s', "
                       "not '%s' (--label-sep)", had, sep);
    const bag_encoder *b = as_const_bag(m->text);
    o->text_encoder = SHELF_TEXT_ENCODER_BAG;
    o->ngrams = b->feat.ngrams;
    o->minn = b->feat.minn;
    o->maxn = b->feat.maxn;
    o->buckets = (int)b->feat.buckets;
    o->dim = 0;
    o->hierarchy = m->hierarchical;
    return SHELF_OK;
}

/* A distributed run: what it can train so far (the sparse bag, plainly), and the products
 * of every rank into *n. */
static shelf_status distributed(const shelf_train_options *o, const shelf_catalog *valid,
                                size_t *n, shelf_error *err)
{
    const shelf_comm *c = o->comm;
    if (!c)
        return SHELF_OK;
    if (c->size < 1 || c->size > COMM_MAX_RANKS || c->rank < 0 || c->rank >= c->size ||
        !c->sum)
        return err_set(err, SHELF_EINVAL, "a distributed run needs its rank, size and sum");
    const char *what = o->init                              ? "--init"
                     : o->balance != SHELF_BALANCE_NONE     ? "--balance"
                     : o->modality == SHELF_MODALITY_BOTH && !valid
                         ? "--modality both without --valid (each rank would fit the fusion "
                           "head on its own held-out products)"
                         : NULL;
    if (what)
        return err_set(err, SHELF_EINVAL, "distributed training runs the bag of n-grams, the "
                       "GRU, the Transformer, the CNN and fused models, without %s; train it "
                       "in one process", what);
    uint64_t total = *n;
    if (comm_sum(c, &total, 1, SHELF_COMM_U64))
        return err_set(err, SHELF_EIO, "the ranks could not count their products");
    *n = (size_t)total;
    return SHELF_OK;
}

/* --checkpoint and --resume: what they can continue (every model but the bag with --dim). A
 * fused model's checkpoint is its text side's while that trains, then the whole model's
 * with the CNN's state. */
static shelf_status checkpoints(const shelf_train_options *o, shelf_error *err)
{
    if (!o->checkpoint && !o->resume)
        return SHELF_OK;
    const int fused = o->modality == SHELF_MODALITY_BOTH,
              image = o->modality == SHELF_MODALITY_IMAGE ||
                      (fused && o->resume && o->resume->image),
              seq = !image && o->text_encoder != SHELF_TEXT_ENCODER_BAG;
    if (!image && !seq && o->dim > 0)
        return err_set(err, SHELF_EINVAL, "checkpoints are written for the bag of n-grams "
                       "(without --dim), the GRU, the Transformer, the CNN and fused models: "
                       "not for the bag with --dim");
    if (o->init)
        return err_set(err, SHELF_EINVAL, "checkpoints keep one run's state: not with --init");
    if (o->resume && !o->resume->state)
        return err_set(err, SHELF_EINVAL, "--resume: the file is a model, not a checkpoint "
                       "(shelf train --checkpoint writes them)");
    if (o->resume && model_quantized(o->resume))
        return err_set(err, SHELF_EINVAL, "--resume: the model is quantized (int8), not a "
                       "checkpoint");
    const encoder_kind want = o->text_encoder == SHELF_TEXT_ENCODER_GRU ? ENCODER_GRU
                              : ENCODER_TRANSFORMER;
    const shelf_modality side = fused ? SHELF_MODALITY_BOTH : SHELF_MODALITY_IMAGE;
    if (o->resume && (image ? o->resume->modality != side
                      : seq ? o->resume->modality != SHELF_MODALITY_TEXT ||
                                  o->resume->text->ops->kind != want
                            : !model_bag(o->resume) || model_bag(o->resume)->dim))
        return err_set(err, SHELF_EINVAL, "--resume: the checkpoint is not of %s",
                       image ? (fused ? "a fused model" : "an image model")
                       : seq ? (want == ENCODER_GRU ? "a GRU" : "a Transformer")
                             : "a sparse bag");
    return SHELF_OK;
}

shelf_status shelf_train(const shelf_catalog *train, const shelf_catalog *valid,
                         const shelf_train_options *opts, shelf_model **out, shelf_error *err)
{
    shelf_train_options o = *opts;
    size_t n = shelf_catalog_size(train); /* with comm: every rank's, from here on */
    shelf_status st = distributed(&o, valid, &n, err);
    if (st == SHELF_OK)
        st = checkpoints(&o, err);
    if (st == SHELF_OK && o.init)
        st = continue_from(&o, err);
    if (st == SHELF_OK)
        st = train_check_options(&o, n, err);
    if (st != SHELF_OK)
        return st;
    if (n == 0)
        return err_set(err, SHELF_EDATA, "no products to train on");
    /* --balance adjust trains as none, then fits the adjustment's strength on valid */
    const shelf_catalog *adjust = o.balance == SHELF_BALANCE_ADJUST ? train : NULL;
    if (adjust && !valid)
        return err_set(err, SHELF_EINVAL, "--balance adjust fits its strength on the "
                       "validation set: give --valid");
    if (adjust)
        o.balance = SHELF_BALANCE_NONE;
    if (o.modality == SHELF_MODALITY_BOTH) { /* the text model, the CNN, the head */
        shelf_model *fused = NULL;
        shelf_train_options both = *opts;
        both.threads = o.threads;
        both.balance = o.balance;
        if ((st = train_fused_model(train, valid, &both, &fused, err)) == SHELF_OK &&
            (st = finish_model(fused, &o, n, valid, adjust, err)) == SHELF_OK) {
            *out = fused;
            return SHELF_OK;
        }
        shelf_model_free(fused);
        return st;
    }
    shelf_model *m = model_new();
    const double t0 = now_sec();
    if (!m)
        return err_set(err, SHELF_ENOMEM, "out of memory");
    if (o.modality == SHELF_MODALITY_IMAGE) {
        if (model_set_read_options(m, &o.read))
            st = err_set(err, SHELF_ENOMEM, "out of memory");
        else
            st = train_image_model(m, train, valid, &o, 0, err);
    } else if ((st = train_text_model(m, train, valid, &o, err)) == SHELF_OK) {
        m->info.train_seconds = now_sec() - t0; /* the image trainer records its own */
    }
    if (st == SHELF_OK && (st = finish_model(m, &o, n, valid, adjust, err)) == SHELF_OK) {
        *out = m;
        return SHELF_OK;
    }
    shelf_model_free(m);
    return st;
}
