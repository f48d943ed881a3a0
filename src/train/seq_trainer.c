/* Training of the sequence text encoders (see seq_trainer.h), through the encoder
 * interface.
 *
 * B = sequences in a batch, K = labels. The encoder tokenizes every training text once, in
 * train_begin. Each step, the threads of the pool take slices of the batch, each with its
 * own work area and gradient block, through the encoder's forward_train, the label head,
 * the loss and back; the blocks are then summed in thread order (so a run does not depend
 * on timing) and AdamW updates the dense parameters and the embedding rows the batch used,
 * the threads sharing that work by ranges. */
#include "train/seq_trainer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/comm.h"
#include "core/error.h"
#include "core/mem.h"
#include "core/rng.h"
#include "core/threadpool.h"
#include "nn/dense.h"
#include "nn/optim.h"
#include "nn/schedule.h"
#include "nn/softmax.h"
#include "model/seq_text_encoder.h"
#include "train/balance.h"
#include "train/checkpoint.h"
#include "train/loop.h"
#include "train/options.h"
#include "train/vocab.h"

enum { MAX_THREADS = 64, PATIENCE = 4, MIN_STEPS = 2000, MIN_EPOCHS = 5, MAX_EPOCHS = 50,
       /* batches sorted by length together: similar lengths, yet a shuffled order */
       CHUNK_BATCHES = 32 };
static const float BETA1 = 0.9f, BETA2 = 0.999f, ADAM_EPS = 1e-8f, WARMUP_SHARE = 0.05f;

typedef struct seq_trainer {
    shelf_model *m;
    encoder *enc;          /* m->text */
    seq_encoder *e;        /* its layers, whose layout the optimizer reads */
    const seq_corpus *corpus; /* its training texts as ids */
    label_head *head;      /* m's text head, over the encoder's features */
    size_t P;              /* parameters: the encoder's, then the head's (a gradient block) */
    const shelf_train_options *o;
    thread_pool *pool;
    int threads, B, slice; /* slice: sequences per thread, at most */
    size_t n;
    const char **texts;    /* the catalog's, for train_begin */
    const uint32_t *y;
    balance bal;           /* --balance: class weights, or each epoch's draw */
    uint32_t *sorted, *batches, *planned; /* by length; batch order; the batches in it */
    size_t *bounds;        /* batch k is planned[bounds[k] .. bounds[k+1]) */
    size_t *count;         /* T + 2 counters for sorting by length */
    /* the current batch: products batch[0..nb); the embedding rows it used */
    const uint32_t *batch;
    int nb, nrows;
    int32_t *rows;
    encoder_work *work[MAX_THREADS];
    float *grads[MAX_THREADS], *logits[MAX_THREADS], *dlogits[MAX_THREADS];
    float *leaf[MAX_THREADS]; /* --hierarchy: the labels' logits from the encoder's nodes' */
    double loss[MAX_THREADS];
    float *m1, *m2, lr;
    long step;
    schedule sched;
    uint64_t catalog, options; /* the run's fingerprints, kept in a checkpoint */
    enum { RANGES_SUM, RANGES_STEP, RANGES_SUM_AND_STEP } job; /* what run_ranges does */
    /* a distributed run: the embedding rows any rank's batch used, and their gradients */
    const shelf_comm *comm;
    int32_t *all_rows;
    float *packed;
    size_t all_cap; /* rows that all_rows and packed hold */
} seq_trainer;

shelf_status seq_check_options(shelf_train_options *o, size_t n, shelf_error *err)
{
    /* ranges and the other defaults: the options' table (train/options.c) */
    if (o->epochs <= 0) { /* a small catalog gets more passes: at least MIN_STEPS steps */
        const size_t per_epoch = (n + (size_t)o->batch - 1) / (size_t)o->batch;
        const size_t want = per_epoch ? (MIN_STEPS + per_epoch - 1) / per_epoch : 1;
        o->epochs = want < MIN_EPOCHS ? MIN_EPOCHS : want > MAX_EPOCHS ? MAX_EPOCHS : (int)want;
    }
    if (o->text_encoder == SHELF_TEXT_ENCODER_TRANSFORMER && o->dim % o->heads)
        return err_set(err, SHELF_EINVAL, "--heads (%d) must divide --dim (%d)", o->heads,
                       o->dim);
    return SHELF_OK;
}

