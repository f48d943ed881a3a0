#include "model/model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/error.h"
#include "core/mem.h"
#include "image/augment.h"
#include "nn/linear.h"
#include "nn/softmax.h"
#include "nn/sparse_linear.h"
#include "text/hash.h"

shelf_model *model_new(void)
{
    shelf_model *m = mem_calloc(1, sizeof *m);
    if (!m)
        return NULL;
    strmap_init(&m->labels);
    m->info.valid_accuracy = -1;
    m->temperature = 1;
    return m;
}

void shelf_model_free(shelf_model *m)
{
    if (!m)
        return;
    strmap_free(&m->labels);
    taxonomy_free(&m->tax);
    bucket_map_free(&m->rows);
    mem_free(m->idf);
    mem_free(m->params);
    for (int i = 0; i < 5; i++)
        mem_free(m->read_strings[i]);
    mem_free(m->info.train_path);
    mem_free(m->seen);
    cnn_free(&m->net);
    fusion_head_free(&m->head);
    seq_encoder_free(m->seq);
    mem_free(m->seq);
    mem_free(m);
}

int model_alloc_params(shelf_model *m)
{
    size_t K = (size_t)model_num_nodes(m), R = m->nrows, D = (size_t)m->dim;
    m->nparams = D ? R * D + D * K + K : R * K + K;
    mem_free(m->params);
    m->params = mem_calloc(m->nparams, sizeof *m->params);
    if (!m->params)
        return -1;
    m->W = m->params;                      /* W[R][K], or E[R][D] */
    m->O = D ? m->params + R * D : NULL;   /* O[D][K] */
    m->b = m->params + m->nparams - K;
    return 0;
}

static int dup_opt(shelf_model *m, int i, const char *s, const char **dst)
{
    mem_free(m->read_strings[i]);
    m->read_strings[i] = NULL;
    *dst = NULL;
    if (!s)
        return 0;
    m->read_strings[i] = mem_strdup(s);
    *dst = m->read_strings[i];
    return *dst ? 0 : -1;
}

int model_set_read_options(shelf_model *m, const shelf_read_options *r)
{
    m->read = *r;
    m->read.skip_bad = 0;
    m->read.fix_utf8 = 0;
    m->read.require_label = 0;
    return dup_opt(m, 0, r->text_columns, &m->read.text_columns) ||
           dup_opt(m, 1, r->label_column, &m->read.label_column) ||
           dup_opt(m, 2, r->id_column, &m->read.id_column) ||
           dup_opt(m, 3, r->label_sep, &m->read.label_sep) ||
           dup_opt(m, 4, r->image_column, &m->read.image_column) ? -1 : 0;
}

int model_build_taxonomy(shelf_model *m)
{
    taxonomy_free(&m->tax);
    const char *sep = m->read.label_sep ? m->read.label_sep : " > ";
    return taxonomy_build(&m->tax, &m->labels, sep, m->hierarchical);
}

void model_logits(const shelf_model *m, const sparse_vec *x, float *hidden, float *z,
                  float *logits)
{
    int N = model_num_nodes(m);
    float *out = m->hierarchical ? z : logits; /* flat: nodes are the labels */
    if (!m->dim) {
        sparse_linear_forward(out, x->rows, x->vals, x->n, m->W, m->b, N);
    } else {
        sparse_linear_forward(hidden, x->rows, x->vals, x->n, m->W, NULL, m->dim);
        linear_forward(out, hidden, m->O, m->b, m->dim, N);
    }
    if (m->hierarchical)
        taxonomy_leaf_logits(&m->tax, z, logits);
}

shelf_status shelf_scratch_new(const shelf_model *m, shelf_scratch **out, shelf_error *err)
{
    shelf_scratch *s = mem_calloc(1, sizeof *s);
    if (!s || vec_scratch_init(&s->vs, m->nrows) ||
        !(s->logits = mem_alloc((size_t)model_num_labels(m) * sizeof(float))) ||
        !(s->z = mem_alloc((size_t)model_num_nodes(m) * sizeof(float))) ||
        !(s->hidden = mem_alloc((size_t)(m->dim ? m->dim : 1) * sizeof(float))) ||
        (m->seq && !(s->seq = seq_scratch_new(m->seq))) ||
        (m->seq && !(s->many = mem_alloc((size_t)s->seq->window * (size_t)model_num_labels(m) *
                                      sizeof(float)))) ||
        (m->seq && m->hierarchical &&
         !(s->zs = mem_alloc((size_t)s->seq->window * (size_t)model_num_nodes(m) *
                          sizeof(float))))) {
        shelf_scratch_free(s);
        return err_set(err, SHELF_ENOMEM, "out of memory allocating prediction scratch");
    }
    *out = s;
    return SHELF_OK;
}

