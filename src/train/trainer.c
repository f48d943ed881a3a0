/* The training loop: Hogwild SGD over shuffled products on all threads, softmax
 * cross-entropy, learning rate decaying linearly to zero, validation after each epoch with
 * early stopping that keeps the best epoch's weights. */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/error.h"
#include "core/mem.h"
#include "core/rng.h"
#include "model/model.h"
#include "nn/linear.h"
#include "nn/softmax.h"
#include "nn/sparse_linear.h"
#include "train/balance.h"
#include "train/calibrate.h"
#include "train/fused_trainer.h"
#include "train/image_trainer.h"
#include "train/seq_trainer.h"
#include "train/vcache.h"
#include "train/vocab.h"

/* Epochs without a better validation accuracy before stopping: validation sets are small
 * and their accuracy noisy, so one bad epoch says little. */
enum { MAX_THREADS = 64, PATIENCE = 4 };
/* The margin by which training wants the true label's logit ahead of the others: the
 * softmax then keeps pushing on examples it already gets right but narrowly, as a linear
 * SVM would (additive-margin softmax). On the five benchmarks' validation splits a margin
 * of 2-4 beats none by about 0.2 points of mean accuracy (docs/benchmarks.md). */
static const float MARGIN = 3.0f;
static const size_t VCACHE_BUDGET = (size_t)256 << 20;
/* Classes whose gradient is below this are left alone in a step: with hundreds of labels
 * nearly all probabilities are tiny, and skipping them makes a step cost O(active). */
static const float GRAD_EPS = 1e-5f;

typedef struct trainer {
    shelf_model *m;
    bag_encoder *bag;
    label_head *head;
    const shelf_catalog *train;
    const uint32_t *y;
    uint32_t *order;
    size_t norder;       /* products in this epoch's order */
    balance bal;
    float smoothing;
    vcache cache;
    int cached, threads, epochs;
    float lr;
    long total_steps;
    atomic_long done_steps;
} trainer;

typedef struct worker {
    trainer *tr;
    size_t from, to; /* slice of tr->order */
    int epoch;
    vec_scratch vs;
    sparse_vec x;
    float *probs, *z, *hidden, *dhidden;
    int *active;
    _Atomic double loss;
    atomic_long count;
    int failed;
} worker;

static float sgd_step(worker *w, const sparse_vec *x, int y, float lr)
{
    const trainer *tr = w->tr;
    const shelf_model *m = tr->m;
    const bag_encoder *bag = tr->bag;
    label_head *h = tr->head;
    int K = model_num_labels(m), N = model_num_nodes(m), nact = N;
    if (bag->dim)
        bag_embed(bag, x, w->hidden);
    encoder_features f = {1, encoder_width(&bag->base), bag->dim ? w->hidden : NULL,
                          bag->dim ? NULL : x, NULL, NULL, 0};
    label_head_forward(h, &f, m->hierarchical ? w->z : w->probs); /* flat: nodes are labels */
    if (m->hierarchical)
        taxonomy_leaf_logits(&m->tax, w->z, w->probs);
    w->probs[y] -= MARGIN;
    softmax_forward(w->probs, w->probs, K);
    float loss = softmax_xent_backward(w->probs, w->probs, y, K);
    float eps = tr->smoothing, weight = tr->bal.weight[y];
    if (eps > 0) { /* the target is (1 - eps) onehot + eps / K */
        for (int k = 0; k < K; k++)
            w->probs[k] -= eps / (float)K;
        w->probs[y] += eps;
    }
    if (weight != 1.0f) {
        for (int k = 0; k < K; k++)
            w->probs[k] *= weight;
        loss *= weight;
    }
    float *dz = w->probs; /* flat: the nodes are the labels */
    if (m->hierarchical) {
        taxonomy_node_grads(&m->tax, w->probs, w->z);
        dz = w->z;
    }
    int *active = NULL;
    if (N > 32) {
        active = w->active;
        nact = 0;
        for (int k = 0; k < N; k++)
            if (fabsf(dz[k]) > GRAD_EPS)
                active[nact++] = k;
    }
    if (!bag->dim) {
        sparse_linear_sgd(h->w, h->b, dz, active, nact, x->rows, x->vals, x->n, N, lr);
        return loss;
    }
    linear_sgd(h->w, h->b, w->dhidden, dz, active, nact, w->hidden, bag->dim, N, lr);
    sparse_linear_sgd(bag->emb, NULL, w->dhidden, NULL, 0, x->rows, x->vals, x->n, bag->dim,
                      lr);
    return loss;
}

