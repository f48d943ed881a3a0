/* The sequence text encoders (see seq_encoder.h). B = sequences, T = steps, D = width,
 * W = encoder output width. */
#include "model/seq_encoder.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/rng.h"
#include "nn/activation.h"
#include "nn/attention.h"
#include "nn/blas_threads.h"
#include "nn/embedding.h"
#include "nn/gru.h"
#include "nn/seqpool.h"
#include "nn/transformer.h"
#include "text/hash.h"

/* GRU layer b: the embeddings in (D wide), or the layer below's two directions (2D). */
static gru_shape gru_of(const seq_encoder *e, int b)
{
    return (gru_shape){b ? 2 * e->D : e->D, e->D, 2};
}

/* Where layer b's parameters start in the block. */
static size_t layer_at(const seq_layout *l, int b)
{
    return l->enc + (b ? l->first + (size_t)(b - 1) * l->block : 0);
}
static transformer_shape block_of(const seq_encoder *e)
{
    return (transformer_shape){.D = e->D, .heads = e->heads, .F = e->F};
}

/* A block as it runs on work w: with w's dropout when training. */
static transformer_shape block_on(const seq_encoder *e, seq_work *w)
{
    transformer_shape s = block_of(e);
    if (w->train && w->dropout > 0) {
        s.dropout = w->dropout;
        s.rng = &w->drop_rng;
    }
    return s;
}

const char *seq_kind_name(seq_kind k)
{
    return k == SEQ_GRU ? "gru" : k == SEQ_TRANSFORMER ? "transformer" : "bag";
}

size_t seq_rows(const seq_encoder *e) { return (size_t)e->nwords + e->nbuckets + e->nsub; }

seq_layout seq_layout_of(const seq_encoder *e)
{
    const size_t D = (size_t)e->D, V = e->int8 ? 0 : seq_rows(e);
    seq_layout l = {0};
    const int tf = e->kind == SEQ_TRANSFORMER;
    const gru_shape g0 = gru_of(e, 0), g1 = gru_of(e, 1);
    transformer_shape s = block_of(e);
    l.W = tf ? e->D : 2 * e->D;
    l.emb = 0;
    l.pos = V * D;
    l.enc = l.pos + (tf ? (size_t)e->T * D : 0);
    l.first = tf ? transformer_param_floats(&s) : gru_param_floats(&g0);
    l.block = tf ? l.first : gru_param_floats(&g1);
    l.total = layer_at(&l, seq_layers(e));
    return l;
}

int seq_encoder_size(seq_encoder *e)
{
    if ((e->kind != SEQ_GRU && e->kind != SEQ_TRANSFORMER) || e->D < 1 || e->D > 4096 ||
        e->T < 1 || e->T > SEQ_MAX_TOKENS || e->nbuckets < 1 ||
        e->nwords > SEQ_MAX_WORDS || e->nbuckets > SEQ_MAX_WORDS || e->nsub > SEQ_MAX_WORDS)
        return -1;
    if (e->layers < 0 || e->layers > SEQ_MAX_LAYERS)
        return -1;
    if (e->kind == SEQ_TRANSFORMER &&
        (e->layers < 1 || e->layers > SEQ_MAX_LAYERS || e->heads < 1 || e->D % e->heads ||
         e->F < 1 || e->F > 16384))
        return -1;
    e->nparams = seq_layout_of(e).total;
    return 0;
}

int seq_encoder_alloc(seq_encoder *e)
{
    if (seq_encoder_size(e))
        return -1;
    mem_free(e->params);
    e->params = mem_calloc(e->nparams, sizeof *e->params);
    return e->params ? 0 : -1;
}

int seq_encoder_alloc_int8(seq_encoder *e)
{
    const size_t V = seq_rows(e);
    mem_free(e->codes);
    mem_free(e->scales);
    e->codes = mem_alloc(V * (size_t)e->D + 1);
    e->scales = mem_alloc((V + 1) * sizeof *e->scales);
    return e->codes && e->scales ? 0 : -1;
}