void shelf_scratch_free(shelf_scratch *s)
{
    if (!s)
        return;
    vec_scratch_free(&s->vs);
    sparse_vec_free(&s->x);
    mem_free(s->hidden);
    mem_free(s->z);
    mem_free(s->logits);
    mem_free(s->many);
    mem_free(s->zs);
    seq_scratch_free(s->seq);
    mem_free(s);
}

/* The label logits of texts[0..n) into out[n][K] by the model's sequence encoder, in
 * windows of texts. 0, or -1 out of memory. */
static int seq_logits(const shelf_model *m, shelf_scratch *s, const char *const *texts,
                      size_t n, float *out)
{
    if (!m->hierarchical)
        return seq_texts_logits(m->seq, s->seq, texts, n, out);
    const size_t K = (size_t)model_num_labels(m), N = (size_t)model_num_nodes(m),
                 window = (size_t)s->seq->window;
    for (size_t i0 = 0; i0 < n; i0 += window) { /* the encoder scores the taxonomy's nodes */
        const size_t c = n - i0 < window ? n - i0 : window;
        if (seq_texts_logits(m->seq, s->seq, texts + i0, c, s->zs))
            return -1;
        for (size_t i = 0; i < c; i++)
            taxonomy_leaf_logits(&m->tax, s->zs + i * N, out + (i0 + i) * K);
    }
    return 0;
}

/* The label logits of a text into out[K], by the model's text encoder. 0, or -1 out of
 * memory. */
static int text_logits(const shelf_model *m, shelf_scratch *s, const char *text, float *out)
{
    if (m->seq)
        return seq_logits(m, s, &text, 1, out);
    if (model_vectorize(m, &s->vs, &s->x, text, strlen(text)))
        return -1;
    model_logits(m, &s->x, s->hidden, s->z, out);
    return 0;
}

int model_texts_log_probs(const shelf_model *m, shelf_scratch *s, const char *const *texts,
                          size_t n, float *out)
{
    const size_t K = (size_t)model_num_labels(m);
    if (m->seq) {
        if (seq_logits(m, s, texts, n, out))
            return -1;
    } else {
        for (size_t i = 0; i < n; i++)
            if (text_logits(m, s, texts[i], out + i * K))
                return -1;
    }
    for (size_t i = 0; i < n; i++)
        log_softmax_forward(out + i * K, out + i * K, (int)K);
    return 0;
}

/* Texts a scratch predicts at once (a sequence encoder's window). */
static size_t model_text_window(const shelf_scratch *s)
{
    return s->seq ? (size_t)s->seq->window : 1;
}

void model_split_texts(const shelf_scratch *s, size_t n, int tid, int nthreads, size_t *begin,
                       size_t *end)
{
    const size_t w = model_text_window(s);
    pool_split((n + w - 1) / w, tid, nthreads, begin, end);
    *begin = *begin * w < n ? *begin * w : n;
    *end = *end * w < n ? *end * w : n;
}

void model_apply_temperature(float *p, int K, float T)
{
    if (T == 1)
        return;
    for (int c = 0; c < K; c++) /* log p / T, then a softmax: stable for tiny p */
        p[c] = p[c] > 0 ? logf(p[c]) / T : -INFINITY;
    softmax_forward(p, p, K);
}

/* Is (pa, la) ranked below (pb, lb)? Lower probability, or the same and a later label. */
static int ranks_below(float pa, int la, float pb, int lb)
{
    return pa < pb || (pa == pb && la > lb);
}

/* Sifts entry i down the heap of n entries whose root is the lowest ranked. */
static void sift_down(int *labels, float *probs, int n, int i)
{
    for (;;) {
        int low = i, l = 2 * i + 1, r = l + 1;
        if (l < n && ranks_below(probs[l], labels[l], probs[low], labels[low]))
            low = l;
        if (r < n && ranks_below(probs[r], labels[r], probs[low], labels[low]))
            low = r;
        if (low == i)
            return;
        float tp = probs[i];
        int tl = labels[i];
        probs[i] = probs[low], labels[i] = labels[low];
        probs[low] = tp, labels[low] = tl;
        i = low;
    }
}

/* Many of the K (back-off asks for all of them): a heap of the k best so far, then sorted
 * by popping the lowest ranked to the end. O(K log k), and the same order as insertion. */