/* This epoch's batches from its shuffled order: sorted by decreasing length within chunks
 * of CHUNK_BATCHES batches, the batches then taken in a shuffled order. */
static size_t plan_epoch(void *ctx, const uint32_t *order, size_t n, rng *r,
                         const uint32_t **rows, const size_t **bounds)
{
    seq_trainer *tr = ctx;
    const size_t chunk = (size_t)tr->B * CHUNK_BATCHES;
    const int T = tr->e->T, *len = tr->corpus->len;
    for (size_t c0 = 0; c0 < n; c0 += chunk) { /* a counting sort, longest first */
        const size_t c1 = n - c0 < chunk ? n : c0 + chunk;
        memset(tr->count, 0, (size_t)(T + 2) * sizeof *tr->count);
        for (size_t i = c0; i < c1; i++)
            tr->count[T - len[order[i]] + 1]++;
        for (int k = 1; k <= T + 1; k++)
            tr->count[k] += tr->count[k - 1];
        for (size_t i = c0; i < c1; i++) {
            uint32_t p = order[i];
            tr->sorted[c0 + tr->count[T - len[p]]++] = p;
        }
    }
    const size_t nbatches = (n + (size_t)tr->B - 1) / (size_t)tr->B;
    for (size_t b = 0; b < nbatches; b++)
        tr->batches[b] = (uint32_t)b;
    rng_shuffle_u32(r, tr->batches, nbatches);
    size_t at = 0;
    for (size_t k = 0; k < nbatches; k++) {
        const size_t first = (size_t)tr->batches[k] * (size_t)tr->B;
        const size_t nb = n - first < (size_t)tr->B ? n - first : (size_t)tr->B;
        tr->bounds[k] = at;
        memcpy(tr->planned + at, tr->sorted + first, nb * sizeof *tr->planned);
        at += nb;
    }
    tr->bounds[nbatches] = at;
    *rows = tr->planned;
    *bounds = tr->bounds;
    return nbatches;
}

/* The thread's slice of the batch: the encoder's forward_train, the head, softmax
 * cross-entropy (mean over the batch, optionally smoothed, weighted by class under
 * --balance weight), back through the head and the encoder into the thread's gradient
 * block. Under --hierarchy the head scores the taxonomy's nodes, a label's logit is the
 * sum of its path's. */