int seq_encoder_quantize(seq_encoder *e)
{
    if (e->int8)
        return -1;
    const size_t V = seq_rows(e), D = (size_t)e->D, emb = V * D, rest = e->nparams - emb;
    seq_encoder q = *e;
    q.codes = NULL;
    q.scales = NULL;
    q.int8 = 1;
    float *dense = mem_alloc((rest + 1) * sizeof *dense);
    if (!dense || seq_encoder_alloc_int8(&q)) {
        mem_free(dense);
        mem_free(q.codes);
        mem_free(q.scales);
        return -1;
    }
    for (size_t r = 0; r < V; r++) {
        const float *row = e->params + r * D;
        float most = 0;
        for (size_t j = 0; j < D; j++)
            most = fmaxf(most, fabsf(row[j]));
        /* a row of (nearly) nothing keeps zeros, its scale a number */
        const float sc = most >= 127 * FLT_MIN ? most / 127 : 1;
        q.scales[r] = sc;
        for (size_t j = 0; j < D; j++)
            q.codes[r * D + j] = most >= 127 * FLT_MIN ? (int8_t)lrintf(row[j] / sc) : 0;
    }
    memcpy(dense, e->params + emb, rest * sizeof *dense);
    mem_free(e->params);
    q.params = dense;
    q.nparams = rest;
    *e = q;
    return 0;
}

void seq_encoder_free(seq_encoder *e)
{
    if (!e)
        return;
    mem_free(e->params);
    mem_free(e->codes);
    mem_free(e->scales);
    mem_free(e->words);
    memset(e, 0, sizeof *e);
}

static void uniform(float *p, size_t n, float a, rng *r)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (2 * rng_float(r) - 1) * a;
}

/* One Transformer block in nn/transformer.h's layout: layer norms at 1 and 0, in_proj
 * Xavier-uniform, the other matrices uniform(1/sqrt(fan_in)), biases 0. */
static void init_block(const seq_encoder *e, float *p, rng *r)
{
    const size_t D = (size_t)e->D, F = (size_t)e->F;
    const attn_shape a = {e->D, e->heads};
    float *ln1 = p, *attn = p + 2 * D, *ln2 = attn + attention_param_floats(&a);
    float *w1 = ln2 + 2 * D, *w2 = w1 + F * D + F;
    for (size_t j = 0; j < D; j++)
        ln1[j] = ln2[j] = 1;
    uniform(attn, 3 * D * D, sqrtf(6.0f / (float)(4 * D)), r);
    uniform(attn + 3 * D * D + 3 * D, D * D, 1 / sqrtf((float)D), r);
    uniform(w1, F * D, 1 / sqrtf((float)D), r);
    uniform(w2, D * F, 1 / sqrtf((float)F), r);
}

void seq_encoder_init_weights(seq_encoder *e, rng *r)
{
    const seq_layout l = seq_layout_of(e);
    float *P = e->params;
    memset(P, 0, e->nparams * sizeof *P);
    uniform(P + l.emb, l.pos - l.emb, 0.1f, r);
    if (e->kind == SEQ_TRANSFORMER) {
        uniform(P + l.pos, l.enc - l.pos, 0.02f, r);
        for (int b = 0; b < e->layers; b++)
            init_block(e, P + layer_at(&l, b), r);
    } else {
        uniform(P + l.enc, l.total - l.enc, 1 / sqrtf((float)e->D), r);
    }
}

void seq_encoder_init_head(const seq_encoder *e, float *head_w, size_t n, rng *r)
{
    uniform(head_w, n, 1 / sqrtf((float)seq_width(e)), r);
}

uint64_t seq_token_hash(const char *s, size_t n)
{
    return hash_finish(hash_fnv1a(HASH_FNV_BASIS, s, n));
}

int32_t seq_row_of_hash(const seq_encoder *e, uint64_t h)
{
    size_t lo = 0, hi = e->nwords;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (e->words[mid] < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < e->nwords && e->words[lo] == h)
        return (int32_t)lo;
    return (int32_t)(e->nwords + (uint32_t)((h >> 17) % e->nbuckets));
}

enum { MAX_TOKEN_CHARS = 255 }; /* code points of a token that its 3-grams are taken from */

/* Spreads k picks over [0, n): 0, ..., n-1 (all of them when n <= k). */
static long spread(long j, long n, long k) { return n <= k ? j : j * (n - 1) / (k - 1); }