static void *worker_run(void *arg)
{
    worker *w = arg;
    trainer *tr = w->tr;
    double loss = 0;
    long count = 0;
    for (size_t i = w->from; i < w->to; i++) {
        uint32_t p = tr->order[i];
        sparse_vec *x = &w->x, cached;
        if (tr->cached) {
            vcache_get(&tr->cache, p, &cached);
            x = &cached;
        } else {
            const char *t = shelf_catalog_get(tr->train, p)->text;
            if (bag_vectorize(tr->bag, &w->vs, x, t, strlen(t),
                              tr->bag->dim ? tr->bag->emb : tr->head->w,
                              tr->bag->dim ? (size_t)tr->bag->dim : (size_t)tr->head->out)) {
                w->failed = 1;
                break;
            }
        }
        long step = atomic_fetch_add_explicit(&tr->done_steps, 1, memory_order_relaxed);
        float lr = tr->lr * (1.0f - (float)step / (float)tr->total_steps);
        loss += sgd_step(w, x, (int)tr->y[p], lr > 0 ? lr : 0);
        if (++count % 256 == 0) {
            atomic_store_explicit(&w->loss, loss, memory_order_relaxed);
            atomic_store_explicit(&w->count, count, memory_order_relaxed);
        }
    }
    atomic_store(&w->loss, loss);
    atomic_store(&w->count, count);
    return NULL;
}

static int worker_init(worker *w, trainer *tr)
{
    memset(w, 0, sizeof *w);
    w->tr = tr;
    size_t K = (size_t)model_num_labels(tr->m), N = (size_t)model_num_nodes(tr->m);
    size_t D = (size_t)(tr->bag->dim ? tr->bag->dim : 1);
    w->probs = mem_alloc(K * sizeof *w->probs);
    w->z = mem_alloc(N * sizeof *w->z);
    w->active = mem_alloc(N * sizeof *w->active);
    w->hidden = mem_alloc(D * sizeof *w->hidden);
    w->dhidden = mem_alloc(D * sizeof *w->dhidden);
    int ok = w->probs && w->z && w->active && w->hidden && w->dhidden;
    return ok && vec_scratch_init(&w->vs, tr->bag->nrows) == 0 ? 0 : -1;
}

static void worker_free(worker *w)
{
    vec_scratch_free(&w->vs);
    sparse_vec_free(&w->x);
    mem_free(w->probs);
    mem_free(w->z);
    mem_free(w->active);
    mem_free(w->hidden);
    mem_free(w->dhidden);
}

/* Reports progress about once a second until every worker has finished the epoch. */
/* Tells the caller's progress function where training stands. */
static void report_progress(const trainer *tr, const shelf_train_options *o, int epoch,
                            double t0, double loss, double valid_accuracy)
{
    if (!o->progress)
        return;
    double done = (double)atomic_load(&tr->done_steps), el = now_sec() - t0;
    shelf_progress p = {epoch + 1, tr->epochs, done / (double)tr->total_steps, done / el, loss,
                        el * ((double)tr->total_steps - done) / (done > 0 ? done : 1),
                        valid_accuracy};
    o->progress(&p, o->progress_user);
}

static void watch_epoch(trainer *tr, worker *ws, pthread_t *tid, const int *started,
                        const shelf_train_options *o, int epoch, double t0)
{
    double last = now_sec();
    for (int t = 0; t < tr->threads; t++) {
        while (started[t] && o->progress && pthread_tryjoin_np(tid[t], NULL) != 0) {
            usleep(20000);
            if (now_sec() - last < 1.0)
                continue;
            last = now_sec();
            double loss = 0, count = 0;
            for (int u = 0; u < tr->threads; u++) {
                loss += atomic_load(&ws[u].loss);
                count += (double)atomic_load(&ws[u].count);
            }
            report_progress(tr, o, epoch, t0, count ? loss / count : 0, -1);
        }
        if (started[t] && !o->progress)
            pthread_join(tid[t], NULL);
    }
}

