/* Training of the bag of n-grams and its label head: Hogwild SGD (every thread updates the
 * shared weights without locks, on its shard of the epoch), softmax cross-entropy with a
 * margin, the learning rate decaying linearly to zero over the run; epochs, validation and
 * keep-best are the loop's (train/loop.h). */
#include "train/bag_trainer.h"

#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "core/error.h"
#include "core/mem.h"
#include "core/rng.h"
#include "nn/linear.h"
#include "nn/softmax.h"
#include "nn/sparse_linear.h"
#include "train/loop.h"
#include "train/vcache.h"
#include "train/vocab.h"

/* The margin by which training wants the true label's logit ahead of the others: the
 * softmax then keeps pushing on examples it already gets right but narrowly, as a linear
 * SVM would (additive-margin softmax). On the five benchmarks' validation splits a margin
 * of 2-4 beats none by about 0.2 points of mean accuracy (docs/benchmarks.md). */
static const float MARGIN = 3.0f;
static const size_t VCACHE_BUDGET = (size_t)256 << 20;
/* Classes whose gradient is below this are left alone in a step: with hundreds of labels
 * nearly all probabilities are tiny, and skipping them makes a step cost O(active). */
static const float GRAD_EPS = 1e-5f;
/* Epochs without a better validation accuracy before stopping: validation sets are small
 * and their accuracy noisy, so one bad epoch says little. */
enum { PATIENCE = 4 };

typedef struct worker {
    vec_scratch vs;
    sparse_vec x;
    float *probs, *z, *hidden, *dhidden;
    int *active;
} worker;

typedef struct bag_trainer {
    shelf_model *m;
    const shelf_catalog *train;
    bag_encoder *bag;
    label_head *head;
    const uint32_t *y;
    balance bal;
    float smoothing, lr;
    vcache cache;
    int cached;
    long total_steps;
    atomic_long done_steps;
    worker workers[LOOP_MAX_THREADS];
    int nworkers;
} bag_trainer;

static float sgd_step(bag_trainer *tr, worker *w, const sparse_vec *x, int y, float lr)
{
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

/* Thread tid's shard: each product in turn, its vector from the cache or made here. */
static int bag_step(void *ctx, int tid, const uint32_t *rows, size_t n, int epoch, size_t first,
                    loop_meter *meter)
{
    (void)epoch;
    (void)first;
    bag_trainer *tr = ctx;
    worker *w = &tr->workers[tid];
    const bag_encoder *bag = tr->bag;
    double loss = 0;
    long count = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t p = rows[i];
        sparse_vec *x = &w->x, cached;
        if (tr->cached) {
            vcache_get(&tr->cache, p, &cached);
            x = &cached;
        } else {
            const char *t = shelf_catalog_get(tr->train, p)->text;
            if (bag_vectorize(bag, &w->vs, x, t, strlen(t), bag->dim ? bag->emb : tr->head->w,
                              bag->dim ? (size_t)bag->dim : (size_t)tr->head->out))
                return -1;
        }
        long step = atomic_fetch_add_explicit(&tr->done_steps, 1, memory_order_relaxed);
        float lr = tr->lr * (1.0f - (float)step / (float)tr->total_steps);
        loss += sgd_step(tr, w, x, (int)tr->y[p], lr > 0 ? lr : 0);
        if (++count % 256 == 0) {
            atomic_store_explicit(&meter->loss, loss, memory_order_relaxed);
            atomic_store_explicit(&meter->count, count, memory_order_relaxed);
        }
    }
    atomic_store(&meter->loss, loss);
    atomic_store(&meter->count, count);
    return 0;
}

static int worker_init(worker *w, const bag_trainer *tr)
{
    memset(w, 0, sizeof *w);
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

/* The head, random embeddings, the balance and the cache of training vectors. */
static shelf_status prepare(bag_trainer *tr, const shelf_train_options *o, shelf_error *err)
{
    shelf_model *m = tr->m;
    size_t n = shelf_catalog_size(tr->train);
    if (label_head_alloc(tr->head, encoder_width(&tr->bag->base), model_num_nodes(m)))
        return err_set(err, SHELF_ENOMEM, "out of memory for the label head");
    if (balance_init(&tr->bal, o->balance, o->balance_power, tr->y, n, model_num_labels(m)))
        return err_set(err, SHELF_ENOMEM, "out of memory");
    tr->smoothing = o->label_smoothing;
    tr->lr = o->lr;
    tr->total_steps = (long)balance_epoch_size(&tr->bal, tr->y) * o->epochs;
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
    tr->cached = vcache_build(&tr->cache, bag, tr->train, o->threads, VCACHE_BUDGET);
    if (tr->cached < 0)
        return err_set(err, SHELF_ENOMEM, "out of memory caching training vectors");
    for (; tr->nworkers < o->threads && tr->nworkers < LOOP_MAX_THREADS; tr->nworkers++)
        if (worker_init(&tr->workers[tr->nworkers], tr)) {
            worker_free(&tr->workers[tr->nworkers]);
            return err_set(err, SHELF_ENOMEM, "out of memory for training threads");
        }
    return SHELF_OK;
}

shelf_status train_bag_model(shelf_model *m, const shelf_catalog *train,
                             const shelf_catalog *valid, const shelf_train_options *o,
                             shelf_error *err)
{
    const size_t n = shelf_catalog_size(train);
    const feat_config feat = {o->ngrams, o->minn, o->maxn, (uint32_t)o->buckets};
    bag_encoder *bag = bag_encoder_new(&feat, o->dim);
    uint32_t *y = mem_alloc((n + 1) * sizeof *y);
    if (!bag || !y) {
        encoder_free(bag ? &bag->base : NULL);
        mem_free(y);
        return err_set(err, SHELF_ENOMEM, "out of memory");
    }
    m->text = &bag->base;
    bag_trainer tr = {.m = m, .train = train, .bag = bag, .head = &m->text_head, .y = y};
    shelf_status st = vocab_build(m, bag, train, o->threads, y, err);
    if (st == SHELF_OK)
        st = prepare(&tr, o, err);
    if (st == SHELF_OK) {
        trainee t = {.ctx = &tr, .hogwild = 1, .step = bag_step};
        trainee_keep(&t, &bag->base, tr.head);
        loop_options lo = {m, valid, y, n, &tr.bal, o->epochs, o->threads, PATIENCE, o->seed,
                           o->progress, o->progress_user};
        loop_result res;
        st = train_loop(&t, &lo, &res, err);
        m->info.epochs = res.epochs;
        m->info.valid_accuracy = res.valid_accuracy;
    }
    for (int t = 0; t < tr.nworkers; t++)
        worker_free(&tr.workers[t]);
    vcache_free(&tr.cache);
    balance_free(&tr.bal);
    mem_free(y);
    return st;
}
