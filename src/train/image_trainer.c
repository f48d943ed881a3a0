/* Training of image models: the training images decoded once into memory at the model's
 * size, then the loop's step (train/loop.h): a shuffled mini-batch, augmented, through the
 * CNN encoder to its features, the label head and the softmax cross-entropy, back through
 * both, and an optimizer step of both, with the learning rate following a schedule. Every
 * phase runs on all threads; BLAS runs single-threaded inside them. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/comm.h"
#include "core/error.h"
#include "core/mem.h"
#include "core/rng.h"
#include "image/augment.h"
#include "image/image_set.h"
#include "model/cnn_encoder.h"
#include "model/model.h"
#include "nn/linear.h"
#include "nn/optim.h"
#include "nn/schedule.h"
#include "nn/softmax.h"
#include "train/balance.h"
#include "train/checkpoint.h"
#include "train/image_trainer.h"
#include "train/loop.h"
#include "train/options.h"
#include "train/vocab.h"


/* The images of a catalog, with the rows whose image is bad dropped (skip_bad) or refused. */
typedef struct labelled_images {
    image_set set;
    uint32_t *index; /* good rows */
    int *y;          /* label of each good row; -1 when the label is not the model's */
    size_t n;
} labelled_images;

static void labelled_free(labelled_images *d)
{
    image_set_free(&d->set);
    mem_free(d->index);
    mem_free(d->y);
    memset(d, 0, sizeof *d);
}

/* missing_ok (fused models): a product without an image reference is simply left to the
 * text model; one whose image is there but broken is still an error (or skipped). */
