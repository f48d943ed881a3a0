/* The sequence text encoders: token embeddings (with learned positions for the
 * Transformer), a bidirectional GRU layer or N pre-LayerNorm Transformer blocks, mean and
 * max pooling over the real tokens: the features (2W per text) that a label head reads.
 *
 * B = sequences, T = steps (the padded length, at most e->T), D = embedding width, W = the
 * encoder's output width (2D for the GRU: D per direction; D for the Transformer). Tokens
 * are the tokenizer's words (text/tokenize.h): a word seen at least twice in training has
 * an id of its own, any other word hashes into one of nbuckets shared ids.
 * With subwords (nsub > 0), a step's vector is the mean of S = SEQ_SLOTS embeddings: the
 * token's, the bigram's it starts, and up to SEQ_CHAR_NGRAMS of its character 3-grams, the
 * last two hashed into nsub rows: so a rare or new word still means something, and a
 * Chinese character comes with the word it begins. Read-only once trained; each thread
 * predicts with its own seq_scratch. */
#ifndef SHELF_MODEL_SEQ_ENCODER_H
#define SHELF_MODEL_SEQ_ENCODER_H

#include <stddef.h>
#include <stdint.h>

#include "core/rng.h"
#include "text/tokenize.h"

typedef enum seq_kind { SEQ_GRU = 1, SEQ_TRANSFORMER = 2 } seq_kind;

enum { SEQ_MAX_TOKENS = 4096, SEQ_MAX_LAYERS = 32, SEQ_MAX_WORDS = 1 << 26,
       SEQ_CHAR_NGRAMS = 4, SEQ_SLOTS = 2 + SEQ_CHAR_NGRAMS,
       SEQ_PREDICT_BATCH = 32 /* most texts per forward pass when predicting */ };

typedef struct seq_encoder {
    seq_kind kind;
    int D, layers, heads, F; /* layers, heads, F (feed-forward width): the Transformer's */
    int T;                   /* tokens kept of a text (--max-tokens) */
    uint32_t nwords, nbuckets; /* vocabulary rows: nwords + nbuckets (+ nsub) */
    uint32_t nsub;             /* subword rows, after the others; 0: no subwords */
    uint64_t *words;           /* nwords token hashes, ascending: word i has row i */
    size_t nparams;
    float *params; /* one block, in the order of seq_layout */
    /* int8 (shelf quantize): the embedding rows as codes with a scale each, read as they are
     * by the forward pass; params then start at pos (seq_layout's emb range is empty) */
    int int8;
    int8_t *codes; /* V x D */
    float *scales; /* V: row r's values are scales[r] times its codes */
} seq_encoder;

/* Where each tensor starts in the parameter block (or a gradient block): emb [V][D],
 * pos [T][D] (Transformer; empty for the GRU), the encoder's layers (bidirectional GRU
 * layers of nn/gru.h, the first reading D floats a step and the others the 2D below them;
 * or blocks of nn/transformer.h). The embedding table comes first, so the rest is one dense
 * range [pos, total). Files before the label head moved out kept it after the layers:
 * head_w [K][2W], head_b [K]. */
typedef struct seq_layout {
    size_t emb, pos, enc, first, block, total; /* first: layer 0's floats, block: each later
                                                  one's */
    int W;
} seq_layout;

seq_layout seq_layout_of(const seq_encoder *e);

/* The embedding table's rows: nwords + nbuckets + nsub. */
size_t seq_rows(const seq_encoder *e);

/* e's int8 form: the embedding table's rows coded in [-127, 127] with a scale each (the
 * row's largest magnitude over 127), the table then dropped from params. 0, or -1 out of
 * memory or already int8 (e unchanged). */
int seq_encoder_quantize(seq_encoder *e);
/* The codes and scales of an int8 encoder (set int8 first), for a model file. 0, or -1. */
int seq_encoder_alloc_int8(seq_encoder *e);

/* Checks the sizes, allocates the zeroed parameter block (words is left alone). 0, or -1
 * for bad sizes or out of memory. */
int seq_encoder_alloc(seq_encoder *e);
/* As seq_encoder_alloc without allocating: checks the sizes and sets nparams. 0, or -1. */
int seq_encoder_size(seq_encoder *e);
/* Random initial weights as PyTorch's defaults, drawn from r. */
void seq_encoder_init_weights(seq_encoder *e, rng *r);
/* The n weights of the label head above ([K][2W]) as PyTorch's default, drawn from r after
 * the encoder's, as they were when the head was part of the encoder. */