static void run_grad(void *ctx, int tid, int nthreads)
{
    seq_trainer *tr = ctx;
    size_t b0, b1;
    pool_split((size_t)tr->nb, tid, nthreads, &b0, &b1);
    tr->loss[tid] = 0;
    const shelf_model *m = tr->m;
    const int n = (int)(b1 - b0), K = model_num_labels(m), N = tr->head->out;
    if (n == 0)
        return;
    const encoder_batch batch = {
        .n = (size_t)n, .rows = tr->batch + b0,
        .noise = tr->o->seed ^ ((uint64_t)tr->step << 8) ^ (uint64_t)tid ^
                 ((uint64_t)(tr->comm ? tr->comm->rank : 0) << 40)};
    encoder_features f;
    if (tr->enc->ops->forward_train(tr->enc, tr->work[tid], &batch, &f)) {
        tr->loss[tid] = NAN; /* cannot happen: the work area holds a slice */
        return;
    }
    const label_head *h = tr->head;
    const int F = (int)h->in;
    dense_forward(tr->logits[tid], f.dense, h->w, h->b, n, F, N);
    const float eps = tr->o->label_smoothing, scale = 1.0f / (float)tr->nb;
    double loss = 0;
    for (int b = 0; b < n; b++) {
        float *g = m->hierarchical ? tr->leaf[tid] : tr->dlogits[tid] + (size_t)b * N;
        const float *z = tr->logits[tid] + (size_t)b * N;
        const int y = (int)tr->y[tr->batch[b0 + (size_t)b]];
        const float weight = tr->bal.weight[y] * scale;
        if (m->hierarchical)
            taxonomy_leaf_logits(&m->tax, z, g);
        softmax_forward(g, m->hierarchical ? g : z, K);
        loss += softmax_xent_backward(g, g, y, K) * tr->bal.weight[y];
        for (int k = 0; k < K; k++)
            g[k] = (g[k] - (k == y ? -eps : 0) - eps / (float)K) * weight;
        if (m->hierarchical)
            taxonomy_node_grads(&m->tax, g, tr->dlogits[tid] + (size_t)b * N);
    }
    tr->loss[tid] = loss;
    float *gh = tr->grads[tid] + tr->e->nparams; /* the head's gradient, after the encoder's */
    dense_backward(f.grad, 0, gh, gh + (size_t)F * (size_t)N, tr->dlogits[tid], f.dense, h->w,
                   n, F, N);
    /* the sequence encoders' backward allocates nothing: it cannot fail */
    (void)tr->enc->ops->backward(tr->enc, tr->work[tid],
                                 &(encoder_update){.grads = tr->grads[tid]});
}

/* Sums the threads' gradients of [i0, i1) into thread 0's, in thread order, and clears
 * them. Indexes run over the encoder's parameters, then the head's. */
static void reduce(seq_trainer *tr, size_t i0, size_t i1)
{
    float *g = tr->grads[0];
    for (int t = 1; t < tr->threads; t++) {
        float *gt = tr->grads[t];
        for (size_t i = i0; i < i1; i++)
            g[i] += gt[i];
        memset(gt + i0, 0, (i1 - i0) * sizeof *gt);
    }
}

/* AdamW's step over [i0, i1) from thread 0's gradient, which it clears. */
static void step_range(seq_trainer *tr, size_t i0, size_t i1, float lr)
{
    float *g = tr->grads[0];
    const size_t E = tr->e->nparams, e1 = i1 < E ? i1 : E, h0 = i0 > E ? i0 : E;
    if (i0 < e1)
        adamw_step(tr->e->params, g, tr->m1, tr->m2, i0, e1, lr, BETA1, BETA2, ADAM_EPS,
                   tr->o->weight_decay, tr->step);
    if (h0 < i1)
        adamw_step(tr->head->params, g + E, tr->m1 + E, tr->m2 + E, h0 - E, i1 - E, lr, BETA1,
                   BETA2, ADAM_EPS, tr->o->weight_decay, tr->step);
    memset(g + i0, 0, (i1 - i0) * sizeof *g);
}

/* One range of the parameters: the threads' gradients summed, and (step) AdamW's step. */
static void on_range(seq_trainer *tr, size_t i0, size_t i1)
{
    if (tr->job != RANGES_STEP)
        reduce(tr, i0, i1);
    if (tr->job != RANGES_SUM)
        step_range(tr, i0, i1, tr->lr);
}

/* tr->job over the dense parameters, then the embedding rows of the batch's tokens (lazy
 * AdamW: rows absent from a batch are not decayed or moved), shared by the threads. */
static void run_ranges(void *ctx, int tid, int nthreads)
{
    seq_trainer *tr = ctx;
    const seq_layout l = seq_layout_of(tr->e);
    const size_t D = (size_t)tr->e->D;
    size_t i0, i1;
    pool_split(tr->P - l.pos, tid, nthreads, &i0, &i1);
    if (i1 > i0)
        on_range(tr, l.pos + i0, l.pos + i1);
    pool_split((size_t)tr->nrows, tid, nthreads, &i0, &i1);
    for (size_t r = i0; r < i1; r++) {
        const size_t row = (size_t)tr->rows[r];
        on_range(tr, l.emb + row * D, l.emb + (row + 1) * D);
    }
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return x < y ? -1 : x > y;
}