static shelf_status load_images(labelled_images *d, shelf_model *m, const shelf_catalog *c,
                                int add_labels, int skip_bad, int missing_ok, thread_pool *pool,
                                long *skipped, shelf_error *err)
{
    memset(d, 0, sizeof *d);
    size_t n = shelf_catalog_size(c);
    const char **refs = mem_alloc((n + 1) * sizeof *refs);
    long *lines = mem_alloc((n + 1) * sizeof *lines);
    d->index = mem_alloc((n + 1) * sizeof *d->index);
    d->y = mem_alloc((n + 1) * sizeof *d->y);
    shelf_status st = SHELF_OK;
    if (!refs || !lines || !d->index || !d->y) {
        st = err_set(err, SHELF_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        const shelf_product *p = shelf_catalog_get(c, i);
        refs[i] = p->image;
        lines[i] = p->line;
    }
    /* the products too: an in-memory catalog's images are bytes (shelf_catalog_from_products) */
    st = image_set_load(&d->set, shelf_catalog_path(c), refs, lines,
                        n ? shelf_catalog_get(c, 0) : NULL, n,
                        image_encoder_size(m->image), pool, err);
    if (st != SHELF_OK)
        goto done;
    if (d->set.bad && !skip_bad && !missing_ok) {
        st = err_set(err, SHELF_EDATA, "%s (--skip-bad skips such products)",
                     d->set.first_error);
        goto done;
    }
    if (d->set.bad > d->set.missing && !skip_bad && missing_ok) {
        st = err_set(err, SHELF_EDATA, "%s (--skip-bad skips such products)",
                     d->set.first_broken);
        goto done;
    }
    *skipped = d->set.bad;
    for (size_t i = 0; i < n; i++) {
        if (!d->set.ok[i])
            continue;
        const char *label = shelf_catalog_get(c, i)->label;
        long id = add_labels ? strmap_intern(&m->labels, label) : strmap_find(&m->labels, label);
        if (add_labels && id < 0) {
            st = err_set(err, SHELF_ENOMEM, "out of memory");
            goto done;
        }
        d->index[d->n] = (uint32_t)i;
        d->y[d->n++] = (int)id;
    }
    if (d->n == 0 && add_labels)
        st = err_set(err, SHELF_EDATA, "%s: no product has a usable image%s%s",
                     shelf_catalog_path(c), d->set.bad ? "; the first: " : "",
                     d->set.bad ? d->set.first_error : "");
done:
    mem_free(refs);
    mem_free(lines);
    if (st != SHELF_OK)
        labelled_free(d);
    return st;
}

/* ---- one step ------------------------------------------------------------------------- */

/* Variations of the loss: a weight per class (NULL: all 1) and label smoothing. */
typedef struct image_loss {
    const float *class_weight;
    float smoothing;
} image_loss;

typedef struct trainer {
    shelf_model *m;
    cnn_encoder *enc; /* m->image */
    const shelf_train_options *o;
    thread_pool *pool;
    encoder_work *work; /* the encoder's, for batches of o->batch */
    encoder_features f; /* the batch's, from forward_train */
    encoder_batch upcoming; /* the batch after the next step's (n 0: none known) */
    labelled_images train;
    float *grads;         /* the network's gradient */
    float *opt_a, *opt_b; /* the network's AdamW first and second moments; SGD: velocity */
    float *head_a, *head_b; /* the same of the label head */
    float *head_grads;  /* per thread, the head's nparams each; thread 0's holds the sum */
    float *probs;       /* [batch][labels]: probabilities, then the gradient of the logits */
    double loss[64];    /* per thread (the pool has at most 64) */
    long step;
    schedule sched;
    const labelled_images *valid;
    float *valid_probs; /* [valid images][labels] */
    int batch_y[1024];
    int nb; /* the batch's images */
    float lr, momentum;
    double started;
    balance bal;   /* --balance over the training images */
    image_loss lopt; /* class weights (--balance weight) and label smoothing */
    uint64_t catalog, options; /* the run's fingerprints, kept in a checkpoint */
} trainer;

/* The label head and softmax over the thread's share of the batch, and its cross-entropy. */
static void run_head_forward(void *arg, int tid, int nthreads)
{
    trainer *tr = arg;
    const label_head *h = &tr->m->image_head;
    size_t n0, n1, K = (size_t)h->out;
    pool_split((size_t)tr->nb, tid, nthreads, &n0, &n1);
    double loss = 0;
    for (size_t i = n0; i < n1; i++) {
        float *z = tr->probs + i * K;
        label_head_forward_row(h, &tr->f, i, z);
        softmax_forward(z, z, (int)K);
        loss -= log(fmax(z[tr->batch_y[i]], 1e-30));
    }
    tr->loss[tid] = loss;
}

/* The gradient of the mean loss through the softmax and the head: the head's into the
 * thread's gradient block, the features' into the network's work area. */
static void run_head_backward(void *arg, int tid, int nthreads)
{
    trainer *tr = arg;
    const label_head *h = &tr->m->image_head;
    const int K = h->out, F = (int)h->in;
    float *g = tr->head_grads + (size_t)tid * h->nparams;
    memset(g, 0, h->nparams * sizeof *g);
    size_t n0, n1;
    pool_split((size_t)tr->nb, tid, nthreads, &n0, &n1);
    float inv_n = 1.0f / (float)tr->nb, eps = tr->lopt.smoothing;
    for (size_t i = n0; i < n1; i++) {
        float *z = tr->probs + i * (size_t)K; /* probabilities become dlogits */
        int y = tr->batch_y[i];
        softmax_xent_backward(z, z, y, K);
        float scale = inv_n * (tr->lopt.class_weight ? tr->lopt.class_weight[y] : 1.0f);
        for (int k = 0; k < K; k++) /* the target is (1 - eps) onehot + eps / K */
            z[k] = (z[k] - eps / (float)K + (k == y ? eps : 0)) * scale;
        linear_backward(tr->f.grad + i * (size_t)F, g, g + (size_t)F * K, z,
                        tr->f.dense + i * (size_t)F, h->w, F, K);
    }
}

/* Thread 0's head gradient becomes the sum of all threads', in a fixed order so that a run
 * is reproducible for a given number of threads. */
static void run_head_reduce(void *arg, int tid, int nthreads)
{
    trainer *tr = arg;
    size_t np = tr->m->image_head.nparams, i0, i1;
    pool_split(np, tid, nthreads, &i0, &i1);
    for (int t = 1; t < nthreads; t++) {
        const float *g = tr->head_grads + (size_t)t * np;
        for (size_t i = i0; i < i1; i++)
            tr->head_grads[i] += g[i];
    }
}

/* One optimizer step of the share [i0, i1) of a parameter block. */
static void step_block(const trainer *tr, float *p, const float *g, float *a, float *b,
                       size_t i0, size_t i1)
{
    const image_settings *is = &tr->enc->img;
    if (is->optimizer == SHELF_OPTIMIZER_SGD)
        sgd_step(p, g, a, i0, i1, tr->lr, tr->momentum, is->weight_decay, tr->step);
    else
        adamw_step(p, g, a, b, i0, i1, tr->lr, tr->momentum, 0.999f, 1e-8f, is->weight_decay,
                   tr->step);
}

static void run_optimizer(void *arg, int tid, int nthreads)
{
    trainer *tr = arg;
    cnn *net = &tr->enc->net;
    label_head *h = &tr->m->image_head;
    size_t i0, i1;
    pool_split(net->nparams, tid, nthreads, &i0, &i1);
    step_block(tr, net->params, tr->grads, tr->opt_a, tr->opt_b, i0, i1);
    memset(tr->grads + i0, 0, (i1 - i0) * sizeof *tr->grads); /* backward adds to it */
    pool_split(h->nparams, tid, nthreads, &i0, &i1);
    step_block(tr, h->params, tr->head_grads, tr->head_a, tr->head_b, i0, i1);
}

/* A training step on the batch: its mean loss in *loss (not finite: diverged, and no
 * step taken). 0, or -1 out of memory (oneDNN making a new batch size's primitives). */
static int train_step(trainer *tr, const encoder_batch *b, double *loss)
{
    encoder *e = tr->m->image;
    const shelf_comm *comm = tr->o->comm;
    /* a distributed run: every rank makes every sum, a failed one too, so that all stop at
       the same step (a failure flag travels with the loss) */
    const int failed = e->ops->forward_train(e, tr->work, b, &tr->f) != 0;
    if (!failed)
        pool_run(tr->pool, run_head_forward, tr);
    double sums[3] = {0, (double)tr->nb, failed}; /* the loss and images: every rank's */
    for (int t = 0; !failed && t < pool_threads(tr->pool); t++)
        sums[0] += tr->loss[t];
    if (comm_sum(comm, sums, 3, SHELF_COMM_DOUBLE) || sums[2] > 0)
        return -1;
    *loss = sums[0] / sums[1];
    if (!isfinite(*loss)) /* every rank stops at the same step */
        return 0;
    pool_run(tr->pool, run_head_backward, tr);
    pool_run(tr->pool, run_head_reduce, tr);
    uint32_t bad = e->ops->backward(e, tr->work, &(encoder_update){.grads = tr->grads}) != 0;
    if (comm_sum(comm, &bad, 1, SHELF_COMM_U32) || bad)
        return -1;
    /* the ranks' mean gradient, so that every rank takes the same step */
    if (comm_average(comm, tr->grads, tr->enc->net.nparams) ||
        comm_average(comm, tr->head_grads, tr->m->image_head.nparams))
        return -1;
    schedule_at(&tr->sched, tr->step, &tr->lr, &tr->momentum);
    tr->step++;
    pool_run(tr->pool, run_optimizer, tr);
    return 0;
}

/* Top-1 accuracy of the current network on the validation images, decoded once. */
/* The validation images [from, to) (of the good ones) predicted right: the images from
 * the first's to the last's through the network at once. */
static int valid_correct(void *ctx, size_t from, size_t to, size_t *correct)
{
    trainer *tr = ctx;
    const shelf_model *m = tr->m;
    const labelled_images *v = tr->valid;
    size_t K = (size_t)model_num_labels(m), S = (size_t)image_encoder_size(m->image);
    *correct = 0;
    if (from >= to)
        return 0;
    size_t a = v->index[from], b = (size_t)v->index[to - 1] + 1;
    float *probs = tr->valid_probs;
    if (image_model_probs(m->image, &m->image_head, tr->work, (size_t)tr->o->batch,
                          v->set.pix + a * S * S * 3, b - a, 0, probs, NULL, 0))
        return -1;
    for (size_t i = from; i < to; i++) {
        int best;
        float p;
        model_top_k(probs + (size_t)(v->index[i] - a) * K, (int)K, 1, &best, &p);
        *correct += v->y[i] == best;
    }
    return 0;
}

/* Each image's augmentation is seeded by its place in the run. */
static uint64_t batch_noise(const trainer *tr, int epoch, size_t first)
{
    return tr->o->seed * 0x9e3779b97f4a7c15ULL + (uint64_t)epoch * 0x100000001ULL +
           (uint64_t)first;
}

/* The batch after the next step's, which the CNN encoder augments beside that step. */
static void image_upcoming(void *ctx, const uint32_t *rows, size_t n, int epoch, size_t first)
{
    trainer *tr = ctx;
    tr->upcoming = (encoder_batch){.n = n, .rows = rows, .noise = batch_noise(tr, epoch, first)};
}

/* One batch of the epoch (rows of the good images, from the epoch's first-th on):
 * augmented, forward, loss, backward, the optimizer's step. */
static int image_step(void *ctx, int tid, const uint32_t *rows, size_t n, int epoch,
                      size_t first, loop_meter *meter)
{
    (void)tid;
    trainer *tr = ctx;
    const conv_shape *last_conv = &tr->enc->net.conv[CNN_CONVS - 1];
    if (n * (size_t)last_conv->ho * (size_t)last_conv->wo == 1)
        return 0; /* one value per channel: batch norm cannot train on it (PyTorch refuses
                     it); the last lone image waits for the next epoch */
    tr->nb = (int)n;
    for (int i = 0; i < tr->nb; i++)
        tr->batch_y[i] = tr->train.y[rows[i]];
    const encoder_batch b = {.n = n, .rows = rows, .noise = batch_noise(tr, epoch, first),
                             .upcoming = tr->upcoming.n ? &tr->upcoming : NULL};
    double loss; /* not finite: the loop reports the divergence */
    if (train_step(tr, &b, &loss))
        return -1;
    atomic_store(&meter->loss, atomic_load(&meter->loss) + loss * tr->nb); /* one writer */
    atomic_fetch_add(&meter->count, (long)n);
    return 0;
}

/* The optimizer's moments, one after another (network, then head; the second moments only
 * for AdamW): copied into out, or from in, when not NULL. Returns how many floats. */
static size_t moments(const trainer *tr, float *out, const float *in)
{
    const size_t np = tr->enc->net.nparams, hp = tr->m->image_head.nparams;
    float *const parts[4] = {tr->opt_a, tr->opt_b, tr->head_a, tr->head_b};
    const size_t sizes[4] = {np, np, hp, hp};
    size_t at = 0;
    for (int i = 0; i < 4; i++) {
        if (!parts[i])
            continue;
        if (in)
            memcpy(parts[i], in + at, sizes[i] * sizeof *in);
        if (out)
            memcpy(out + at, parts[i], sizes[i] * sizeof *out);
        at += sizes[i];
    }
    return at;
}

/* After every epoch (loop.h): the model as it stands, with the optimizer's moments and
 * where the run stands, written whole or not at all (rank 0's in a distributed run). */
static shelf_status image_checkpoint(void *user, const train_state *s, shelf_error *err)
{
    trainer *tr = user;
    if (tr->o->comm && tr->o->comm->rank != 0) /* rank 0 writes it */
        return SHELF_OK;
    train_state st = *s;
    st.steps = (uint64_t)tr->step;
    st.catalog = tr->catalog;
    st.options = tr->options;
    st.nextra = moments(tr, NULL, NULL);
    if (!(st.extra = mem_alloc(st.nextra * sizeof *st.extra)))
        return err_set(err, SHELF_ENOMEM, "out of memory writing a checkpoint");
    moments(tr, st.extra, NULL);
    shelf_status rc = checkpoint_write(tr->m, tr->o, &st, err);
    mem_free(st.extra);
    return rc;
}

/* The fingerprint of the training images: a sum over them (their references and labels),
 * so that the ranks' parts sum to the whole's. */
static uint64_t images_fingerprint(const trainer *tr, const shelf_catalog *c)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < tr->train.n; i++) {
        const shelf_product *p = shelf_catalog_get(c, tr->train.index[i]);
        sum = checkpoint_fingerprint_add(sum, p->image, p->label);
    }
    return sum;
}