/* One epoch over a fresh shuffle. Returns the mean loss, or -1 when out of memory. */
static double run_epoch(trainer *tr, worker *ws, rng *r, const shelf_train_options *o,
                        int epoch, double t0)
{
    size_t n = shelf_catalog_size(tr->train);
    if (tr->bal.mode == SHELF_BALANCE_NONE || tr->bal.mode == SHELF_BALANCE_WEIGHT)
        rng_shuffle_u32(r, tr->order, n);
    else /* re-drawn each epoch */
        n = balance_epoch(&tr->bal, tr->y, r, tr->order);
    tr->norder = n;
    pthread_t tid[MAX_THREADS];
    int started[MAX_THREADS] = {0};
    for (int t = 0; t < tr->threads; t++) {
        worker *w = &ws[t];
        w->from = n * (size_t)t / (size_t)tr->threads;
        w->to = n * (size_t)(t + 1) / (size_t)tr->threads;
        w->epoch = epoch;
        atomic_store(&w->loss, 0);
        atomic_store(&w->count, 0);
        if (tr->threads == 1 || pthread_create(&tid[t], NULL, worker_run, w) != 0)
            worker_run(w); /* one thread, or no thread to be had: run it here */
        else
            started[t] = 1;
    }
    watch_epoch(tr, ws, tid, started, o, epoch, t0);
    double loss = 0, count = 0;
    for (int t = 0; t < tr->threads; t++) {
        if (ws[t].failed)
            return -1;
        loss += atomic_load(&ws[t].loss);
        count += (double)atomic_load(&ws[t].count);
    }
    return count ? loss / count : 0;
}

double train_accuracy(const shelf_model *m, const shelf_catalog *cat, int threads)
{
    size_t n = shelf_catalog_size(cat), correct = 0;
    const char **texts = mem_alloc(n * sizeof *texts);
    int *labels = mem_alloc(n * sizeof *labels), *counts = mem_alloc(n * sizeof *counts);
    float *probs = mem_alloc(n * sizeof *probs);
    double acc = -1;
    if (texts && labels && counts && probs) {
        for (size_t i = 0; i < n; i++)
            texts[i] = shelf_catalog_get(cat, i)->text;
        if (shelf_predict_batch(m, texts, n, 1, threads, labels, probs, counts, NULL) == 0) {
            for (size_t i = 0; i < n; i++)
                correct += counts[i] == 1 && strcmp(shelf_model_label(m, labels[i]),
                                                    shelf_catalog_get(cat, i)->label) == 0;
            acc = n ? (double)correct / (double)n : 0;
        }
    }
    mem_free(texts);
    mem_free(labels);
    mem_free(counts);
    mem_free(probs);
    return acc;
}

/* Epochs when the user gave none: small catalogs need many passes, large ones few (their
 * products repeat each other), growing with the square root of the size so that a larger
 * catalog still gets more updates in all. */
static int default_epochs(size_t n)
{
    double e = 15.0 * sqrt(10000.0 / (double)(n ? n : 1));
    return e < 3 ? 3 : e > 15 ? 15 : (int)lround(e);
}

static shelf_status prepare(trainer *tr, const shelf_train_options *o, shelf_error *err)
{
    shelf_model *m = tr->m;
    size_t n = shelf_catalog_size(tr->train);

    tr->order = mem_alloc(n * sizeof *tr->order);
    if (!tr->order || label_head_alloc(tr->head, encoder_width(&tr->bag->base), model_num_nodes(m)))
        return err_set(err, SHELF_ENOMEM, "out of memory for the label head");
    for (size_t i = 0; i < n; i++)
        tr->order[i] = (uint32_t)i;
    if (balance_init(&tr->bal, o->balance, o->balance_power, tr->y, n, model_num_labels(m)))
        return err_set(err, SHELF_ENOMEM, "out of memory");
    tr->smoothing = o->label_smoothing;
    tr->total_steps = (long)balance_epoch_size(&tr->bal, tr->y) * tr->epochs;
    if (tr->total_steps < 1)
        tr->total_steps = 1;
    const bag_encoder *bag = tr->bag;
    if (bag->dim) { /* embeddings start small and random, the output layer at zero */
        rng r;
        rng_seed(&r, o->seed ^ 0x5eed);
        float a = 1.0f / (float)bag->dim;
        for (size_t i = 0; i < (size_t)bag->nrows * (size_t)bag->dim; i++)
            bag->emb[i] = (2 * rng_float(&r) - 1) * a;
    }
    tr->cached = vcache_build(&tr->cache, bag, tr->train, tr->threads, VCACHE_BUDGET);
    if (tr->cached < 0)
        return err_set(err, SHELF_ENOMEM, "out of memory caching training vectors");
    return SHELF_OK;
}

