#include "model/seq_text_encoder.h"

#include <limits.h>
#include <string.h>

#include "core/error.h"
#include "core/mem.h"

enum { SIZES = 8 }; /* D, layers, heads, F, T, nwords, nbuckets, nsub */

struct encoder_work {
    seq_scratch *s;         /* prediction */
    float *feats;           /* window x width */
    unsigned char *missing; /* window (training: batch) */
    /* training: a batch of up to tw.B texts, ids [n][T][slots] padded to their longest */
    seq_work tw;
    int32_t *tok;
    int *lens;
    int n, T;
};

static size_t seq_enc_width(const encoder *e) { return (size_t)seq_width(as_const_seq(e)); }

/* A prediction window: as many texts as seq_scratch tokenizes at once. */
static size_t seq_enc_batch(const encoder *e)
{
    return (size_t)seq_predict_window(as_const_seq(e));
}

static void seq_enc_work_free(encoder_work *w)
{
    if (!w)
        return;
    seq_scratch_free(w->s);
    mem_free(w->feats);
    mem_free(w->missing);
    seq_work_free(&w->tw);
    mem_free(w->tok);
    mem_free(w->lens);
    mem_free(w);
}

/* Training: room for a batch of ids and the layers' activations and gradients. */
static encoder_work *seq_enc_train_work(const seq_encoder *e, size_t batch)
{
    encoder_work *w = mem_calloc(1, sizeof *w);
    const size_t B = batch ? batch : 1;
    if (!w || B > INT_MAX ||
        !(w->tok = mem_alloc(B * (size_t)e->T * (size_t)seq_slots(e) * sizeof *w->tok)) ||
        !(w->lens = mem_alloc(B * sizeof *w->lens)) || !(w->missing = mem_calloc(B, 1)) ||
        seq_work_init(&w->tw, e, (int)B, 1)) {
        seq_enc_work_free(w);
        return NULL;
    }
    return w;
}

static encoder_work *seq_enc_work_new(const encoder *e, size_t batch, int training)
{
    if (training)
        return seq_enc_train_work(as_const_seq(e), batch);
    /* prediction: the scratch's window, which seq_enc_batch reports */
    encoder_work *w = mem_calloc(1, sizeof *w);
    if (!w || !(w->s = seq_scratch_new(as_const_seq(e))) ||
        !(w->feats = mem_alloc((size_t)w->s->window * seq_enc_width(e) * sizeof *w->feats)) ||
        !(w->missing = mem_calloc((size_t)w->s->window, 1))) {
        seq_enc_work_free(w);
        return NULL;
    }
    return w;
}

static int seq_enc_forward(const encoder *e, encoder_work *w, const encoder_batch *in,
                           encoder_features *out)
{
    seq_scratch *s = w->s;
    if (seq_window_features(as_const_seq(e), s, in->texts, in->n, w->feats))
        return -1;
    for (size_t j = 0; j < in->n; j++)
        w->missing[j] = s->lens[s->order[j]] == 0;
    *out = (encoder_features){in->n, seq_enc_width(e), w->feats, NULL, w->missing, s->order,
                              (size_t)s->B, NULL};
    return 0;
}

/* The sizes from the options, the vocabulary and the texts' ids from the training texts,
 * and the parameters' random start. */
static shelf_status seq_enc_train_begin(encoder *e, const encoder_setup *s, shelf_error *err)
{
    seq_text_encoder *t = (seq_text_encoder *)e;
    seq_encoder *q = &t->seq;
    const shelf_train_options *o = s->opts;
    q->D = o->dim;
    q->layers = o->layers;
    q->heads = q->kind == SEQ_TRANSFORMER ? o->heads : 0;
    q->F = q->kind == SEQ_TRANSFORMER ? 4 * o->dim : 0;
    q->T = o->max_tokens;
    /* subwords only when asked for: they helped fashion's macro-F1, cost flipkart-9k 2.5-3
     * points and were even on zh-online-shopping-10cats (docs/benchmarks.md) */
    q->nsub = o->maxn == 0 ? 0 : (uint32_t)o->buckets;
    t->dropout = o->dropout;
    shelf_status st = seq_corpus_build(q, &t->training, s->all->texts, s->all->rows, s->all->n,
                                       o->comm, err);
    if (st != SHELF_OK)
        return st;
    if (seq_encoder_alloc(q))
        return err_set(err, SHELF_ENOMEM, "out of memory for the %s encoder's parameters",
                       seq_kind_name(q->kind));
    seq_encoder_init_weights(q, s->r);
    return SHELF_OK;
}

static void seq_enc_train_end(encoder *e) { seq_corpus_free(&((seq_text_encoder *)e)->training); }