/* --resume: the checkpoint is of this run; its network, head, statistics, moments and step
 * replace the fresh start. */
static shelf_status resume_from(trainer *tr, const shelf_model *from, shelf_error *err)
{
    const train_state *s = from->state;
    const cnn *net = &tr->enc->net, *old = &as_const_cnn(from->image)->net;
    label_head *h = &tr->m->image_head;
    shelf_status st = checkpoint_take_up(tr->m, from, tr->catalog, tr->options, err);
    if (st != SHELF_OK)
        return st;
    if (old->nparams != net->nparams || old->nstats != net->nstats ||
        from->image_head.nparams != h->nparams || s->nextra != moments(tr, NULL, NULL) ||
        model_num_labels(from) != model_num_labels(tr->m))
        return err_set(err, SHELF_EINVAL, "--resume: the checkpoint's network does not fit");
    memcpy(net->params, old->params, net->nparams * sizeof *net->params);
    memcpy(net->stats, old->stats, net->nstats * sizeof *net->stats);
    memcpy(h->params, from->image_head.params, h->nparams * sizeof *h->params);
    tr->enc->img = as_const_cnn(from->image)->img; /* the channels' statistics too */
    moments(tr, NULL, s->extra);
    tr->step = (long)s->steps;
    return SHELF_OK;
}

