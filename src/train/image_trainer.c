/* Training of image models: the training images decoded once into memory at the model's
 * size, then epochs of shuffled mini-batches, each augmented, through the CNN forward and
 * backward and an optimizer step, with the learning rate following a schedule. Every phase
 * runs on all threads; BLAS runs single-threaded inside them. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/error.h"
#include "core/mem.h"
#include "core/rng.h"
#include "image/augment.h"
#include "image/image_set.h"
#include "model/model.h"
#include "nn/optim.h"
#include "nn/schedule.h"
#include "train/balance.h"
#include "train/image_trainer.h"
#include "train/options.h"


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
    st = image_set_load(&d->set, shelf_catalog_path(c), refs, lines, NULL, n, m->net.size, pool,
                        err);
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

/* Mean and standard deviation per channel of pixel / 255 over all training images, as the
 * peers compute them (population deviation). */
static void channel_stats(const labelled_images *d, int size, float mean[3], float std[3])
{
    double s[3] = {0}, ss[3] = {0};
    size_t px = (size_t)size * size;
    for (size_t i = 0; i < d->n; i++) {
        const unsigned char *p = d->set.pix + d->index[i] * px * 3;
        long a[3] = {0}, aa[3] = {0};
        for (size_t j = 0; j < px; j++)
            for (int c = 0; c < 3; c++) {
                long v = p[j * 3 + c];
                a[c] += v;
                aa[c] += v * v;
            }
        for (int c = 0; c < 3; c++) {
            s[c] += (double)a[c];
            ss[c] += (double)aa[c];
        }
    }
    double count = (double)d->n * (double)px;
    for (int c = 0; c < 3; c++) {
        double mu = s[c] / count, var = ss[c] / count - mu * mu;
        mean[c] = (float)(mu / 255);
        std[c] = var > 1e-6 ? (float)(sqrt(var) / 255) : 1.0f;
    }
}

/* ---- one step ------------------------------------------------------------------------- */

typedef struct trainer {
    shelf_model *m;
    const shelf_train_options *o;
    thread_pool *pool;
    cnn_work w;
    labelled_images train;
    float *opt_a, *opt_b; /* AdamW: first and second moments; SGD: velocity */
    long step;
    uint32_t *order;
    int batch_y[1024];
    /* the batch being filled */
    const uint32_t *rows;
    int nb, epoch;
    long first; /* position of the batch's first image in the epoch */
    float lr, momentum;
    double started;
    balance bal;   /* --balance over the training images */
    cnn_loss loss; /* class weights (--balance weight) and label smoothing */
} trainer;

static void run_fill_batch(void *arg, int tid, int nthreads)
{
    trainer *tr = arg;
    const shelf_model *m = tr->m;
    int S = m->net.size;
    size_t i0, i1, plane = (size_t)S * S;
    pool_split((size_t)tr->nb, tid, nthreads, &i0, &i1);
    for (size_t i = i0; i < i1; i++) {
        rng r; /* seeded per image and epoch: the same run on any number of threads */
        rng_seed(&r, tr->o->seed * 0x9e3779b97f4a7c15ULL + (uint64_t)tr->epoch * 0x100000001ULL +
                         (uint64_t)(tr->first + (long)i));
        size_t row = tr->train.index[tr->rows[i]];
        augment_to_tensor(tr->train.set.pix + row * plane * 3, S, m->img.augment, &r,
                          m->img.mean, m->img.std, tr->w.x + i * plane,
                          (long)(plane * (size_t)tr->nb));
    }
}

static void run_optimizer(void *arg, int tid, int nthreads)
{
    trainer *tr = arg;
    shelf_model *m = tr->m;
    size_t i0, i1;
    pool_split(m->net.nparams, tid, nthreads, &i0, &i1);
    if (m->img.optimizer == SHELF_OPTIMIZER_SGD)
        sgd_step(m->net.params, tr->w.grads, tr->opt_a, i0, i1, tr->lr, tr->momentum,
                 m->img.weight_decay, tr->step);
    else
        adamw_step(m->net.params, tr->w.grads, tr->opt_a, tr->opt_b, i0, i1, tr->lr,
                   tr->momentum, 0.999f, 1e-8f, m->img.weight_decay, tr->step);
}

/* Top-1 accuracy of the current network on the validation images. */
static double valid_accuracy(trainer *tr, const labelled_images *v, float *probs)
{
    const cnn *net = &tr->m->net;
    size_t K = (size_t)net->nlabels, correct = 0;
    image_model_probs(net, &tr->m->img, &tr->w, tr->pool, v->set.pix, v->set.n, probs);
    for (size_t i = 0; i < v->n; i++) {
        int best;
        float p;
        model_top_k(probs + (size_t)v->index[i] * K, (int)K, 1, &best, &p);
        correct += v->y[i] == best;
    }
    return v->n ? (double)correct / (double)v->n : 0;
}