static void scale(float *p, size_t n, float by)
{
    for (size_t i = 0; i < n; i++)
        p[i] *= by;
}

/* A distributed step: the dense gradient summed over the ranks, each rank's weighted by
 * its share of all the ranks' texts (a rank's is the mean over its own batch, and a short
 * last batch falls on different steps on different ranks), and the embedding rows any
 * rank's batch used (gathered, each once) with their gradients summed so; every rank then
 * steps those rows, so that all keep the same parameters. A loss that is not a number on
 * any rank becomes NaN on all, which stops them at the same step. 0, or -1 (out of memory,
 * or another rank failed: every rank makes every call). */
static int share_gradients(seq_trainer *tr, double *loss)
{
    const seq_layout l = seq_layout_of(tr->e);
    const size_t D = (size_t)tr->e->D;
    float *g = tr->grads[0];
    double v[2] = {!isfinite(*loss), (double)tr->nb};
    if (comm_sum(tr->comm, v, 2, SHELF_COMM_DOUBLE) || !(v[1] > 0))
        return -1;
    if (v[0] > 0)
        *loss = NAN;
    const float share = (float)((double)tr->nb / v[1]);
    tr->job = RANGES_SUM; /* the step after the ranks' sums needs no second */
    pool_run(tr->pool, run_ranges, tr);
    scale(g + l.pos, tr->P - l.pos, share);
    if (comm_sum(tr->comm, g + l.pos, tr->P - l.pos, SHELF_COMM_FLOAT))
        return -1;
    void *got = NULL;
    size_t bytes = 0, at;
    int rc = comm_gather(tr->comm, tr->rows, (size_t)tr->nrows * sizeof *tr->rows, &got,
                         &bytes, &at);
    size_t n = rc ? 0 : bytes / sizeof *tr->rows, u = 0;
    int32_t *all = got;
    uint32_t failed = rc || n > tr->all_cap;
    if (!failed) {
        qsort(all, n, sizeof *all, cmp_i32);
        for (size_t i = 0; i < n; i++)
            if (!u || all[i] != all[u - 1])
                all[u++] = all[i];
        memcpy(tr->all_rows, all, u * sizeof *all);
        for (size_t i = 0; i < u; i++) /* rows this rank did not use hold zeros */
            memcpy(tr->packed + i * D, g + l.emb + (size_t)all[i] * D, D * sizeof *g);
        scale(tr->packed, u * D, share);
    }
    mem_free(got);
    if (comm_sum(tr->comm, &failed, 1, SHELF_COMM_U32) || failed ||
        comm_sum(tr->comm, tr->packed, u * D, SHELF_COMM_FLOAT))
        return -1;
    for (size_t i = 0; i < u; i++)
        memcpy(g + l.emb + (size_t)tr->all_rows[i] * D, tr->packed + i * D, D * sizeof *g);
    memcpy(tr->rows, tr->all_rows, u * sizeof *tr->rows);
    tr->nrows = (int)u;
    return 0;
}

/* One batch: the gradient on every thread, then AdamW's step at the schedule's rate. */
static int seq_step(void *ctx, int tid, const uint32_t *rows, size_t n, int epoch, size_t first,
                    loop_meter *meter)
{
    (void)tid, (void)epoch, (void)first;
    seq_trainer *tr = ctx;
    tr->batch = rows;
    tr->nb = (int)n;
    pool_run(tr->pool, run_grad, tr);
    double loss = 0;
    for (int t = 0; t < tr->threads; t++)
        loss += tr->loss[t];
    tr->nrows = seq_corpus_rows_used(tr->e, tr->corpus, rows, n, tr->rows);
    if (comm_ranks(tr->comm) > 1 && share_gradients(tr, &loss))
        return -1;
    float momentum;
    schedule_at(&tr->sched, tr->step, &tr->lr, &momentum);
    tr->step++;
    tr->job = comm_ranks(tr->comm) > 1 ? RANGES_STEP : RANGES_SUM_AND_STEP;
    pool_run(tr->pool, run_ranges, tr);
    atomic_store(&meter->loss, atomic_load(&meter->loss) + loss); /* the meter's one writer */
    atomic_fetch_add(&meter->count, (long)n);
    return 0;
}