/* The epochs, in the one training loop: the rate follows the schedule over all of them. */
static shelf_status train_epochs(trainer *tr, const shelf_catalog *valid_catalog,
                                 const labelled_images *valid, shelf_error *err)
{
    shelf_model *m = tr->m;
    const shelf_train_options *o = tr->o;
    const uint32_t *y = (const uint32_t *)tr->train.y; /* training labels are all >= 0 */
    uint64_t per_epoch = balance_epoch_size(&tr->bal, y); /* every rank takes the least's */
    if (comm_min(o->comm, per_epoch, &per_epoch))
        return err_set(err, SHELF_EIO, "another rank stopped the run");
    long steps_per_epoch = (long)((per_epoch + (size_t)o->batch - 1) / (size_t)o->batch);
    tr->sched = (schedule){(schedule_kind)(o->schedule == SHELF_SCHEDULE_ONECYCLE
                                               ? SCHEDULE_ONECYCLE
                                           : o->schedule == SHELF_SCHEDULE_COSINE
                                               ? SCHEDULE_COSINE
                                               : SCHEDULE_CONSTANT),
                           o->lr, 0.9f, steps_per_epoch * o->epochs, 0};
    if (tr->sched.kind == SCHEDULE_COSINE)
        tr->sched.warmup_steps = steps_per_epoch / 2;
    tr->valid = valid;
    if (valid && !(tr->valid_probs = mem_alloc((valid->set.n + 1) *
                                               (size_t)model_num_labels(m) * sizeof(float))))
        return err_set(err, SHELF_ENOMEM, "out of memory");
    trainee t = {.ctx = tr, .batch = (size_t)o->batch, .step = image_step,
                 .upcoming = image_upcoming, .validate = valid_correct,
                 .nvalid = valid ? valid->n : 0};
    trainee_keep(&t, m->image, &m->image_head);
    /* every epoch runs: a CNN's validation accuracy wanders before it settles */
    loop_options lo = {m, valid ? valid_catalog : NULL, y, tr->train.n, &tr->bal, o->epochs,
                       o->threads, 0, o->seed, o->progress, o->progress_user, &m->info,
                       .comm = o->comm, .resume = o->resume ? o->resume->state : NULL,
                       .checkpoint = o->checkpoint ? image_checkpoint : NULL,
                       .checkpoint_user = tr};
    loop_result res;
    shelf_status st = train_loop(&t, &lo, &res, err);
    mem_free(tr->valid_probs);
    m->info.fit_seconds = res.step_seconds;
    m->info.epochs_planned = o->epochs;
    m->info.lr = o->lr;
    m->info.train_seconds = now_sec() - tr->started;
    m->info.epochs = res.epochs;
    if (valid)
        m->info.valid_accuracy = res.valid_accuracy;
    return st;
}

