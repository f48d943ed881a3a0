#include "model/explain.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/fmt_float.h"
#include "core/grow.h"
#include "core/mem.h"
#include "model/cnn_encoder.h"
#include "model/image_model.h"
#include "model/sparse_vec.h"
#include "nn/softmax.h"
#include "text/utf8.h"

enum { CELLS = EXPLAIN_GRID * EXPLAIN_GRID };

struct explainer {
    const shelf_model *m;
    /* the bag's vector of the text explained */
    vec_scratch vs;
    sparse_vec vec;
    float *u; /* --dim: the two labels' head difference over the embedding */
    float *hidden, *z; /* the text's embedding (--dim), its node scores */
    float *top;        /* K: explain_bag_predict's copy of the logits, for the best labels */
    /* occlusion: the texts without one token each, and their log-probabilities */
    tok_scratch tok;
    buf texts;
    const char **variants;
    float *lp;
    /* per token: its text, weight and place in the ranking */
    const char **tokens;
    float *weights;
    char *token_text;
    size_t token_cap, text_cap;
    size_t *order;
    uint64_t *keys; /* 2 per token: the ranking's sort keys and its scratch */
    float *share;   /* per entry of the bag's vector: its share of the margin per occurrence */
    size_t share_cap;
    size_t keys_cap;
    float *ranked;
    const char **ranked_tokens;
    size_t *token_len; /* by position: each token's bytes */
    /* the image and its occluded copies, their probabilities */
    unsigned char *pix;
    float *probs;
};

explainer *explainer_new(const shelf_model *m)
{
    explainer *x = mem_calloc(1, sizeof *x);
    if (!x)
        return NULL;
    x->m = m;
    size_t K = (size_t)model_num_labels(m);
    buf_init(&x->texts);
    const bag_encoder *b = model_bag(m);
    /* occlusion reads a variant of the text per token; the bag splits one reading */
    const size_t rows = b ? 1 : EXPLAIN_MAX_TOKENS + 1;
    x->lp = mem_alloc(rows * K * sizeof *x->lp);
    x->variants = mem_alloc(rows * sizeof *x->variants);
    int bad_vs = 0;
    if (b) {
        bad_vs = vec_scratch_init(&x->vs, b->nrows);
        x->vs.feats.track = 1;
        x->u = mem_alloc((size_t)(b->dim > 0 ? b->dim : 1) * sizeof *x->u);
        x->hidden = mem_alloc((size_t)(b->dim > 0 ? b->dim : 1) * sizeof *x->hidden);
        x->z = mem_alloc((size_t)model_num_nodes(m) * sizeof *x->z);
        x->top = mem_alloc(K * sizeof *x->top);
    }
    if (m->image) {
        size_t S = (size_t)image_encoder_size(m->image);
        x->pix = mem_alloc((CELLS + 1) * S * S * 3);
        x->probs = mem_alloc((CELLS + 1) * K * sizeof *x->probs);
    }
    if (!x->lp || !x->variants || bad_vs ||
        (b && (!x->u || !x->hidden || !x->z || !x->top)) ||
        (m->image && (!x->pix || !x->probs))) {
        explainer_free(x);
        return NULL;
    }
    return x;
}

void explainer_free(explainer *x)
{
    if (!x)
        return;
    vec_scratch_free(&x->vs); /* zeroed, or made in part: either is freed */
    sparse_vec_free(&x->vec);
    mem_free(x->u);
    mem_free(x->hidden);
    mem_free(x->z);
    mem_free(x->top);
    tok_scratch_free(&x->tok);
    buf_free(&x->texts);
    mem_free(x->variants);
    mem_free(x->lp);
    mem_free(x->tokens);
    mem_free(x->weights);
    mem_free(x->token_text);
    mem_free(x->order);
    mem_free(x->keys);
    mem_free(x->share);
    mem_free(x->ranked);
    mem_free(x->ranked_tokens);
    mem_free(x->token_len);
    mem_free(x->pix);
    mem_free(x->probs);
    mem_free(x);
}