static int top_k_heap(const float *p, int K, int k, int *labels, float *probs)
{
    for (int c = 0; c < k; c++) {
        labels[c] = c;
        probs[c] = p[c];
    }
    for (int i = k / 2 - 1; i >= 0; i--)
        sift_down(labels, probs, k, i);
    for (int c = k; c < K; c++)
        if (ranks_below(probs[0], labels[0], p[c], c)) {
            probs[0] = p[c];
            labels[0] = c;
            sift_down(labels, probs, k, 0);
        }
    for (int n = k - 1; n > 0; n--) {
        float tp = probs[0];
        int tl = labels[0];
        probs[0] = probs[n], labels[0] = labels[n];
        probs[n] = tp, labels[n] = tl;
        sift_down(labels, probs, n, 0);
    }
    return k;
}

/* Selection of the k largest probabilities, best first (ties: the lower label first). */
int model_top_k(const float *p, int K, int k, int *labels, float *probs)
{
    if (k > 16 && k <= K)
        return top_k_heap(p, K, k, labels, probs);
    int n = 0; /* few: by insertion */
    for (int c = 0; c < K; c++) {
        if (n == k && p[c] <= probs[n - 1])
            continue;
        int i = n < k ? n++ : k - 1;
        while (i > 0 && probs[i - 1] < p[c]) {
            probs[i] = probs[i - 1];
            labels[i] = labels[i - 1];
            i--;
        }
        probs[i] = p[c];
        labels[i] = c;
    }
    return n;
}

/* The k best labels of a text's logits[K] (overwritten by its probabilities), as
 * shelf_predict returns them. */
static int top_labels(const shelf_model *m, float *logits, int k, int *labels, float *probs)
{
    int K = model_num_labels(m);
    if (m->temperature != 1)
        for (int c = 0; c < K; c++)
            logits[c] /= m->temperature;
    softmax_forward(logits, logits, K);
    return model_top_k(logits, K, k < K ? k : K, labels, probs);
}

int shelf_predict(const shelf_model *m, shelf_scratch *s, const char *text, int k, int *labels,
                  float *probs)
{
    if (k <= 0 || model_num_labels(m) == 0 || !model_has_text(m)) /* fused: the text alone */
        return 0;
    if (text_logits(m, s, text, s->logits))
        return -1;
    return top_labels(m, s->logits, k, labels, probs);
}

/* shelf_predict_texts without clearing counts on failure. */
static int predict_texts(const shelf_model *m, shelf_scratch *s, const char *const *texts,
                         size_t n, int k, int *labels, float *probs, int *counts)
{
    const size_t K = (size_t)model_num_labels(m), kk = (size_t)(k > 0 ? k : 0);
    if (!m->seq || k <= 0 || K == 0 || !model_has_text(m)) { /* one at a time */
        for (size_t i = 0; i < n; i++)
            if ((counts[i] = shelf_predict(m, s, texts[i], k, labels + i * kk,
                                           probs + i * kk)) < 0)
                return -1;
        return 0;
    }
    const size_t window = model_text_window(s);
    for (size_t i0 = 0; i0 < n; i0 += window) {
        const size_t c = n - i0 < window ? n - i0 : window;
        if (seq_logits(m, s, texts + i0, c, s->many))
            return -1;
        for (size_t i = i0; i < i0 + c; i++)
            counts[i] = top_labels(m, s->many + (i - i0) * K, k, labels + i * kk,
                                   probs + i * kk);
    }
    return 0;
}

int shelf_predict_texts(const shelf_model *m, shelf_scratch *s, const char *const *texts,
                        size_t n, int k, int *labels, float *probs, int *counts)
{
    if (predict_texts(m, s, texts, n, k, labels, probs, counts) == 0)
        return 0;
    memset(counts, 0, n * sizeof *counts);
    return -1;
}

int shelf_model_num_labels(const shelf_model *m) { return model_num_labels(m); }

shelf_modality shelf_model_modality(const shelf_model *m) { return m->modality; }

long shelf_model_skipped_images(const shelf_model *m) { return m->info.skipped_images; }

long shelf_model_skipped_empty(const shelf_model *m) { return m->info.skipped_empty; }

const char *shelf_model_label(const shelf_model *m, int i)
{
    return i >= 0 && (size_t)i < m->labels.n ? m->labels.keys[i] : NULL;
}

int shelf_model_find_label(const shelf_model *m, const char *label)
{
    return label ? (int)strmap_find(&m->labels, label) : -1;
}