void seq_encoder_init_head(const seq_encoder *e, float *head_w, size_t n, rng *r);
void seq_encoder_free(seq_encoder *e);
const char *seq_kind_name(seq_kind k);

/* The hash a token is known by (its bytes, normalized by the tokenizer). */
uint64_t seq_token_hash(const char *s, size_t n);
/* The embedding row of a token hash: its word's, or its unknown-word bucket's. */
int32_t seq_row_of_hash(const seq_encoder *e, uint64_t h);

/* Features per text: mean and max pooling of the top layer's W outputs. */
static inline int seq_width(const seq_encoder *e)
{
    return 2 * (e->kind == SEQ_GRU ? 2 * e->D : e->D);
}

/* Encoder layers: the Transformer's blocks, or the GRU's (1 when unset, as in old files). */
static inline int seq_layers(const seq_encoder *e)
{
    return e->kind == SEQ_TRANSFORMER || e->layers > 1 ? e->layers : 1;
}

/* Ids per token: SEQ_SLOTS with subwords, else 1. */
static inline int seq_slots(const seq_encoder *e) { return e->nsub ? SEQ_SLOTS : 1; }

/* The subwords of token i of the n in ts: the bigram with token i+1 and up to
 * SEQ_CHAR_NGRAMS character 3-grams of "<token>" (none for a single character of a script
 * without spaces), as buckets in [0, nsub); -1 where none: SEQ_SLOTS - 1 values. */
void seq_subwords(const tok_scratch *ts, long i, long n, uint32_t nsub, int32_t *out);

/* Tokenizes text into at most e->T steps of seq_slots(e) ids each. Returns the steps, or -1
 * out of memory. */
int seq_text_ids(const seq_encoder *e, tok_scratch *ts, const char *text, int32_t *ids);

/* The activations of a batch of up to B sequences of up to e->T steps, and, when made for
 * training, the backward pass's buffers. With dropout > 0 (training work only), seq_forward
 * drops that share of the embedded tokens' values and of the pooled features, drawing the
 * masks from drop_rng (the caller seeds it per batch, for reproducible runs). */
typedef struct seq_work {
    int B, train;
    float dropout;
    rng drop_rng;
    float *x, *enc, *lwork, *pooled;            /* enc: GRU out or the blocks' outputs;
                                                   pooled: the features [B][2W] */
    float *dpooled, *dout, *dx[2], *xmask, *pmask;
    int32_t *argmax;
    size_t enc_stride, lwork_stride;            /* per layer (GRU or Transformer block) */
} seq_work;

int seq_work_init(seq_work *w, const seq_encoder *e, int B, int train);
void seq_work_free(seq_work *w);

/* The features of the batch into w->pooled[B][2W]; tokens [B][T][seq_slots(e)], lens[b] <= T.
 * Keeps the activations for seq_backward. */
void seq_forward(const seq_encoder *e, seq_work *w, const int32_t *tokens, const int *lens,
                 int B, int T);

/* Given the features' gradient in w->dpooled[B][2W] (overwritten), grads += the gradient of
 * the parameters (a block laid out as the parameters), after seq_forward on the same batch. */
void seq_backward(const seq_encoder *e, seq_work *w, float *grads, const int32_t *tokens,
                  const int *lens, int B, int T);

/* Per-thread prediction scratch: texts are tokenized a window at a time, sorted by length
 * and run through the encoder B at a time, so that a batch pads little and its matrix
 * products are matrix-matrix (one text at a time, the GRU's are matrix-vector). */
typedef struct seq_scratch {
    tok_scratch ts;
    int B, window;        /* texts per forward pass; texts tokenized at once (a few B) */
    int32_t *ids;         /* window x T x slots: each text's ids */
    int32_t *packed;      /* B x T x slots: a batch's, padded to its longest */
    int *lens, *order;    /* window: each text's steps; the window longest first */
    int blens[SEQ_PREDICT_BATCH];
    seq_work w;           /* for B texts */
} seq_scratch;

/* NULL when out of memory. */
seq_scratch *seq_scratch_new(const seq_encoder *e);
/* The window of a scratch for e: texts tokenized and predicted at once. */
int seq_predict_window(const seq_encoder *e);
void seq_scratch_free(seq_scratch *s);

/* The features of texts[0..n) (n <= s->window) into feats[n][2W], longest first: row j is
 * text s->order[j]; they run through the encoder s->B at a time (s->lens holds each text's
 * steps). The same features as one text at a time, up to the rounding of the matrix
 * products. 0, or -1 out of memory (or for too many texts). */
int seq_window_features(const seq_encoder *e, seq_scratch *s, const char *const *texts,
                        size_t n, float *feats);

#endif
