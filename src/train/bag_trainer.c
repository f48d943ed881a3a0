/* Training of the bag of n-grams and its label head: Hogwild SGD (every thread updates the
 * shared weights without locks, on its shard of the epoch), softmax cross-entropy with a
 * margin, the learning rate decaying linearly to zero over the run; epochs, validation and
 * keep-best are the loop's (train/loop.h). */
#include "train/bag_trainer.h"

#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "core/comm.h"
#include "core/error.h"
#include "core/hash.h"
#include "core/mem.h"
#include "core/rng.h"
#include "model/bag_vocab.h"
#include "nn/linear.h"
#include "nn/softmax.h"
#include "nn/sparse_linear.h"
#include "train/checkpoint.h"
#include "train/loop.h"
#include "train/options.h"
#include "train/vocab.h"

/* The margin by which training wants the true label's logit ahead of the others: the
 * softmax then keeps pushing on examples it already gets right but narrowly, as a linear
 * SVM would (additive-margin softmax). On the five benchmarks' validation splits a margin
 * of 2-4 beats none by about 0.2 points of mean accuracy (docs/benchmarks.md). */
static const float MARGIN = 3.0f;
/* Classes whose gradient is below this are left alone in a step: with hundreds of labels
 * nearly all probabilities are tiny, and skipping them makes a step cost O(active). */
static const float GRAD_EPS = 1e-5f;
/* Epochs without a better validation accuracy before stopping: validation sets are small
 * and their accuracy noisy, so one bad epoch says little. */
enum { PATIENCE = 4 };

typedef struct worker {
    encoder_work *work; /* the encoder's, for one product */
    float *probs, *z;
    int *active;
} worker;

typedef struct bag_trainer {
    shelf_model *m;
    encoder *enc;       /* m->text */
    label_head *head;
    const uint32_t *y;
    balance bal;
    float smoothing, lr;
    long total_steps;
    atomic_long done_steps;
    worker workers[LOOP_MAX_THREADS];
    int nworkers;
    uint32_t *row_of; /* --init: each of its rows' row in the bag trained */
    const shelf_comm *comm;
    const char *checkpoint;      /* where each epoch's state goes, or NULL */
    const shelf_train_options *o;
    uint64_t catalog, options;   /* the run's fingerprints, kept in a checkpoint */
} bag_trainer;

/* Product p's features through the encoder, the head, the loss and back: SGD at rate lr.
 * Its loss into *loss; 0, or -1 out of memory. */
static int sgd_step(bag_trainer *tr, worker *w, uint32_t p, float lr, double *loss)
{
    const shelf_model *m = tr->m;
    encoder *e = tr->enc;
    label_head *h = tr->head;
    const int K = model_num_labels(m), N = model_num_nodes(m), y = (int)tr->y[p];
    const encoder_batch b = {.n = 1, .rows = &p, .next_rows = h->w, .next_stride = (size_t)N};
    encoder_features f;
    if (e->ops->forward_train(e, w->work, &b, &f))
        return -1;
    label_head_forward(h, &f, m->hierarchical ? w->z : w->probs); /* flat: nodes are labels */
    if (m->hierarchical)
        taxonomy_leaf_logits(&m->tax, w->z, w->probs);
    w->probs[y] -= MARGIN;
    softmax_forward(w->probs, w->probs, K);
    float l = softmax_xent_backward(w->probs, w->probs, y, K);
    float eps = tr->smoothing, weight = tr->bal.weight[y];
    if (eps > 0) { /* the target is (1 - eps) onehot + eps / K */
        for (int k = 0; k < K; k++)
            w->probs[k] -= eps / (float)K;
        w->probs[y] += eps;
    }
    if (weight != 1.0f) {
        for (int k = 0; k < K; k++)
            w->probs[k] *= weight;
        l *= weight;
    }
    *loss += l;
    float *dz = w->probs; /* flat: the nodes are the labels */
    if (m->hierarchical) {
        taxonomy_node_grads(&m->tax, w->probs, w->z);
        dz = w->z;
    }
    int *active = NULL, nact = N;
    if (N > 32) {
        active = w->active;
        nact = 0;
        for (int k = 0; k < N; k++)
            if (fabsf(dz[k]) > GRAD_EPS)
                active[nact++] = k;
    }
    if (f.sparse) {
        const sparse_vec *x = &f.sparse[0];
        sparse_linear_sgd(h->w, h->b, dz, active, nact, x->rows, x->vals, x->n, N, lr);
        return 0;
    }
    linear_sgd(h->w, h->b, f.grad, dz, active, nact, f.dense, (int)f.width, N, lr);
    return e->ops->backward(e, w->work, &(encoder_update){.lr = lr});
}