const shelf_read_options *shelf_model_read_options(const shelf_model *m) { return &m->read; }

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

size_t shelf_model_count_seen(const shelf_model *m, const shelf_catalog *c)
{
    feat_list f = {0};
    size_t hits = 0, n = shelf_catalog_size(c);
    for (size_t i = 0; i < n && m->nseen; i++) {
        const char *t = shelf_catalog_get(c, i)->text;
        uint64_t h = feat_text_hash(&f, t, strlen(t));
        hits += bsearch(&h, m->seen, m->nseen, sizeof h, cmp_u64) != NULL;
    }
    feat_list_free(&f);
    return hits;
}

/* The fusion head: the branches (at most 3) where the photo counts most beside the title,
 * what the head learned to trust. */
size_t model_parent_len(const shelf_model *m, const char *label)
{
    const char *sep = m->read.label_sep && *m->read.label_sep ? m->read.label_sep : " > ";
    const char *last = NULL;
    for (const char *at = strstr(label, sep); at; at = strstr(at + 1, sep))
        last = at;
    return last ? (size_t)(last - label) : 0;
}

static void describe_head(buf *b, const shelf_model *m)
{
    const fusion_head *h = &m->head;
    buf_printf(b, "fusion head       text and image weights for %d branches of the taxonomy\n",
               h->ngroups);
    unsigned char *shown = mem_calloc((size_t)h->ngroups, 1);
    if (!shown)
        b->oom = 1; /* the description fails whole, not with lines left out */
    for (int round = 0; shown && round < 3 && round < h->ngroups; round++) {
        int best = -1;
        for (int g = 0; g < h->ngroups; g++) /* the largest image weight per text weight */
            if (!shown[g] && (best < 0 || h->w_image[g] * fabsf(h->w_text[best]) >
                                              h->w_image[best] * fabsf(h->w_text[g])))
                best = g;
        shown[best] = 1;
        const char *label = "";
        for (int c = 0; c < h->nlabels && !*label; c++)
            if (h->group[c] == best)
                label = m->labels.keys[c];
        char *branch = mem_strndup(label, model_parent_len(m, label));
        if (!branch)
            b->oom = 1;
        buf shown_label;
        buf_init(&shown_label);
        buf_put_escaped(&shown_label, branch ? branch : "");
        mem_free(branch);
        char *s = buf_detach(&shown_label);
        if (!s)
            b->oom = 1;
        buf_printf(b, "  %-40s image %.2f, text %.2f\n", s ? s : "", (double)h->w_image[best],
                   (double)h->w_text[best]);
        mem_free(s);
    }
    mem_free(shown);
}

/* A sequence encoder: its tokens, its layers and sizes. */
static void describe_seq(buf *b, const seq_encoder *e)
{
    buf_printf(b, "features          tokens in order, up to %d; %u words seen twice or more, "
               "%u buckets for the others\n", e->T, e->nwords, e->nbuckets);
    if (e->nsub)
        buf_printf(b, "subwords          each token with its bigram and up to %d character "
                   "3-grams, %u buckets\n", SEQ_CHAR_NGRAMS, e->nsub);
    if (e->kind == SEQ_GRU)
        buf_printf(b, "model             bidirectional GRU, embeddings %d, %d layer%s of hidden "
                   "%d x 2, mean and max pooling, linear %d x %d\n", e->D, seq_layers(e),
                   seq_layers(e) > 1 ? "s" : "", e->D, 4 * e->D, e->K);
    else
        buf_printf(b, "model             transformer, %d blocks of width %d, %d heads, "
                   "feed-forward %d, mean and max pooling, linear %d x %d\n", e->layers,
                   e->D, e->heads, e->F, 2 * e->D, e->K);
}