shelf_status shelf_augment_parse(const char *list, int *flags, shelf_error *err)
{
    return augment_parse(list, flags, err) ? SHELF_EINVAL : SHELF_OK;
}

/* The decoded images and the network's work area must fit: refuse plainly rather than be
 * killed for memory halfway through. */
static shelf_status check_memory(const shelf_catalog *train, const shelf_catalog *valid,
                                 const shelf_train_options *o, shelf_error *err)
{
    cnn probe; /* its shapes: nothing is allocated */
    if (cnn_shape(&probe, o->image_size, o->width))
        return err_set(err, SHELF_EINVAL, "--image-size %d and --width %d make no network",
                       o->image_size, o->width);
    int threads = o->threads > 0 ? o->threads : pool_cores();
    double images = (double)shelf_catalog_size(train) +
                    (valid ? (double)shelf_catalog_size(valid) : 0),
           need = images * o->image_size * o->image_size * 3 +
                  cnn_work_bytes(&probe, o->batch, threads, 1) +
                  4.0 * 3 * o->batch * o->image_size * o->image_size, /* the next batch's */
           have = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
    if (have > 0 && need > 0.6 * have)
        return err_set(err, SHELF_ENOMEM,
                       "training at %dx%d, width %d, batch %d needs %.1f GB of memory, more than "
                       "this machine can spare (%.1f GB in all); use a smaller --image-size, "
                       "--width or --batch", o->image_size, o->image_size, o->width, o->batch,
                       need / 1e9, have / 1e9);
    return SHELF_OK;
}