static void report(trainer *tr, int epoch, double fraction, double t0, double done_images,
                   double loss, double acc)
{
    if (!tr->o->progress)
        return;
    double el = now_sec() - t0;
    shelf_progress p = {epoch + 1, tr->o->epochs, fraction, done_images / (el > 0 ? el : 1),
                        loss, fraction > 0 ? el * (1 - fraction) / fraction : 0, acc};
    tr->o->progress(&p, tr->o->progress_user);
}

static shelf_status check_image_options(shelf_train_options *o, shelf_error *err)
{
    return options_check_image(o, err); /* the options' table, in train/options.c */
}

static shelf_status train_epochs(trainer *tr, const labelled_images *valid, shelf_error *err)
{
    shelf_model *m = tr->m;
    const shelf_train_options *o = tr->o;
    size_t n = tr->train.n, nparams = m->net.nparams;
    const uint32_t *y = (const uint32_t *)tr->train.y; /* training labels are all >= 0 */
    size_t per_epoch = balance_epoch_size(&tr->bal, y);
    long steps_per_epoch = (long)((per_epoch + (size_t)o->batch - 1) / (size_t)o->batch);
    schedule sch = {(schedule_kind)(o->schedule == SHELF_SCHEDULE_ONECYCLE ? SCHEDULE_ONECYCLE
                                    : o->schedule == SHELF_SCHEDULE_COSINE ? SCHEDULE_COSINE
                                                                           : SCHEDULE_CONSTANT),
                    o->lr, 0.9f, steps_per_epoch * o->epochs, 0};
    if (sch.kind == SCHEDULE_COSINE)
        sch.warmup_steps = steps_per_epoch / 2;
    float *probs = valid ? mem_alloc((valid->set.n + 1) * (size_t)m->net.nlabels * sizeof *probs)
                         : NULL;
    float *best = valid ? mem_alloc((nparams + m->net.nstats) * sizeof *best) : NULL;
    if (valid && (!probs || !best)) {
        mem_free(probs);
        mem_free(best);
        return err_set(err, SHELF_ENOMEM, "out of memory");
    }
    rng r;
    rng_seed(&r, o->seed);
    double t0 = now_sec(), last = t0, best_acc = -1, fit = 0;
    for (int epoch = 0; epoch < o->epochs; epoch++) {
        if (tr->bal.mode == SHELF_BALANCE_NONE || tr->bal.mode == SHELF_BALANCE_WEIGHT)
            rng_shuffle_u32(&r, tr->order, n);
        else /* re-drawn each epoch */
            n = balance_epoch(&tr->bal, y, &r, tr->order);
        double loss_sum = 0;
        size_t seen = 0;
        tr->epoch = epoch;
        double e0 = now_sec();
        for (size_t b = 0; b < n; b += (size_t)o->batch) {
            tr->nb = (int)(n - b < (size_t)o->batch ? n - b : (size_t)o->batch);
            const conv_shape *last_conv = &m->net.conv[CNN_CONVS - 1];
            if (tr->nb * last_conv->ho * last_conv->wo == 1)
                break; /* one value per channel: batch norm cannot train on it (PyTorch
                          refuses it); the last lone image waits for the next epoch */
            tr->rows = tr->order + b;
            tr->first = (long)b;
            for (int i = 0; i < tr->nb; i++)
                tr->batch_y[i] = tr->train.y[tr->rows[i]];
            pool_run(tr->pool, run_fill_batch, tr);
            double loss = cnn_forward_train(&m->net, &tr->w, tr->pool, tr->nb, tr->batch_y);
            if (!isfinite(loss)) {
                mem_free(probs);
                mem_free(best);
                return err_set(err, SHELF_EDATA, "training diverged in epoch %d (the loss is "
                               "%g); use a lower --lr", epoch + 1, loss);
            }
            loss_sum += loss * tr->nb;
            seen += (size_t)tr->nb;
            cnn_backward(&m->net, &tr->w, tr->pool, tr->nb, tr->batch_y, &tr->loss);
            schedule_at(&sch, tr->step, &tr->lr, &tr->momentum);
            tr->step++;
            pool_run(tr->pool, run_optimizer, tr);
            if (now_sec() - last >= 1.0) {
                last = now_sec();
                report(tr, epoch, (double)(epoch * (long)n + (long)seen) / ((double)n * o->epochs),
                       t0, (double)(epoch * (long)n + (long)seen), loss_sum / (double)seen, -1);
            }
        }
        fit += now_sec() - e0;
        double acc = valid ? valid_accuracy(tr, valid, probs) : -1;
        report(tr, epoch, (double)(epoch + 1) / o->epochs, t0, (double)(epoch + 1) * (double)n,
               loss_sum / (double)(seen ? seen : 1), acc);
        if (valid && acc >= best_acc) { /* on a tie, the later epoch */
            best_acc = acc;
            memcpy(best, m->net.params, nparams * sizeof *best);
            memcpy(best + nparams, m->net.stats, m->net.nstats * sizeof *best);
            m->info.epochs = epoch + 1;
        }
    }
    m->info.fit_seconds = fit;
    m->info.epochs_planned = o->epochs;
    m->info.lr = o->lr;
    m->info.train_seconds = now_sec() - tr->started;
    if (valid) {
        memcpy(m->net.params, best, nparams * sizeof *best);
        memcpy(m->net.stats, best + nparams, m->net.nstats * sizeof *best);
        m->info.valid_accuracy = best_acc;
    } else {
        m->info.epochs = o->epochs;
    }
    mem_free(probs);
    mem_free(best);
    return SHELF_OK;
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
    cnn probe;
    if (cnn_init(&probe, o->image_size, o->width, 1))
        return err_set(err, SHELF_ENOMEM, "out of memory for the network");
    int threads = o->threads > 0 ? o->threads : pool_cores();
    double images = (double)shelf_catalog_size(train) +
                    (valid ? (double)shelf_catalog_size(valid) : 0),
           need = images * o->image_size * o->image_size * 3 +
                  cnn_work_bytes(&probe, o->batch, threads, 1),
           have = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
    cnn_free(&probe);
    if (have > 0 && need > 0.6 * have)
        return err_set(err, SHELF_ENOMEM,
                       "training at %dx%d, width %d, batch %d needs %.1f GB of memory, more than "
                       "this machine can spare (%.1f GB in all); use a smaller --image-size, "
                       "--width or --batch", o->image_size, o->image_size, o->width, o->batch,
                       need / 1e9, have / 1e9);
    return SHELF_OK;
}