char *shelf_model_describe(const shelf_model *m, int max_labels)
{
    buf b;
    buf_init(&b);
    const model_info *in = &m->info;
    buf_puts(&b, "trained on        "); /* strings from the file are shown escaped */
    buf_put_escaped(&b, in->train_path ? in->train_path : "?");
    buf_printf(&b, " (%ld products", in->train_rows);
    if (in->valid_rows)
        buf_printf(&b, ", %ld validation products, validation accuracy %.4f%s", in->valid_rows,
                   in->valid_accuracy,
                   m->modality == SHELF_MODALITY_BOTH ? " of the CNN alone" : "");
    buf_printf(&b, ")\ntraining          %d of %d epochs, lr %g, %d threads, seed %llu",
               in->epochs, in->epochs_planned, (double)in->lr, in->threads,
               (unsigned long long)in->seed);
    if (in->train_seconds > 0) /* files of older versions kept the time */
        buf_printf(&b, ", %.1f s", in->train_seconds);
    buf_puts(&b, "\n");
    if (model_has_image(m)) {
        const image_settings *is = &m->img;
        char aug[64];
        augment_format(is->augment, aug, sizeof aug);
        buf_printf(&b, "model             image CNN, input %dx%d, width %d, %zu parameters "
                   "(%.1f MB)\n", m->net.size, m->net.size, m->net.width, m->net.nparams,
                   (double)m->net.nparams * 4 / 1e6);
        buf_printf(&b, "optimizer         %s, weight decay %g, schedule %s, batch %d, "
                   "augmentation %s\n", is->optimizer == SHELF_OPTIMIZER_SGD ? "sgd" : "adamw",
                   (double)is->weight_decay,
                   is->schedule == SHELF_SCHEDULE_ONECYCLE ? "onecycle"
                   : is->schedule == SHELF_SCHEDULE_COSINE ? "cosine" : "constant",
                   is->batch, aug);
        buf_printf(&b, "normalization     mean %.4f %.4f %.4f, std %.4f %.4f %.4f\n",
                   (double)is->mean[0], (double)is->mean[1], (double)is->mean[2],
                   (double)is->std[0], (double)is->std[1], (double)is->std[2]);
        if (in->skipped_images)
            buf_printf(&b, "skipped           %ld products with a bad image\n",
                       in->skipped_images);
    }
    if (model_has_text(m) && m->seq) {
        describe_seq(&b, m->seq); /* speeds: shelf train tells them, the file keeps no times */
    } else if (model_has_text(m)) {
        buf_printf(&b, "features          word n-grams 1..%d, character n-grams %d..%d, "
                   "%u buckets\n", m->feat.ngrams, m->feat.minn, m->feat.maxn,
                   m->feat.buckets);
        if (m->dim)
            buf_printf(&b, "model             embeddings %u x %d, linear %d x %zu\n", m->nrows,
                       m->dim, m->dim, m->labels.n);
        else
            buf_printf(&b, "model             sparse linear %u features x %zu labels\n",
                       m->nrows, m->labels.n);
    }
    if (m->modality == SHELF_MODALITY_BOTH && fusion_head_ready(&m->head))
        describe_head(&b, m);
    if (m->temperature != 1)
        buf_printf(&b, "calibration       temperature %.3f, fitted on the validation set\n",
                   (double)m->temperature);
    if (m->hierarchical)
        buf_printf(&b, "taxonomy          %d labels scored through %d path nodes\n",
                   model_num_labels(m), model_num_nodes(m));
    if (model_has_text(m)) {
        size_t np = m->seq ? m->seq->nparams : m->nparams;
        buf_printf(&b, "parameters        %zu (%.1f MB)\n", np, (double)np * 4 / 1e6);
    }
    const shelf_read_options *r = &m->read;
    const char *cols[] = {"columns           text ",
                          r->text_columns ? r->text_columns : "(title,name,description)",
                          ", label ", r->label_column ? r->label_column : "category",
                          ", id ", r->id_column ? r->id_column : "id",
                          ", label separator '", r->label_sep ? r->label_sep : " > ", "'\n"};
    for (size_t i = 0; i < sizeof cols / sizeof *cols; i++)
        (i % 2 ? buf_put_escaped : buf_puts)(&b, cols[i]);
    if (model_has_image(m)) {
        buf_puts(&b, "images            column ");
        buf_put_escaped(&b, r->image_column ? r->image_column : "image");
        buf_puts(&b, ", paths relative to the data file's folder\n");
    }
    buf_printf(&b, "labels            %zu", m->labels.n);
    if (r->max_depth > 0) /* eval cuts its test labels there too */
        buf_printf(&b, ", paths cut at level %d (--max-depth)", r->max_depth);
    buf_puts(&b, "\n");
    if (max_labels < 0)
        max_labels = 0;
    for (size_t i = 0; i < m->labels.n && (int)i < max_labels; i++) {
        buf_puts(&b, "  ");
        buf_put_escaped(&b, m->labels.keys[i]);
        buf_puts(&b, "\n");
    }
    if ((int)m->labels.n > max_labels)
        buf_printf(&b, "  ... (%zu more)\n", m->labels.n - (size_t)max_labels);
    return buf_detach(&b);
}