static int alloc_buffers(seq_trainer *tr)
{
    const size_t n = tr->n, B = (size_t)tr->B, T = (size_t)tr->e->T, P = tr->P;
    const size_t S = (size_t)seq_slots(tr->e);
    tr->slice = (tr->B + tr->threads - 1) / tr->threads;
    tr->sorted = mem_alloc((n + 1) * sizeof *tr->sorted);
    tr->planned = mem_alloc((n + 1) * sizeof *tr->planned);
    tr->batches = mem_alloc((n / B + 2) * sizeof *tr->batches);
    tr->bounds = mem_alloc((n / B + 3) * sizeof *tr->bounds);
    tr->count = mem_alloc((T + 2) * sizeof *tr->count);
    /* a distributed run's steps use the rows of every rank's batch: room for all */
    const size_t R = (size_t)comm_ranks(tr->comm);
    tr->all_cap = R * B * T * S;
    tr->rows = mem_alloc(tr->all_cap * sizeof *tr->rows);
    if (R > 1 && (!(tr->all_rows = mem_alloc(tr->all_cap * sizeof *tr->all_rows)) ||
                  !(tr->packed = mem_alloc(tr->all_cap * (size_t)tr->e->D * sizeof(float)))))
        return -1;
    tr->m1 = mem_calloc(P, sizeof *tr->m1);
    tr->m2 = mem_calloc(P, sizeof *tr->m2);
    if (!tr->sorted || !tr->planned || !tr->batches || !tr->bounds || !tr->count ||
        !tr->rows || !tr->m1 || !tr->m2)
        return -1;
    for (int t = 0; t < tr->threads; t++) {
        tr->grads[t] = mem_calloc(P, sizeof(float));
        tr->logits[t] = mem_alloc((size_t)tr->slice * (size_t)tr->head->out * sizeof(float));
        tr->dlogits[t] = mem_alloc((size_t)tr->slice * (size_t)tr->head->out * sizeof(float));
        tr->leaf[t] = mem_alloc((size_t)model_num_labels(tr->m) * sizeof(float));
        tr->work[t] = tr->enc->ops->work_new(tr->enc, (size_t)tr->slice, 1);
        if (!tr->grads[t] || !tr->logits[t] || !tr->dlogits[t] || !tr->leaf[t] || !tr->work[t])
            return -1;
    }
    return 0;
}

static void free_buffers(seq_trainer *tr)
{
    mem_free(tr->texts);
    mem_free(tr->sorted);
    mem_free(tr->planned);
    mem_free(tr->batches);
    mem_free(tr->bounds);
    mem_free(tr->count);
    mem_free(tr->rows);
    mem_free(tr->all_rows);
    mem_free(tr->packed);
    mem_free(tr->m1);
    mem_free(tr->m2);
    for (int t = 0; t < MAX_THREADS; t++) {
        mem_free(tr->grads[t]);
        mem_free(tr->logits[t]);
        mem_free(tr->dlogits[t]);
        mem_free(tr->leaf[t]);
        if (tr->work[t])
            tr->enc->ops->work_free(tr->work[t]);
    }
    balance_free(&tr->bal);
    pool_free(tr->pool);
}

/* After every epoch (loop.h): the model as it stands, with AdamW's moments (the embedding
 * rows' as the lazy updates left them) and step, written whole or not at all. */