/* Room for n tokens of text_len bytes in all (each NUL-terminated). 0, or -1. */
static int reserve_tokens(explainer *x, size_t n, size_t text_len)
{
    size_t cap = x->token_cap, c2 = cap, c3 = cap, c4 = cap, c5 = cap, c6 = cap;
    if (grow_array((void **)&x->tokens, &cap, n + 1, sizeof *x->tokens, 64) ||
        grow_array((void **)&x->weights, &c2, n + 1, sizeof *x->weights, 64) ||
        grow_array((void **)&x->order, &c3, n + 1, sizeof *x->order, 64) ||
        grow_array((void **)&x->ranked, &c4, n + 1, sizeof *x->ranked, 64) ||
        grow_array((void **)&x->ranked_tokens, &c5, n + 1, sizeof *x->ranked_tokens, 64) ||
        grow_array((void **)&x->token_len, &c6, n + 1, sizeof *x->token_len, 64))
        return -1;
    /* each grew to at least n + 1: the smallest capacity is what all have */
    size_t caps[] = {cap, c2, c3, c4, c5, c6};
    x->token_cap = cap;
    for (size_t i = 1; i < sizeof caps / sizeof *caps; i++)
        x->token_cap = caps[i] < x->token_cap ? caps[i] : x->token_cap;
    return grow_array((void **)&x->keys, &x->keys_cap, 2 * n + 2, sizeof *x->keys, 128) ||
           grow_array((void **)&x->token_text, &x->text_cap, text_len + n + 1, 1, 256);
}

/* Copies the n tokens of t into the explainer's token strings. */
static void keep_tokens(explainer *x, const tok_scratch *t, size_t n)
{
    char *at = x->token_text;
    for (size_t i = 0; i < n; i++) {
        const tok_span *sp = &t->tokens[i];
        memcpy(at, t->text + sp->start, sp->len);
        at[sp->len] = '\0';
        x->tokens[i] = at;
        x->token_len[i] = sp->len;
        at += sp->len + 1;
    }
}

static size_t tokens_bytes(const tok_scratch *t, size_t n)
{
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += t->tokens[i].len;
    return bytes;
}

/* Label c's taxonomy nodes (its own node when flat): *n of them. */
static const uint32_t *label_nodes(const shelf_model *m, int c, size_t *n)
{
    *n = m->tax.path_off[c + 1] - m->tax.path_off[c];
    return m->tax.path + m->tax.path_off[c];
}

/* Sum over label c's nodes of head h's weights from input `in` (in < 0: the biases), minus
 * the same of label d: what a unit of that input adds to c's logit over d's. */
static float path_diff(const shelf_model *m, const label_head *h, long in, int c, int d)
{
    float sum = 0;
    for (int side = 0; side < 2; side++) {
        size_t n;
        const uint32_t *nodes = label_nodes(m, side ? d : c, &n);
        for (size_t k = 0; k < n; k++) {
            float v = in < 0 ? h->b[nodes[k]] : label_head_weight(h, (size_t)in, (int)nodes[k]);
            sum += side ? -v : v;
        }
    }
    return sum;
}

/* The bag's vector of text, with each feature's tokens tracked, and the labels' logits from
 * it into x->lp: the text is read once for both. 0, or -1. */
static int bag_logits(explainer *x, const char *text)
{
    const shelf_model *m = x->m;
    const bag_encoder *b = model_bag(m);
    const label_head *h = &m->text_head; /* the rows read next, fetched early as a run does */
    const float *next = b->dim ? b->emb : h->by_output ? NULL : h->w; /* NULL when int8 */
    if (bag_vectorize(b, &x->vs, &x->vec, text, strlen(text), next,
                      b->dim ? (size_t)b->dim : (size_t)h->out))
        return -1;
    encoder_features f = {.n = 1, .width = h->in, .sparse = &x->vec};
    if (b->dim) { /* the head reads the embedding */
        bag_embed(b, &x->vec, x->hidden);
        f.sparse = NULL;
        f.dense = x->hidden;
    }
    label_head_forward_row(h, &f, 0, x->z);
    const int K = model_num_labels(m);
    if (m->hierarchical)
        taxonomy_leaf_logits(&m->tax, x->z, x->lp);
    else
        memcpy(x->lp, x->z, (size_t)K * sizeof *x->lp);
    return 0;
}

/* The bag's exact split of the margin of label over versus into its tokens' weights, from
 * the vector bag_logits made. */