/* The rows' ids, padded to the longest, through the layers with dropout. */
static int seq_enc_forward_train(encoder *e, encoder_work *w, const encoder_batch *b,
                                 encoder_features *out)
{
    const seq_text_encoder *t = (const seq_text_encoder *)e;
    const seq_encoder *q = &t->seq;
    const seq_corpus *c = &t->training;
    const size_t S = (size_t)seq_slots(q);
    if (b->n > (size_t)w->tw.B)
        return -1;
    w->n = (int)b->n;
    w->T = 1;
    for (int i = 0; i < w->n; i++)
        if (c->len[b->rows[i]] > w->T)
            w->T = c->len[b->rows[i]];
    for (int i = 0; i < w->n; i++) {
        const uint32_t p = b->rows[i];
        const size_t len = (size_t)c->len[p], row = (size_t)i * (size_t)w->T * S;
        w->lens[i] = c->len[p];
        w->missing[i] = len == 0;
        memcpy(w->tok + row, c->tok + c->off[p] * S, len * S * sizeof *w->tok);
        memset(w->tok + row + len * S, 0, ((size_t)w->T - len) * S * sizeof *w->tok);
    }
    rng_seed(&w->tw.drop_rng, b->noise);
    w->tw.dropout = t->dropout;
    seq_forward(q, &w->tw, w->tok, w->lens, w->n, w->T);
    *out = (encoder_features){.n = b->n, .width = seq_enc_width(e), .dense = w->tw.pooled,
                              .missing = w->missing, .grad = w->tw.dpooled};
    return 0;
}

static int seq_enc_backward(encoder *e, encoder_work *w, const encoder_update *u)
{
    seq_backward(as_const_seq(e), &w->tw, u->grads, w->tok, w->lens, w->n, w->T);
    return 0;
}

static float *seq_enc_params(encoder *e, size_t *n)
{
    *n = as_seq(e)->nparams;
    return as_seq(e)->params;
}

static int seq_enc_state(encoder *e, float **blocks, size_t *sizes, int max)
{
    if (max < 1)
        return 0;
    blocks[0] = seq_enc_params(e, &sizes[0]);
    return 1;
}

/* The sizes, then the words' hashes. */
static void save_sizes(const seq_encoder *s, model_writer *w)
{
    const uint32_t u[SIZES] = {(uint32_t)s->D, (uint32_t)s->layers, (uint32_t)s->heads,
                               (uint32_t)s->F, (uint32_t)s->T, s->nwords, s->nbuckets, s->nsub};
    mw_put(w, u, sizeof u);
    mw_put(w, s->words, (size_t)s->nwords * 8);
}

static void seq_enc_save(const encoder *e, model_writer *w)
{
    const seq_encoder *s = as_const_seq(e);
    save_sizes(s, w);
    mw_floats(w, s->params, s->nparams);
}

static void seq_enc_describe(const encoder *e, buf *b, int labels, int nodes)
{
    (void)labels;
    const seq_encoder *s = as_const_seq(e);
    buf_printf(b, "features          tokens in order, up to %d; %u words seen twice or more, "
               "%u buckets for the others\n", s->T, s->nwords, s->nbuckets);
    if (s->nsub)
        buf_printf(b, "subwords          each token with its bigram and up to %d character "
                   "3-grams, %u buckets\n", SEQ_CHAR_NGRAMS, s->nsub);
    if (s->kind == SEQ_GRU)
        buf_printf(b, "model             bidirectional GRU, embeddings %d, %d layer%s of hidden "
                   "%d x 2, mean and max pooling, linear %d x %d\n", s->D, seq_layers(s),
                   seq_layers(s) > 1 ? "s" : "", s->D, seq_width(s), nodes);
    else
        buf_printf(b, "model             transformer, %d blocks of width %d, %d heads, "
                   "feed-forward %d, mean and max pooling, linear %d x %d\n", s->layers, s->D,
                   s->heads, s->F, seq_width(s), nodes);
    if (s->int8)
        buf_printf(b, "quantized         int8 embedding table: %zu rows, a scale each\n",
                   seq_rows(s));
}

static void seq_enc_free(encoder *e)
{
    seq_enc_train_end(e);
    seq_encoder_free(as_seq(e));
    mem_free(e);
}

#define SEQ_OPS(KIND, NAME)                                                                  \
    {                                                                                        \
        .kind = KIND, .name = NAME, .width = seq_enc_width, .batch = seq_enc_batch,          \
        .head_by_output = 1, .work_new = seq_enc_work_new, .work_free = seq_enc_work_free,   \
        .forward = seq_enc_forward, .train_begin = seq_enc_train_begin,                       \
        .train_end = seq_enc_train_end, .forward_train = seq_enc_forward_train,               \
        .backward = seq_enc_backward, .params = seq_enc_params, .state = seq_enc_state,       \
        .save = seq_enc_save, .describe = seq_enc_describe, .free = seq_enc_free              \
    }