static shelf_status seq_checkpoint(void *user, const train_state *s, shelf_error *err)
{
    seq_trainer *tr = user;
    if (tr->comm && tr->comm->rank != 0) /* rank 0 writes it */
        return SHELF_OK;
    train_state st = *s;
    st.steps = (uint64_t)tr->step;
    st.catalog = tr->catalog;
    st.options = tr->options;
    st.nextra = 2 * tr->P;
    if (!(st.extra = mem_alloc(st.nextra * sizeof *st.extra)))
        return err_set(err, SHELF_ENOMEM, "out of memory writing a checkpoint");
    memcpy(st.extra, tr->m1, tr->P * sizeof *tr->m1);
    memcpy(st.extra + tr->P, tr->m2, tr->P * sizeof *tr->m2);
    shelf_status rc = checkpoint_write(tr->m, tr->o, &st, err);
    mem_free(st.extra);
    return rc;
}

/* --resume: the checkpoint is of this run (the same texts and labels, so the same
 * vocabulary and shapes); its parameters, moments and step replace the fresh start. */
static shelf_status resume_from(seq_trainer *tr, const shelf_model *from, shelf_error *err)
{
    const train_state *s = from->state;
    shelf_status st = checkpoint_take_up(tr->m, from, tr->catalog, tr->options, err);
    if (st != SHELF_OK)
        return st;
    const seq_encoder *old = from->text && from->text->ops->kind == tr->enc->ops->kind
                                 ? as_const_seq(from->text)
                                 : NULL;
    if (!old || old->nparams != tr->e->nparams || from->text_head.nparams != tr->head->nparams ||
        s->nextra != 2 * tr->P || model_num_labels(from) != model_num_labels(tr->m))
        return err_set(err, SHELF_EINVAL, "--resume: the checkpoint's %s encoder does not fit",
                       seq_kind_name(tr->e->kind));
    memcpy(tr->e->params, old->params, tr->e->nparams * sizeof *tr->e->params);
    memcpy(tr->head->params, from->text_head.params, tr->head->nparams * sizeof(float));
    memcpy(tr->m1, s->extra, tr->P * sizeof *tr->m1);
    memcpy(tr->m2, s->extra + tr->P, tr->P * sizeof *tr->m2);
    tr->step = (long)s->steps;
    return SHELF_OK;
}