shelf_status train_image_model(shelf_model *m, const shelf_catalog *train,
                               const shelf_catalog *valid, shelf_train_options *o,
                               int fused, shelf_error *err)
{
    shelf_status st = check_image_options(o, err);
    if (st != SHELF_OK)
        return st;
    if ((st = check_memory(train, valid, o, err)) != SHELF_OK)
        return st;
    trainer tr = {.m = m, .o = o, .pool = pool_new(o->threads), .started = now_sec()};
    labelled_images vd = {0};
    if (!tr.pool)
        return err_set(err, SHELF_ENOMEM, "out of memory");
    m->modality = fused ? SHELF_MODALITY_BOTH : SHELF_MODALITY_IMAGE;
    m->net.size = o->image_size; /* load_images reads the size from here */
    long skipped = 0, vskipped = 0;
    if ((st = load_images(&tr.train, m, train, 1, o->read.skip_bad, fused, tr.pool, &skipped,
                          err)))
        goto done;
    if (valid && (st = load_images(&vd, m, valid, 0, o->read.skip_bad, fused, tr.pool,
                                   &vskipped, err)))
        goto done;
    if (cnn_init(&m->net, o->image_size, o->width, (int)m->labels.n) ||
        model_build_taxonomy(m)) {
        st = err_set(err, SHELF_ENOMEM, "out of memory for the network");
        goto done;
    }
    cnn_reset(&m->net, o->seed);
    channel_stats(&tr.train, o->image_size, m->img.mean, m->img.std);
    m->img.augment = o->augment;
    m->img.batch = o->batch;
    m->img.optimizer = o->optimizer;
    m->img.schedule = o->schedule;
    m->img.weight_decay = o->weight_decay;
    size_t np = m->net.nparams;
    tr.order = mem_alloc(tr.train.n * sizeof *tr.order);
    tr.opt_a = mem_calloc(np, sizeof *tr.opt_a);
    tr.opt_b = o->optimizer == SHELF_OPTIMIZER_ADAMW ? mem_calloc(np, sizeof *tr.opt_b) : NULL;
    if (!tr.order || !tr.opt_a || (o->optimizer == SHELF_OPTIMIZER_ADAMW && !tr.opt_b) ||
        cnn_work_init(&tr.w, &m->net, o->batch, pool_threads(tr.pool), 1)) {
        st = err_set(err, SHELF_ENOMEM, "out of memory for training");
        goto done;
    }
    for (size_t i = 0; i < tr.train.n; i++)
        tr.order[i] = (uint32_t)i;
    if (balance_init(&tr.bal, o->balance, o->balance_power, (const uint32_t *)tr.train.y,
                     tr.train.n, (int)m->labels.n)) {
        st = err_set(err, SHELF_ENOMEM, "out of memory");
        goto done;
    }
    tr.loss = (cnn_loss){o->balance == SHELF_BALANCE_WEIGHT ? tr.bal.weight : NULL,
                         o->label_smoothing};
    m->info.skipped_images = skipped; /* validation products skipped are not trained on */
    st = train_epochs(&tr, valid ? &vd : NULL, err);
done:
    labelled_free(&tr.train);
    labelled_free(&vd);
    cnn_work_free(&tr.w);
    balance_free(&tr.bal);
    mem_free(tr.order);
    mem_free(tr.opt_a);
    mem_free(tr.opt_b);
    pool_free(tr.pool);
    return st;
}