static int explain_bag(explainer *x, text_explanation *out)
{
    const shelf_model *m = x->m;
    const bag_encoder *b = model_bag(m);
    const label_head *h = &m->text_head;
    vec_scratch *vs = &x->vs;
    sparse_vec *v = &x->vec;
    const feat_list *f = &vs->feats;
    size_t ntok = f->tok.ntokens;
    if (reserve_tokens(x, ntok, tokens_bytes(&f->tok, ntok)))
        return -1;
    keep_tokens(x, &f->tok, ntok);
    memset(x->weights, 0, ntok * sizeof *x->weights);
    int c = out->label, d = out->versus;
    const int D = b->dim;
    for (int k = 0; k < D; k++) /* the head reads the embedding: its difference over it */
        x->u[k] = path_diff(m, h, k, c, d);
    if (grow_array((void **)&x->share, &x->share_cap, v->n + 1, sizeof *x->share, 256))
        return -1;
    size_t nc, nd; /* one node each (a flat model): a row's two weights, read directly */
    const uint32_t *cn = label_nodes(m, c, &nc), *dn = label_nodes(m, d, &nd);
    const int direct = D == 0 && nc == 1 && nd == 1 && !h->by_output && !h->q;
    for (size_t j = 0; j < v->n; j++) { /* each entry's share of the margin, per occurrence */
        const size_t r = v->rows[j];
        float delta = 0;
        if (direct)
            delta = h->w[r * (size_t)h->out + cn[0]] - h->w[r * (size_t)h->out + dn[0]];
        else if (D == 0)
            delta = path_diff(m, h, (long)r, c, d);
        else
            for (int k = 0; k < D; k++)
                delta += b->emb[r * (size_t)D + (size_t)k] * x->u[k];
        x->share[j] = v->vals[j] * delta / (float)vs->count[j];
    }
    for (size_t o = 0; o < f->n; o++) { /* each occurrence's, to the tokens it spans */
        if (vs->entry[o] == VEC_UNKNOWN)
            continue;
        float share = x->share[vs->entry[o]] / (float)f->span[o];
        for (uint32_t t = f->from[o]; t < f->from[o] + f->span[o] && t < ntok; t++)
            x->weights[t] += share;
    }
    out->bias = path_diff(m, h, -1, c, d) + out->adjust; /* the adjustment is no token's */
    out->exact = 1;
    out->n = ntok;
    return 0;
}

/* Occlusion: each token's weight is the margin's fall without it. lp holds the whole text's
 * log-probabilities already. */
static int explain_occlusion(explainer *x, shelf_scratch *s, const char *text,
                             text_explanation *out)
{
    const shelf_model *m = x->m;
    long got = tok_tokenize(&x->tok, text, strlen(text));
    if (got < 0)
        return -1;
    /* every token is read; the first EXPLAIN_MAX_TOKENS are explained, each by a variant */
    size_t all = (size_t)got, ntok = all < EXPLAIN_MAX_TOKENS ? all : EXPLAIN_MAX_TOKENS;
    if (reserve_tokens(x, all, tokens_bytes(&x->tok, all)))
        return -1;
    keep_tokens(x, &x->tok, all);
    /* the texts without token i, back to back in one buffer */
    x->texts.len = 0;
    size_t *start = x->order; /* as scratch: each variant's offset */
    for (size_t i = 0; i < ntok; i++) {
        start[i] = x->texts.len;
        for (size_t j = 0, first = 1; j < all; j++) {
            if (j == i)
                continue;
            if (!first)
                buf_append(&x->texts, " ", 1);
            buf_puts(&x->texts, x->tokens[j]);
            first = 0;
        }
        buf_append(&x->texts, "", 1); /* each variant NUL-terminated */
    }
    if (x->texts.oom)
        return -1;
    for (size_t i = 0; i < ntok; i++)
        x->variants[i] = x->texts.data + start[i];
    size_t K = (size_t)model_num_labels(m);
    float *lp = x->lp + K; /* after the whole text's */
    if (ntok && model_texts_log_probs(m, s, x->variants, ntok, lp, NULL))
        return -1;
    for (size_t i = 0; i < ntok; i++) {
        const float *q = lp + i * K;
        x->weights[i] = out->margin - out->adjust - (q[out->label] - q[out->versus]);
    }
    out->bias = 0;
    out->exact = 0;
    out->n = ntok;
    return 0;
}

/* A key that sorts ascending as the tokens are ranked: weight down, then position up. */
static uint64_t rank_key(float w, size_t i)
{
    uint32_t bits;
    w += 0.0f; /* -0 as 0: equal weights rank by position */
    memcpy(&bits, &w, sizeof bits);
    bits = bits & 0x80000000u ? ~bits : bits | 0x80000000u; /* ascending with the float */
    return (uint64_t)~bits << 32 | (uint64_t)i;
}