shelf_status train_seq_model(shelf_model *m, const shelf_catalog *train,
                             const shelf_catalog *valid, const shelf_train_options *o,
                             const uint32_t *y, shelf_error *err)
{
    /* a distributed run's ranks each take their share of the batch */
    const int ranks = comm_ranks(o->comm);
    seq_trainer tr = {.m = m, .o = o, .y = y, .n = shelf_catalog_size(train),
                      .threads = o->threads < MAX_THREADS ? o->threads : MAX_THREADS,
                      .B = o->batch / ranks > 0 ? o->batch / ranks : 1, .comm = o->comm};
    seq_text_encoder *t =
        seq_text_encoder_new(o->text_encoder == SHELF_TEXT_ENCODER_GRU ? SEQ_GRU : SEQ_TRANSFORMER);
    const int ok = t && (tr.texts = vocab_texts(train));
    if (!comm_agree(o->comm, ok) || !ok) { /* before the vocabulary's gather */
        encoder_free(t ? &t->base : NULL);
        mem_free(tr.texts);
        return ok ? err_set(err, SHELF_EIO, "another rank stopped the run")
                  : err_set(err, SHELF_ENOMEM, "out of memory");
    }
    encoder_free(m->text);
    m->text = tr.enc = &t->base;
    tr.e = &t->seq;
    tr.corpus = &t->training;
    tr.head = &m->text_head;
    tr.head->by_output = 1;
    const encoder_batch all = {.n = tr.n, .texts = tr.texts};
    rng r; /* the encoder's start, then the head's, from one stream */
    rng_seed(&r, o->seed ^ 0x5e9e);
    const encoder_setup setup = {&all, o, o->threads, &r, NULL};
    shelf_status st = tr.enc->ops->train_begin(tr.enc, &setup, err);
    if (st != SHELF_OK)
        goto agree;
    /* the head scores the labels, or under --hierarchy the taxonomy's nodes */
    if (label_head_alloc(tr.head, encoder_width(tr.enc), model_num_nodes(m))) {
        st = err_set(err, SHELF_ENOMEM, "out of memory for the %s encoder's parameters",
                     seq_kind_name(tr.e->kind));
        goto agree;
    }
    tr.P = tr.e->nparams + tr.head->nparams;
    seq_encoder_init_head(tr.e, tr.head->w, (size_t)tr.head->in * tr.head->out, &r);
    tr.pool = pool_new(tr.threads);
    if (tr.pool) /* a pool may start fewer threads than asked: the slices follow it */
        tr.threads = pool_threads(tr.pool);
    if (!tr.pool || alloc_buffers(&tr) ||
        balance_init(&tr.bal, o->balance, o->balance_power, y, tr.n, model_num_labels(m))) {
        st = err_set(err, SHELF_ENOMEM, "out of memory for training buffers");
        goto agree;
    }
agree: /* a rank that failed on its own tells the others before the collectives below */
    st = comm_agree_status(o->comm, st, NULL, err);
    if (st != SHELF_OK)
        goto done;
    for (size_t i = 0; i < tr.n; i++)
        tr.catalog = checkpoint_fingerprint_add(tr.catalog, tr.texts[i], m->labels.keys[y[i]]);
    /* the ranks share the batch: another count of them is another run */
    tr.options = train_options_fingerprint(o, valid ? shelf_catalog_size(valid) : 0) ^
                 (uint64_t)ranks * 0x9e3779b97f4a7c15ull;
    if (comm_sum(o->comm, &tr.catalog, 1, SHELF_COMM_U64)) { /* the parts' sum: the whole's */
        st = err_set(err, SHELF_EIO, "another rank stopped the run");
        goto done;
    }
    if (o->resume)
        st = resume_from(&tr, o->resume, err);
    st = comm_agree_status(o->comm, st, "could not resume the run", err);
    if (st != SHELF_OK)
        goto done;
    uint64_t epoch_size = balance_epoch_size(&tr.bal, y); /* every rank takes the least's */
    if (comm_min(o->comm, epoch_size, &epoch_size)) {
        st = err_set(err, SHELF_EIO, "another rank stopped the run");
        goto done;
    }
    long per_epoch = (long)((epoch_size + (size_t)tr.B - 1) / (size_t)tr.B);
    tr.sched = (schedule){SCHEDULE_COSINE, o->lr, BETA1, per_epoch * o->epochs, 0};
    tr.sched.warmup_steps = (long)(WARMUP_SHARE * (float)tr.sched.total_steps);
    trainee te = {.ctx = &tr, .batch = (size_t)tr.B, .plan = plan_epoch, .step = seq_step,
                  .identical = 1};
    trainee_keep(&te, m->text, tr.head);
    loop_options lo = {m, valid, y, tr.n, &tr.bal, o->epochs, tr.threads, PATIENCE, o->seed,
                       o->progress, o->progress_user, &m->info, .comm = o->comm,
                       .resume = o->resume ? o->resume->state : NULL,
                       .checkpoint = o->checkpoint ? seq_checkpoint : NULL,
                       .checkpoint_user = &tr};
    loop_result res;
    st = train_loop(&te, &lo, &res, err);
    m->info.epochs = res.epochs;
    m->info.valid_accuracy = res.valid_accuracy;
    m->info.fit_seconds = res.ran ? res.step_seconds / res.ran : 0;
done:
    tr.enc->ops->train_end(tr.enc);
    free_buffers(&tr);
    return st;
}