static void free_training(trainer *tr)
{
    if (tr->work)
        tr->m->image->ops->work_free(tr->work);
    mem_free(tr->grads);
    mem_free(tr->opt_a);
    mem_free(tr->opt_b);
    mem_free(tr->head_a);
    mem_free(tr->head_b);
    mem_free(tr->head_grads);
    mem_free(tr->probs);
}

/* The work area, the optimizer's state of both blocks, the head's gradients per thread and
 * the batch's probabilities, and the order of the images. 0, or -1 out of memory. */
static int alloc_training(trainer *tr)
{
    const shelf_train_options *o = tr->o;
    size_t np = tr->enc->net.nparams, hp = tr->m->image_head.nparams;
    int adamw = o->optimizer == SHELF_OPTIMIZER_ADAMW;
    tr->grads = mem_calloc(np, sizeof *tr->grads);
    tr->opt_a = mem_calloc(np, sizeof *tr->opt_a);
    tr->opt_b = adamw ? mem_calloc(np, sizeof *tr->opt_b) : NULL;
    tr->head_a = mem_calloc(hp, sizeof *tr->head_a);
    tr->head_b = adamw ? mem_calloc(hp, sizeof *tr->head_b) : NULL;
    tr->head_grads = mem_alloc((size_t)pool_threads(tr->pool) * hp * sizeof *tr->head_grads);
    tr->probs = mem_alloc((size_t)o->batch * (size_t)tr->m->image_head.out * sizeof *tr->probs);
    tr->work = cnn_encoder_work_new(tr->m->image, (size_t)o->batch, 1, tr->pool);
    return !tr->grads || !tr->opt_a || (adamw && (!tr->opt_b || !tr->head_b)) ||
                   !tr->head_a || !tr->head_grads || !tr->probs || !tr->work
               ? -1
               : 0;
}