/* Sorts k[0..n) ascending by their high 32 bits (the weight's), keeping the order of equal
 * ones (k[i] made in position order: the positions' order), tmp[n] the scratch. A short list
 * by insertion; a long one by a radix sort a byte at a time, which has no comparison to
 * mispredict (qsort cost a tenth of explaining a bag model's long texts, a merge sort two
 * thirds of that). */
static void sort_keys(uint64_t *k, uint64_t *tmp, size_t n)
{
    if (n <= 16) { /* the keys are distinct (the position is in them): stable as it is */
        for (size_t i = 1; i < n; i++) {
            uint64_t v = k[i];
            size_t j = i;
            for (; j > 0 && k[j - 1] > v; j--)
                k[j] = k[j - 1];
            k[j] = v;
        }
        return;
    }
    uint32_t at[4][256]; /* each byte's counts, all four from one read */
    memset(at, 0, sizeof at);
    for (size_t i = 0; i < n; i++) {
        uint32_t w = (uint32_t)(k[i] >> 32);
        at[0][w & 255]++;
        at[1][(w >> 8) & 255]++;
        at[2][(w >> 16) & 255]++;
        at[3][w >> 24]++;
    }
    uint64_t *from = k, *to = tmp;
    for (int p = 0; p < 4; p++) {
        const int shift = 32 + 8 * p;
        if (at[p][(from[0] >> shift) & 255] == n) /* one value of this byte: in order already */
            continue;
        for (uint32_t b = 0, sum = 0; b < 256; b++) { /* counts into each value's first place */
            uint32_t c = at[p][b];
            at[p][b] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            to[at[p][(from[i] >> shift) & 255]++] = from[i];
        uint64_t *t = from;
        from = to;
        to = t;
    }
    if (from != k)
        memcpy(k, from, n * sizeof *k);
}

/* explain_text once x->lp holds the text's log-probabilities (and, for the bag, x->vs its
 * tracked vector). */
static int explain_read_text(explainer *x, shelf_scratch *s, const char *text, int label,
                             text_explanation *out)
{
    const shelf_model *m = x->m;
    const int K = model_num_labels(m);
    memset(out, 0, sizeof *out);
    out->label = label;
    /* --balance adjust moves each label's logit by a constant (in these units, before the
       temperature: T tau log prior): the runner-up and the margin are the adjusted ones */
    const float shift = m->log_prior ? m->temperature * m->adjust_tau : 0;
#define ADJUSTED(c) (x->lp[c] - (shift != 0 ? shift * m->log_prior[c] : 0))
    int versus = label == 0 ? 1 : 0; /* the best other label */
    for (int c = 0; c < K; c++)
        if (c != label && ADJUSTED(c) > ADJUSTED(versus))
            versus = c;
    out->versus = K > 1 ? versus : label;
    out->margin = ADJUSTED(label) - ADJUSTED(out->versus);
    out->adjust = out->margin - (x->lp[label] - x->lp[out->versus]);
#undef ADJUSTED
    if (model_bag(m) ? explain_bag(x, out) : explain_occlusion(x, s, text, out))
        return -1;
    for (size_t i = 0; i < out->n; i++)
        x->keys[i] = rank_key(x->weights[i], i);
    sort_keys(x->keys, x->keys + out->n, out->n);
    for (size_t i = 0; i < out->n; i++)
        x->order[i] = (size_t)(uint32_t)x->keys[i];
    for (size_t i = 0; i < out->n; i++) { /* best first: tokens and weights in that order */
        x->ranked[i] = x->weights[x->order[i]];
        x->ranked_tokens[i] = x->tokens[x->order[i]];
    }
    memcpy(x->weights, x->ranked, out->n * sizeof *x->weights);
    memcpy(x->tokens, x->ranked_tokens, out->n * sizeof *x->tokens);
    out->tokens = x->tokens;
    out->weights = x->weights;
    out->positions = x->order;
    out->lens = x->token_len;
    return 0;
}

int explain_text(explainer *x, shelf_scratch *s, const char *text, int label,
                 text_explanation *out)
{
    const shelf_model *m = x->m;
    if (!model_bag(m))
        return model_texts_log_probs(m, s, &text, 1, x->lp, NULL) ? -1
               : explain_read_text(x, s, text, label, out);
    if (bag_logits(x, text))
        return -1;
    log_softmax_forward(x->lp, x->lp, model_num_labels(m));
    return explain_read_text(x, s, text, label, out);
}

int explain_image(explainer *x, encoder_work *w, size_t batch, const unsigned char *pixels,
                  int label, float grid[EXPLAIN_GRID * EXPLAIN_GRID], float *prob)
{
    const shelf_model *m = x->m;
    const size_t S = (size_t)image_encoder_size(m->image), bytes = S * S * 3;
    const size_t K = (size_t)model_num_labels(m);
    const image_settings *st = &as_const_cnn(m->image)->img;
    unsigned char grey[3];
    for (int ch = 0; ch < 3; ch++) /* the mean colour: 0 once normalized */
        grey[ch] = (unsigned char)(st->mean[ch] * 255.0f + 0.5f);
    memcpy(x->pix, pixels, bytes);
    for (size_t cell = 0; cell < CELLS; cell++) {
        unsigned char *img = x->pix + (cell + 1) * bytes;
        memcpy(img, pixels, bytes);
        size_t gr = cell / EXPLAIN_GRID, gc = cell % EXPLAIN_GRID;
        size_t r0 = gr * S / EXPLAIN_GRID, r1 = (gr + 1) * S / EXPLAIN_GRID;
        size_t c0 = gc * S / EXPLAIN_GRID, c1 = (gc + 1) * S / EXPLAIN_GRID;
        for (size_t r = r0; r < r1; r++)
            for (size_t c = c0; c < c1; c++)
                memcpy(img + (r * S + c) * 3, grey, 3);
    }
    if (image_model_probs(m->image, &m->image_head, w, batch, x->pix, CELLS + 1, 0, x->probs, NULL, 0))
        return -1;
    *prob = x->probs[label];
    for (size_t cell = 0; cell < CELLS; cell++)
        grid[cell] = *prob - x->probs[(cell + 1) * K + (size_t)label];
    return 0;
}

/* ---- the JSON object, written straight into a buffer: an explanation of a long text has
 * hundreds of tokens, and building a cJSON tree of them cost three times the explanation */

/* s (n bytes) as a JSON string at o, which has room for 6 * n + 2 bytes; returns the end.
 * Quotes, backslashes and control characters escaped, bytes that are not UTF-8 as U+FFFD,
 * so that the output stays valid JSON whatever a label holds. */
static char *json_string_at(char *o, const char *s, size_t n)
{
    *o++ = '"';
    while (n > 0) {
        size_t ok = utf8_valid_prefix(s, n);
        for (size_t i = 0; i < ok; i++) {
            unsigned char c = (unsigned char)s[i];
            if (c >= 0x20 && c != '"' && c != '\\') {
                *o++ = (char)c;
            } else if (c == '"' || c == '\\') {
                *o++ = '\\';
                *o++ = (char)c;
            } else {
                static const char hex[] = "0123456789abcdef";
                memcpy(o, "\\u00", 4);
                o[4] = hex[c >> 4];
                o[5] = hex[c & 15];
                o += 6;
            }
        }
        s += ok;
        n -= ok;
        if (n == 0)
            break;
        size_t bad = utf8_invalid_len(s, n);
        memcpy(o, "\\ufffd", 6);
        o += 6;
        s += bad;
        n -= bad;
    }
    *o++ = '"';
    return o;
}

static void json_string(buf *b, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n > (SIZE_MAX - 2) / 6) {
        b->oom = 1;
        return;
    }
    if (buf_reserve(b, 6 * n + 2))
        return;
    b->len = (size_t)(json_string_at(b->data + b->len, s ? s : "", n) - b->data);
    b->data[b->len] = '\0';
}