void seq_subwords(const tok_scratch *ts, long i, long n, uint32_t nsub, int32_t *out)
{
    static const unsigned char BIGRAM_NS = 'b', CHAR_NS = 'c';
    for (int s = 0; s < SEQ_SLOTS - 1; s++)
        out[s] = -1;
    const tok_span *t = &ts->tokens[i];
    if (i + 1 < n) {
        const tok_span *u = &ts->tokens[i + 1];
        uint64_t h = hash_fnv1a(HASH_FNV_BASIS, &BIGRAM_NS, 1);
        h = hash_combine(hash_fnv1a(h, ts->text + t->start, t->len),
                         seq_token_hash(ts->text + u->start, u->len));
        out[0] = (int32_t)(hash_finish(h) % nsub);
    }
    if (t->cjk || t->nchars < 2)
        return;
    /* at[c]: the byte where the token's code point c starts; at[nch]: its end. Long
     * tokens (noise) are cut to their first code points. */
    const char *w = ts->text + t->start;
    uint32_t at[MAX_TOKEN_CHARS + 1];
    long nch = 0;
    for (uint32_t b = 0; b < t->len && nch < (long)(sizeof at / sizeof *at) - 1; b++)
        if (((unsigned char)w[b] & 0xC0) != 0x80)
            at[nch++] = b;
    at[nch] = t->len;
    const long grams = nch; /* the 3-grams of "<token>", nch + 2 code points */
    for (long j = 0; j < SEQ_CHAR_NGRAMS && j < grams; j++) {
        const long g = spread(j, grams, SEQ_CHAR_NGRAMS);
        uint64_t h = hash_fnv1a(HASH_FNV_BASIS, &CHAR_NS, 1);
        const long first = g - 1, last = g + 1; /* the token's code points; -1 '<', nch '>' */
        if (first < 0)
            h = hash_fnv1a(h, "<", 1);
        const uint32_t b0 = at[first < 0 ? 0 : first];
        const uint32_t b1 = last >= nch ? t->len : at[last + 1];
        h = hash_fnv1a(h, w + b0, b1 - b0);
        if (last >= nch)
            h = hash_fnv1a(h, ">", 1);
        out[1 + j] = (int32_t)(hash_finish(h) % nsub);
    }
}

int seq_text_ids(const seq_encoder *e, tok_scratch *ts, const char *text, int32_t *ids)
{
    long n = tok_tokenize(ts, text, strlen(text));
    if (n < 0)
        return -1;
    const long kept = n > e->T ? e->T : n;
    const int S = seq_slots(e);
    const int32_t base = (int32_t)(e->nwords + e->nbuckets);
    for (long i = 0; i < kept; i++) {
        int32_t *id = ids + i * S;
        id[0] = seq_row_of_hash(e, seq_token_hash(ts->text + ts->tokens[i].start,
                                                  ts->tokens[i].len));
        if (S == 1)
            continue;
        seq_subwords(ts, i, n, e->nsub, id + 1);
        for (int s = 1; s < S; s++)
            id[s] += id[s] >= 0 ? base : 0;
    }
    return (int)kept;
}

/* ---- the batch's activations ------------------------------------------------------------ */

int seq_work_init(seq_work *w, const seq_encoder *e, int B, int train)
{
    blas_threads_off(); /* a work area per thread: training slices, predicted texts */
    memset(w, 0, sizeof *w);
    const seq_layout l = seq_layout_of(e);
    const size_t BT = (size_t)B * (size_t)e->T, D = (size_t)e->D, W = (size_t)l.W;
    const int L = seq_layers(e);
    gru_shape g = gru_of(e, L > 1); /* the widest layer's work area serves them all */
    transformer_shape s = block_of(e);
    w->B = B;
    w->train = train;
    w->enc_stride = BT * W;
    w->lwork_stride = e->kind == SEQ_TRANSFORMER ? transformer_work_floats(&s, B, e->T)
                                                 : gru_work_floats(&g, B, e->T);
    w->x = mem_alloc(BT * D * sizeof(float));
    w->enc = mem_alloc((size_t)L * w->enc_stride * sizeof(float));
    w->lwork = mem_alloc((size_t)L * w->lwork_stride * sizeof(float));
    w->pooled = mem_alloc((size_t)B * 2 * W * sizeof(float));
    w->argmax = mem_alloc((size_t)B * W * sizeof(int32_t));
    w->dpooled = mem_alloc((size_t)B * 2 * W * sizeof(float));
    int ok = w->x && w->enc && w->lwork && w->pooled && w->dpooled && w->argmax;
    if (ok && train) {
        w->dout = mem_alloc(BT * W * sizeof(float));
        w->dx[0] = mem_alloc(BT * W * sizeof(float)); /* W >= D: a GRU layer's input may be 2D */
        w->dx[1] = mem_alloc(BT * W * sizeof(float));
        w->xmask = mem_alloc(BT * D * sizeof(float));
        w->pmask = mem_alloc((size_t)B * 2 * W * sizeof(float));
        ok = w->dout && w->dx[0] && w->dx[1] && w->xmask && w->pmask;
    }
    if (!ok)
        seq_work_free(w);
    return ok ? 0 : -1;
}