shelf_status train_image_model(shelf_model *m, const shelf_catalog *train,
                               const shelf_catalog *valid, shelf_train_options *o,
                               int fused, shelf_error *err)
{
    /* the options' table, in train/options.c; epochs from the catalog's size */
    uint64_t products = shelf_catalog_size(train); /* a distributed run: every rank's */
    if (comm_sum(o->comm, &products, 1, SHELF_COMM_U64))
        return err_set(err, SHELF_EIO, "another rank stopped the run");
    shelf_status st = options_check_image(o, (size_t)products, err);
    if (st != SHELF_OK)
        return st;
    st = check_memory(train, valid, o, err); /* each rank its own share */
    st = comm_agree_status(o->comm, st, NULL, err);
    if (st != SHELF_OK)
        return st;
    /* the ranks share the batch: another count of them is another run */
    const uint64_t options = train_options_fingerprint(o, valid ? shelf_catalog_size(valid)
                                                                : 0) ^
                             (uint64_t)comm_ranks(o->comm) * 0x9e3779b97f4a7c15ull;
    if (comm_ranks(o->comm) > 1) /* the ranks' batches make one of the size asked for */
        o->batch = (o->batch + comm_ranks(o->comm) - 1) / comm_ranks(o->comm);
    trainer tr = {.m = m, .o = o, .pool = pool_new(o->threads), .started = now_sec(),
                  .options = options};
    labelled_images vd = {0};
    long skipped = 0, vskipped = 0;
    int F = 0, K = 0;
    label_head *h = &m->image_head;
    m->modality = fused ? SHELF_MODALITY_BOTH : SHELF_MODALITY_IMAGE;
    if (!tr.pool || !(tr.enc = cnn_encoder_new(o->image_size, o->width)))
        st = err_set(err, SHELF_ENOMEM, "out of memory for the network");
    else
        m->image = &tr.enc->base; /* load_images reads the size from it */
    /* a rank that failed on its own tells the others before each collective below */
    st = comm_agree_status(o->comm, st, NULL, err);
    if (st != SHELF_OK || (st = vocab_share(m, train, o->comm, err)) != SHELF_OK)
        goto done; /* every rank's labels */
    st = load_images(&tr.train, m, train, 1, o->read.skip_bad, fused, tr.pool, &skipped, err);
    if (st == SHELF_OK && valid)
        st = load_images(&vd, m, valid, 0, o->read.skip_bad, fused, tr.pool, &vskipped, err);
    F = tr.enc->net.feat, K = model_num_labels(m);
    if (st == SHELF_OK && (label_head_alloc(h, (size_t)F, K) || model_build_taxonomy(m)))
        st = err_set(err, SHELF_ENOMEM, "out of memory for the network");
    st = comm_agree_status(o->comm, st, NULL, err);
    if (st != SHELF_OK)
        goto done;
    rng r; /* the network, then its classifier, as PyTorch's would be initialized */
    rng_seed(&r, o->seed);
    const encoder_batch all = {.n = tr.train.n, .pixels = tr.train.set.pix,
                               .rows = tr.train.index};
    const encoder_setup setup = {&all, o, o->threads, &r, NULL};
    if ((st = m->image->ops->train_begin(m->image, &setup, err)) != SHELF_OK)
        goto done;
    cnn_reset_linear(h->w, h->b, F, K, &r);
    if (alloc_training(&tr) ||
        balance_init(&tr.bal, o->balance, o->balance_power, (const uint32_t *)tr.train.y,
                     tr.train.n, (int)m->labels.n))
        st = err_set(err, SHELF_ENOMEM, "out of memory for training");
    st = comm_agree_status(o->comm, st, NULL, err);
    if (st != SHELF_OK)
        goto done;
    tr.lopt = (image_loss){o->balance == SHELF_BALANCE_WEIGHT ? tr.bal.weight : NULL,
                           o->label_smoothing};
    tr.catalog = images_fingerprint(&tr, train);
    if (comm_sum(o->comm, &tr.catalog, 1, SHELF_COMM_U64)) {
        st = err_set(err, SHELF_EIO, "another rank stopped the run");
        goto done;
    }
    if (o->resume)
        st = resume_from(&tr, o->resume, err);
    st = comm_agree_status(o->comm, st, "could not resume the run", err);
    if (st != SHELF_OK)
        goto done;
    m->info.skipped_images = skipped; /* validation products skipped are not trained on */
    st = train_epochs(&tr, valid, valid ? &vd : NULL, err);
done:
    free_training(&tr); /* first: the work area may be preparing a batch of tr.train */
    if (m->image)
        m->image->ops->train_end(m->image);
    labelled_free(&tr.train);
    labelled_free(&vd);
    balance_free(&tr.bal);
    pool_free(tr.pool);
    return st;
}