/* Copies the bag's embeddings and the head into *best, allocated on first use. 0, or -1
 * out of memory. */
static int keep_params(const trainer *tr, float **best)
{
    size_t ne = 0, nh = tr->head->nparams;
    float *e = tr->bag->base.ops->params(&tr->bag->base, &ne);
    if (!*best && !(*best = mem_alloc((ne + nh) * sizeof **best)))
        return -1;
    if (ne)
        memcpy(*best, e, ne * sizeof **best);
    memcpy(*best + ne, tr->head->params, nh * sizeof **best);
    return 0;
}

static void restore_params(const trainer *tr, const float *best)
{
    size_t ne = 0;
    float *e = tr->bag->base.ops->params(&tr->bag->base, &ne);
    if (ne)
        memcpy(e, best, ne * sizeof *best);
    memcpy(tr->head->params, best + ne, tr->head->nparams * sizeof *best);
}

static shelf_status train_loop(trainer *tr, const shelf_catalog *valid,
                               const shelf_train_options *o, shelf_error *err)
{
    shelf_model *m = tr->m;
    worker ws[MAX_THREADS];
    float *best = NULL;
    double best_acc = -1, t0 = now_sec();
    int bad_epochs = 0, epoch = 0, nworkers = 0;
    rng r;
    rng_seed(&r, o->seed);
    shelf_status st = SHELF_OK;
    for (; nworkers < tr->threads; nworkers++)
        if (worker_init(&ws[nworkers], tr)) {
            worker_free(&ws[nworkers]);
            st = err_set(err, SHELF_ENOMEM, "out of memory for training threads");
            goto done;
        }
    for (epoch = 0; epoch < tr->epochs; epoch++) {
        double loss = run_epoch(tr, ws, &r, o, epoch, t0);
        if (loss < 0) {
            st = err_set(err, SHELF_ENOMEM, "out of memory during training");
            goto done;
        }
        double acc = valid ? train_accuracy(m, valid, tr->threads) : -1;
        if (valid && acc < 0) {
            st = err_set(err, SHELF_ENOMEM, "out of memory measuring validation accuracy");
            goto done;
        }
        report_progress(tr, o, epoch, t0, loss, acc);
        if (!valid)
            continue;
        if (acc >= best_acc) { /* on a tie, the later epoch: it ran at a lower rate */
            best_acc = acc;
            bad_epochs = 0;
            if (keep_params(tr, &best)) {
                st = err_set(err, SHELF_ENOMEM, "out of memory keeping the best epoch");
                goto done;
            }
            m->info.epochs = epoch + 1;
        } else if (++bad_epochs >= PATIENCE) {
            break;
        }
    }
    if (best)
        restore_params(tr, best);
    else
        m->info.epochs = epoch;
    m->info.valid_accuracy = best_acc;
done:
    for (int t = 0; t < nworkers; t++)
        worker_free(&ws[t]);
    mem_free(best);
    m->info.train_seconds = now_sec() - t0;
    return st;
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

/* The model's bag of n-grams with the options' settings, rows still to come. */
static shelf_status new_bag(shelf_model *m, const shelf_train_options *o, trainer *tr,
                            shelf_error *err)
{
    const feat_config feat = {o->ngrams, o->minn, o->maxn, (uint32_t)o->buckets};
    bag_encoder *bag = bag_encoder_new(&feat, o->dim);
    if (!bag)
        return err_set(err, SHELF_ENOMEM, "out of memory");
    m->text = &bag->base;
    tr->bag = bag;
    tr->head = &m->text_head;
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
    uint32_t *y = mem_alloc(n * sizeof *y);
    trainer tr = {.m = m, .train = train, .y = y, .threads = o.threads, .epochs = o.epochs,
                  .lr = o.lr, .total_steps = (long)n * o.epochs};
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
    } else if ((st = new_bag(m, &o, &tr, err)) != SHELF_OK ||
               (st = vocab_build(m, tr.bag, train, o.threads, y, err)) != SHELF_OK ||
               (st = prepare(&tr, &o, err)) != SHELF_OK ||
               (st = train_loop(&tr, valid, &o, err)) != SHELF_OK) {
        goto fail;
    }
    if ((st = finish_model(m, &o, n, valid, err)) != SHELF_OK)
        goto fail;
    *out = m;
    m = NULL;
fail:
    vcache_free(&tr.cache);
    balance_free(&tr.bal);
    mem_free(tr.order);
    mem_free(y);
    shelf_model_free(m);
    return st;
}