void seq_work_free(seq_work *w)
{
    mem_free(w->x);
    mem_free(w->enc);
    mem_free(w->lwork);
    mem_free(w->pooled);
    mem_free(w->argmax);
    mem_free(w->dpooled);
    mem_free(w->dout);
    mem_free(w->dx[0]);
    mem_free(w->dx[1]);
    mem_free(w->xmask);
    mem_free(w->pmask);
    memset(w, 0, sizeof *w);
}

/* The encoder's output rows [B][T][W]. */
static float *enc_out(const seq_encoder *e, const seq_work *w)
{
    return w->enc + (size_t)(seq_layers(e) - 1) * w->enc_stride;
}

void seq_forward(const seq_encoder *e, seq_work *w, const int32_t *tokens, const int *lens,
                 int B, int T)
{
    const seq_layout l = seq_layout_of(e);
    const float *P = e->params;
    const int W = l.W;
    const int drop = w->train && w->dropout > 0;
    if (e->int8)
        embedding_forward_int8(w->x, tokens, seq_slots(e), lens, e->codes, e->scales,
                               e->kind == SEQ_TRANSFORMER ? P + l.pos : NULL, B, T, e->D);
    else
        embedding_forward(w->x, tokens, seq_slots(e), lens, P + l.emb,
                          e->kind == SEQ_TRANSFORMER ? P + l.pos : NULL, B, T, e->D);
    if (drop) /* padded rows are 0 and stay 0 */
        dropout_forward(w->x, w->xmask, w->x, (size_t)B * T * e->D, w->dropout, &w->drop_rng);
    const transformer_shape s = block_on(e, w);
    const float *in = w->x;
    for (int b = 0; b < seq_layers(e); b++) { /* each layer reads the one below */
        float *out = w->enc + (size_t)b * w->enc_stride, *lw = w->lwork + b * w->lwork_stride;
        if (e->kind == SEQ_GRU) {
            const gru_shape g = gru_of(e, b);
            gru_forward(&g, out, lw, in, lens, P + layer_at(&l, b), B, T);
        } else {
            transformer_forward(&s, out, lw, in, lens, P + layer_at(&l, b), B, T);
        }
        in = out;
    }
    const float *h = enc_out(e, w);
    seqpool_mean_forward(w->pooled, 2 * W, h, lens, B, T, W);
    seqpool_max_forward(w->pooled + W, 2 * W, w->argmax, h, lens, B, T, W);
    if (drop)
        dropout_forward(w->pooled, w->pmask, w->pooled, (size_t)B * 2 * W, w->dropout,
                        &w->drop_rng);
}

void seq_backward(const seq_encoder *e, seq_work *w, float *grads, const int32_t *tokens,
                  const int *lens, int B, int T)
{
    const seq_layout l = seq_layout_of(e);
    const float *P = e->params;
    float *G = grads;
    const int W = l.W;
    const int drop = w->dropout > 0;
    if (drop)
        dropout_backward(w->dpooled, w->dpooled, w->pmask, (size_t)B * 2 * W);
    memset(w->dout, 0, (size_t)B * T * W * sizeof *w->dout);
    seqpool_mean_backward(w->dout, w->dpooled, 2 * W, lens, B, T, W);
    seqpool_max_backward(w->dout, w->dpooled + W, 2 * W, w->argmax, B, T, W);
    /* dout, then dx[0] and dx[1] in turn: a layer's dx never aliases its dout */
    const transformer_shape s = block_on(e, w);
    const float *cur = w->dout;
    float *dx = w->dx[0];
    for (int b = seq_layers(e) - 1, i = 0; b >= 0; b--, i ^= 1) {
        const float *in = b ? w->enc + (size_t)(b - 1) * w->enc_stride : w->x;
        float *lw = w->lwork + b * w->lwork_stride;
        const size_t at = layer_at(&l, b);
        if (e->kind == SEQ_GRU) {
            const gru_shape g = gru_of(e, b);
            gru_backward(&g, w->dx[i], G + at, lw, cur, w->enc + (size_t)b * w->enc_stride, in,
                         lens, P + at, B, T);
        } else {
            transformer_backward(&s, w->dx[i], G + at, lw, cur, in, lens, P + at, B, T);
        }
        cur = dx = w->dx[i];
    }
    if (drop)
        dropout_backward(dx, dx, w->xmask, (size_t)B * T * e->D);
    embedding_backward(G + l.emb, e->kind == SEQ_TRANSFORMER ? G + l.pos : NULL, dx, tokens,
                       seq_slots(e), lens, B, T, e->D);
}