static const encoder_ops GRU_OPS = SEQ_OPS(ENCODER_GRU, "gru");
static const encoder_ops TRANSFORMER_OPS = SEQ_OPS(ENCODER_TRANSFORMER, "transformer");

seq_text_encoder *seq_text_encoder_new(seq_kind kind)
{
    seq_text_encoder *t = mem_calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->base.ops = kind == SEQ_GRU ? &GRU_OPS : &TRANSFORMER_OPS;
    t->seq.kind = kind;
    return t;
}

int seq_text_encoder_read_sizes(model_reader *r, seq_kind kind, const uint32_t *u, int int8,
                                seq_text_encoder **out)
{
    seq_text_encoder *t = seq_text_encoder_new(kind);
    if (!t)
        return mr_oom(r);
    *out = t;
    seq_encoder *e = &t->seq;
    *e = (seq_encoder){.kind = kind, .D = (int)u[0], .layers = (int)u[1], .heads = (int)u[2],
                       .F = (int)u[3], .T = (int)u[4], .nwords = u[5], .nbuckets = u[6],
                       .nsub = u[7], .int8 = int8};
    /* int8: the embedding table's codes (a byte each) and scales beside the floats */
    if (u[0] > 4096 || u[1] > SEQ_MAX_LAYERS || u[2] > 4096 || u[3] > 16384 ||
        u[5] > SEQ_MAX_WORDS || u[6] > SEQ_MAX_WORDS || u[7] > SEQ_MAX_WORDS ||
        seq_encoder_size(e) ||
        mr_claim(r, "the sequence encoder", (uint64_t)e->nwords * 2 + e->nparams, 4) ||
        (int8 && mr_claim(r, "the sequence encoder's int8 rows",
                          (uint64_t)seq_rows(e) * ((uint64_t)e->D + 4), 1)))
        return mr_fail(r, NULL);
    if (!(e->words = mr_array(r, "the sequence encoder's words", e->nwords, 8)))
        return -1;
    for (uint32_t i = 1; i < e->nwords; i++)
        if (e->words[i] <= e->words[i - 1])
            return mr_fail(r, NULL);
    return seq_encoder_alloc(e) || (int8 && seq_encoder_alloc_int8(e)) ? mr_oom(r) : 0;
}

int seq_text_encoder_load(model_reader *r, encoder_kind kind, encoder **out)
{
    uint32_t u[SIZES];
    mr_get(r, u, sizeof u);
    seq_text_encoder *t = NULL;
    int rc = r->failed ? -1
                       : seq_text_encoder_read_sizes(r, kind == ENCODER_GRU ? SEQ_GRU
                                                                            : SEQ_TRANSFORMER,
                                                     u, 0, &t);
    *out = t ? &t->base : NULL;
    if (rc)
        return -1;
    return mr_floats(r, "the sequence encoder", t->seq.params, t->seq.nparams);
}

void seq_text_encoder_save_int8(const encoder *e, model_writer *w)
{
    const seq_encoder *s = as_const_seq(e);
    mw_u32(w, (uint32_t)e->ops->kind);
    save_sizes(s, w);
    const size_t V = seq_rows(s);
    mw_u64(w, V * (size_t)s->D);
    mw_put(w, s->codes, V * (size_t)s->D);
    mw_floats(w, s->scales, V);
    mw_floats(w, s->params, s->nparams);
}

int seq_text_encoder_load_int8(model_reader *r, encoder **out)
{
    uint32_t kind = mr_u32(r), u[SIZES];
    mr_get(r, u, sizeof u);
    if (r->failed || (kind != ENCODER_GRU && kind != ENCODER_TRANSFORMER))
        return mr_fail(r, "an int8 text encoder of an unknown kind");
    seq_text_encoder *t = NULL;
    int rc = seq_text_encoder_read_sizes(r, kind == ENCODER_GRU ? SEQ_GRU : SEQ_TRANSFORMER, u,
                                         1, &t);
    *out = t ? &t->base : NULL;
    if (rc)
        return -1;
    seq_encoder *e = &t->seq;
    const size_t V = seq_rows(e);
    if (mr_u64(r) != V * (size_t)e->D || mr_get(r, e->codes, V * (size_t)e->D) ||
        mr_floats(r, "the sequence encoder's int8 rows", e->scales, V))
        return mr_fail(r, "the sequence encoder's int8 rows");
    for (size_t i = 0; i < V; i++)
        if (!(e->scales[i] > 0) || !(e->scales[i] < 1e30f))
            return mr_fail(r, "a bad scale in the sequence encoder's int8 rows");
    return mr_floats(r, "the sequence encoder", e->params, e->nparams);
}