/* v with 6 significant digits, as the predictions' probabilities (a float has no more); a
 * value that is not finite, which no model should give, as 0. */
static void json_float(buf *b, float v)
{
    char num[FMT_G6_MAX];
    buf_append(b, num, fmt_g6(num, isfinite(v) ? v : 0.0f));
}

/* ,"name":v */
static void json_number(buf *b, const char *name, float v)
{
    buf_puts(b, ",\"");
    buf_puts(b, name);
    buf_puts(b, "\":");
    json_float(b, v);
}

static void put_text(buf *b, const shelf_model *m, const text_explanation *t)
{
    buf_puts(b, t->exact ? ",\"text\":{\"method\":\"exact\",\"versus\":"
                         : ",\"text\":{\"method\":\"occlusion\",\"versus\":");
    json_string(b, shelf_model_label(m, t->versus));
    json_number(b, "margin", t->margin);
    if (t->exact)
        json_number(b, "bias", t->bias);
    buf_puts(b, ",\"tokens\":[");
    /* a long text's hundreds of tokens: each written in place, its room reserved at once */
    static const char TOKEN[] = ",{\"token\":", WEIGHT[] = ",\"weight\":",
                      POSITION[] = ",\"position\":";
    for (size_t i = 0; i < t->n; i++) {
        size_t len = t->lens[t->positions[i]];
        if (len > SIZE_MAX / 8) {
            b->oom = 1;
            return;
        }
        if (buf_reserve(b, 6 * len + 96))
            return;
        char *o = b->data + b->len, *first = o;
        memcpy(o, TOKEN + (i == 0), sizeof TOKEN - 1 - (i == 0));
        o += sizeof TOKEN - 1 - (i == 0);
        o = json_string_at(o, t->tokens[i], len);
        memcpy(o, WEIGHT, sizeof WEIGHT - 1);
        o += sizeof WEIGHT - 1;
        float w = t->weights[i];
        o += fmt_g6(o, isfinite(w) ? w : 0.0f);
        memcpy(o, POSITION, sizeof POSITION - 1);
        o += sizeof POSITION - 1;
        o += fmt_uint(o, t->positions[i]);
        *o++ = '}';
        b->len += (size_t)(o - first);
    }
    buf_puts(b, "]}");
}