/* Thread tid's shard: each product in turn. */
static int bag_step(void *ctx, int tid, const uint32_t *rows, size_t n, int epoch, size_t first,
                    loop_meter *meter)
{
    (void)epoch;
    (void)first;
    bag_trainer *tr = ctx;
    worker *w = &tr->workers[tid];
    double loss = 0;
    long count = 0;
    for (size_t i = 0; i < n; i++) {
        long step = atomic_fetch_add_explicit(&tr->done_steps, 1, memory_order_relaxed);
        float lr = tr->lr * (1.0f - (float)step / (float)tr->total_steps);
        if (sgd_step(tr, w, rows[i], lr > 0 ? lr : 0, &loss))
            return -1;
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
    w->probs = mem_alloc(K * sizeof *w->probs);
    w->z = mem_alloc(N * sizeof *w->z);
    w->active = mem_alloc(N * sizeof *w->active);
    w->work = tr->enc->ops->work_new(tr->enc, 1, 1);
    return w->probs && w->z && w->active && w->work ? 0 : -1;
}

static void worker_free(const bag_trainer *tr, worker *w)
{
    if (w->work)
        tr->enc->ops->work_free(w->work);
    mem_free(w->probs);
    mem_free(w->z);
    mem_free(w->active);
}

/* The encoder's start (vocabulary, random embeddings, its cache of training vectors), the
 * head, the balance and the workers. */
static shelf_status prepare(bag_trainer *tr, size_t n, const shelf_train_options *o,
                            const char *const *texts, uint64_t *seen, shelf_error *err)
{
    shelf_model *m = tr->m;
    const encoder_batch all = {.n = n, .texts = texts};
    rng r; /* the embeddings start small and random, the head at zero */
    rng_seed(&r, o->seed ^ 0x5eed);
    const encoder_setup setup = {&all, o, o->threads, &r, seen};
    shelf_status st = tr->enc->ops->train_begin(tr->enc, &setup, err);
    if (st != SHELF_OK)
        return st;
    if (label_head_alloc(tr->head, encoder_width(tr->enc), model_num_nodes(m)))
        return err_set(err, SHELF_ENOMEM, "out of memory for the label head");
    const shelf_model *from = o->init ? o->init : o->resume;
    if (from && model_num_nodes(m) < model_num_nodes(from))
        return err_set(err, SHELF_EINVAL, "--init: the labels cannot keep the model's nodes");
    if (from) /* --init, --resume: its weights, each row where the wider bag put it */
        label_head_copy_into(&from->text_head, tr->head, tr->row_of);
    if (balance_init(&tr->bal, o->balance, o->balance_power, tr->y, n, model_num_labels(m)))
        return err_set(err, SHELF_ENOMEM, "out of memory");
    if (o->resume) /* where this rank's learning rate stood: a checkpoint ends an epoch */
        atomic_store(&tr->done_steps, (long)balance_epoch_size(&tr->bal, tr->y) *
                                          o->resume->state->epochs_done);
    tr->smoothing = o->label_smoothing;
    tr->lr = o->lr;
    tr->total_steps = (long)balance_epoch_size(&tr->bal, tr->y) * o->epochs;
    if (tr->total_steps < 1)
        tr->total_steps = 1;
    for (; tr->nworkers < o->threads && tr->nworkers < LOOP_MAX_THREADS; tr->nworkers++)
        if (worker_init(&tr->workers[tr->nworkers], tr)) {
            worker_free(tr, &tr->workers[tr->nworkers]);
            return err_set(err, SHELF_ENOMEM, "out of memory for training threads");
        }
    return SHELF_OK;
}

/* The fingerprint of the training catalog: a sum over its products (their texts' hashes and
 * labels), so that the ranks' parts sum to the whole's. */
static uint64_t catalog_fingerprint(const shelf_model *m, const uint64_t *seen,
                                    const uint32_t *y, size_t n)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        const char *label = m->labels.keys[y[i]];
        uint64_t h = hash_fnv1a(seen[i] ^ HASH_FNV_BASIS, label, strlen(label));
        sum += h * 0x9e3779b97f4a7c15ull + (h >> 29);
    }
    return sum;
}