/* ---- prediction ------------------------------------------------------------------------- */

/* Steps per forward pass when predicting: B x T at most this, so that long --max-tokens
 * keep the work area (and the Transformer's T x T attention) small. The GRU gains from
 * each text more in its recurrent products; the Transformer's products already span a
 * text's tokens and its work area is several times the GRU's a step, so it stops at 8
 * texts of 64 tokens (zh reviews: as fast as 32, 76 MB against 135 MB peak). */
enum { PREDICT_STEPS_GRU = 2048, PREDICT_STEPS_TRANSFORMER = 512, WINDOW_BATCHES = 4 };

/* Texts per forward pass when predicting. */
static int predict_batch(const seq_encoder *e)
{
    const int B = (e->kind == SEQ_GRU ? PREDICT_STEPS_GRU : PREDICT_STEPS_TRANSFORMER) / e->T;
    return B < 1 ? 1 : B > SEQ_PREDICT_BATCH ? SEQ_PREDICT_BATCH : B;
}

int seq_predict_window(const seq_encoder *e) { return predict_batch(e) * WINDOW_BATCHES; }

seq_scratch *seq_scratch_new(const seq_encoder *e)
{
    seq_scratch *s = mem_calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->B = predict_batch(e);
    s->window = seq_predict_window(e);
    const size_t step = (size_t)e->T * (size_t)seq_slots(e);
    s->ids = mem_alloc((size_t)s->window * step * sizeof *s->ids);
    s->packed = mem_alloc((size_t)s->B * step * sizeof *s->packed);
    s->lens = mem_alloc((size_t)s->window * sizeof *s->lens);
    s->order = mem_alloc((size_t)s->window * sizeof *s->order);
    if (!s->ids || !s->packed || !s->lens || !s->order || seq_work_init(&s->w, e, s->B, 0)) {
        seq_scratch_free(s);
        return NULL;
    }
    return s;
}

void seq_scratch_free(seq_scratch *s)
{
    if (!s)
        return;
    tok_scratch_free(&s->ts);
    mem_free(s->ids);
    mem_free(s->packed);
    mem_free(s->lens);
    mem_free(s->order);
    seq_work_free(&s->w);
    mem_free(s);
}

/* order[0..n) = 0..n-1 by decreasing lens, ties in input order (an insertion sort: n is a
 * small window). */
static void order_longest_first(const int *lens, int n, int *order)
{
    for (int i = 0; i < n; i++) {
        int j = i;
        for (; j > 0 && lens[order[j - 1]] < lens[i]; j--)
            order[j] = order[j - 1];
        order[j] = i;
    }
}

/* Features of the window's n (<= s->window) texts, whose ids and lens are in s, into
 * feats[n][2W] in s->order (longest first), B at a time. */
static void window_features(const seq_encoder *e, seq_scratch *s, int n, float *feats)
{
    const int S = seq_slots(e);
    const size_t F = (size_t)seq_width(e), step = (size_t)e->T * (size_t)S;
    order_longest_first(s->lens, n, s->order);
    for (int b0 = 0; b0 < n; b0 += s->B) {
        const int nb = n - b0 < s->B ? n - b0 : s->B;
        const int T = s->lens[s->order[b0]] > 0 ? s->lens[s->order[b0]] : 1;
        for (int b = 0; b < nb; b++) { /* padded to T; the padding is never read */
            const int i = s->order[b0 + b];
            s->blens[b] = s->lens[i];
            memcpy(s->packed + (size_t)b * T * S, s->ids + (size_t)i * step,
                   (size_t)s->lens[i] * S * sizeof *s->packed);
        }
        seq_forward(e, &s->w, s->packed, s->blens, nb, T);
        memcpy(feats + (size_t)b0 * F, s->w.pooled, (size_t)nb * F * sizeof *feats);
    }
}

int seq_window_features(const seq_encoder *e, seq_scratch *s, const char *const *texts,
                        size_t n, float *feats)
{
    const size_t step = (size_t)e->T * (size_t)seq_slots(e);
    if (n > (size_t)s->window)
        return -1;
    for (size_t i = 0; i < n; i++)
        if ((s->lens[i] = seq_text_ids(e, &s->ts, texts[i], s->ids + i * step)) < 0)
            return -1;
    window_features(e, s, (int)n, feats);
    return 0;
}