static void put_image(buf *b, const float *grid, float prob)
{
    buf_puts(b, ",\"image\":{\"method\":\"occlusion\"");
    json_number(b, "probability", prob);
    buf_puts(b, ",\"grid\":[");
    for (int r = 0; r < EXPLAIN_GRID; r++) {
        buf_puts(b, r ? ",[" : "[");
        for (int c = 0; c < EXPLAIN_GRID; c++) {
            if (c)
                buf_puts(b, ",");
            json_float(b, grid[r * EXPLAIN_GRID + c]);
        }
        buf_puts(b, "]");
    }
    buf_puts(b, "]}");
}

/* explain_product_to; text_read: the text is in x->lp (and x->vs) already. */
static int product_json(explainer *x, buf *b, shelf_scratch *s, encoder_work *w,
                        size_t batch, const char *text, int text_read,
                        const unsigned char *pixels, int label, const float *fusion)
{
    const shelf_model *m = x->m;
    buf_puts(b, "{\"label\":");
    json_string(b, shelf_model_label(m, label));
    if (text && model_reads_text(m)) {
        text_explanation t;
        if (text_read ? explain_read_text(x, s, text, label, &t)
                      : explain_text(x, s, text, label, &t))
            b->oom = 1;
        else
            put_text(b, m, &t);
    }
    if (pixels && m->image) {
        float grid[CELLS], prob = 0;
        if (explain_image(x, w, batch, pixels, label, grid, &prob))
            b->oom = 1;
        else
            put_image(b, grid, prob);
    }
    if (fusion) {
        buf_puts(b, ",\"fusion\":{\"text\":");
        json_float(b, fusion[0]);
        json_number(b, "image", fusion[1]);
        buf_puts(b, "}");
    }
    buf_append(b, "}", 2); /* with its NUL: the next object follows it */
    return b->oom ? -1 : 0;
}

int explain_product_to(explainer *x, buf *out, shelf_scratch *s, encoder_work *w,
                       size_t batch, const char *text, const unsigned char *pixels, int label,
                       const float *fusion)
{
    return product_json(x, out, s, w, batch, text, 0, pixels, label, fusion);
}

char *explain_product(explainer *x, shelf_scratch *s, encoder_work *w, size_t batch,
                      const char *text, const unsigned char *pixels, int label,
                      const float *fusion)
{
    buf b;
    buf_init(&b);
    if (product_json(x, &b, s, w, batch, text, 0, pixels, label, fusion))
        b.oom = 1;
    char *json = buf_detach(&b); /* NULL after any failure, the explanation's included */
    buf_free(&b);
    return json;
}

int explain_bag_predict(explainer *x, const char *text, int k, int *labels, float *probs,
                        buf *out)
{
    const shelf_model *m = x->m;
    const int K = model_num_labels(m);
    if (bag_logits(x, text))
        return -1;
    memcpy(x->top, x->lp, (size_t)K * sizeof *x->top); /* the same logits as a plain run */
    int count = model_top_labels(m, x->top, k, labels, probs);
    log_softmax_forward(x->lp, x->lp, K);
    /* an empty text explained as a product without one, as explain_product is asked */
    if (count > 0 && product_json(x, out, NULL, NULL, 0, *text ? text : NULL, 1, NULL,
                                  labels[0], NULL))
        return -1;
    return count;
}