/* After every epoch (loop.h): the model as it stands, with where the run stands. */
static shelf_status bag_checkpoint(void *user, const train_state *s, shelf_error *err)
{
    bag_trainer *tr = user;
    train_state st = *s;
    st.steps = (uint64_t)atomic_load(&tr->done_steps);
    st.catalog = tr->catalog;
    st.options = tr->options;
    return checkpoint_write(tr->m, tr->o, &st, err);
}

shelf_status train_bag_model(shelf_model *m, const shelf_catalog *train,
                             const shelf_catalog *valid, const shelf_train_options *o,
                             shelf_error *err)
{
    const size_t n = shelf_catalog_size(train);
    const feat_config feat = {o->ngrams, o->minn, o->maxn, (uint32_t)o->buckets};
    const shelf_model *init = o->init ? o->init : o->resume; /* resume: as --init */
    const size_t nseen = n + (init ? init->nseen : 0); /* --init: its texts were seen too */
    bag_encoder *bag = init ? NULL : bag_encoder_new(&feat, o->dim);
    uint32_t *y = mem_alloc((n + 1) * sizeof *y);
    const char **texts = vocab_texts(train);
    uint64_t *seen = mem_alloc((nseen + 1) * sizeof *seen);
    bag_trainer tr = {.m = m, .head = &m->text_head, .y = y, .comm = o->comm, .o = o,
                      .checkpoint = o->checkpoint,
                      .options = train_options_fingerprint(o, valid ? shelf_catalog_size(valid)
                                                                    : 0)};
    shelf_status st = y && texts && seen && (bag || init)
                          ? SHELF_OK : err_set(err, SHELF_ENOMEM, "out of memory");
    if (st == SHELF_OK && init) { /* its labels first, in its order; its rows and more */
        for (int k = 0; k < model_num_labels(init) && st == SHELF_OK; k++)
            if (strmap_intern(&m->labels, init->labels.keys[k]) < 0)
                st = err_set(err, SHELF_ENOMEM, "out of memory storing labels");
        if (st == SHELF_OK)
            st = bag_vocab_extend(as_const_bag(init->text), texts, n, init->info.train_rows,
                                  seen, &bag, &tr.row_of, err);
        if (st == SHELF_OK && init->nseen)
            memcpy(seen + n, init->seen, init->nseen * sizeof *seen);
    }
    if (st != SHELF_OK) {
        encoder_free(bag ? &bag->base : NULL);
        mem_free(tr.row_of);
        mem_free(y);
        mem_free(texts);
        mem_free(seen);
        return st;
    }
    m->text = &bag->base;
    tr.enc = m->text;
    st = vocab_share(m, train, o->comm, err); /* a distributed run: every rank's labels */
    if (st == SHELF_OK)
        st = vocab_labels(m, train, y, err);
    if (st == SHELF_OK)
        st = prepare(&tr, n, o, texts, seen, err);
    size_t kept_seen = nseen;
    if (st == SHELF_OK) { /* every rank's part counted, before the hashes are shared */
        tr.catalog = catalog_fingerprint(m, seen, y, n);
        if (comm_sum(o->comm, &tr.catalog, 1, SHELF_COMM_U64))
            st = err_set(err, SHELF_EIO, "another rank stopped the run");
    }
    if (st == SHELF_OK && o->resume)
        st = checkpoint_take_up(m, o->resume, tr.catalog, tr.options, err);
    if (st == SHELF_OK)
        st = vocab_share_seen(o->comm, &seen, &kept_seen, err);
    if (st == SHELF_OK) {
        vocab_keep_seen(m, seen, kept_seen);
        seen = NULL;
        trainee t = {.ctx = &tr, .hogwild = 1, .step = bag_step};
        trainee_keep(&t, tr.enc, tr.head);
        loop_options lo = {m, valid, y, n, &tr.bal, o->epochs, o->threads, PATIENCE, o->seed,
                           o->progress, o->progress_user, &m->info, o->comm,
                           o->resume ? o->resume->state : NULL,
                           o->checkpoint ? bag_checkpoint : NULL, &tr};
        loop_result res;
        st = train_loop(&t, &lo, &res, err);
        m->info.epochs = res.epochs;
        m->info.valid_accuracy = res.valid_accuracy;
    }
    tr.enc->ops->train_end(tr.enc);
    for (int t = 0; t < tr.nworkers; t++)
        worker_free(&tr, &tr.workers[t]);
    balance_free(&tr.bal);
    mem_free(tr.row_of);
    mem_free(y);
    mem_free(texts);
    mem_free(seen);
    return st;
}
