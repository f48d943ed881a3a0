#include "model/model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/error.h"
#include "core/mem.h"
#include "model/cnn_encoder.h"
#include "model/embed.h"
#include "model/seq_text_encoder.h"
#include "model/ensemble.h"
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
    m->auto_threshold = -1;
    return m;
}

void shelf_model_free(shelf_model *m)
{
    if (!m)
        return;
    strmap_free(&m->labels);
    taxonomy_free(&m->tax);
    encoder_free(m->text);
    label_head_free(&m->text_head);
    for (int i = 0; i < 5; i++)
        mem_free(m->read_strings[i]);
    mem_free(m->info.train_path);
    mem_free(m->info.curve);
    mem_free(m->seen);
    if (m->state) {
        mem_free(m->state->best);
        mem_free(m->state->extra);
    }
    mem_free(m->state);
    mem_free(m->log_prior);
    encoder_free(m->image);
    label_head_free(&m->image_head);
    fusion_head_free(&m->head);
    for (int j = 0; j < m->nmembers; j++)
        shelf_model_free(m->member[j]);
    mem_free(m->search_log);
    mem_free(m);
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
    m->read.keep_columns = NULL; /* what an output copies, not how the model reads */
    return dup_opt(m, 0, r->text_columns, &m->read.text_columns) ||
           dup_opt(m, 1, r->label_column, &m->read.label_column) ||
           dup_opt(m, 2, r->id_column, &m->read.id_column) ||
           dup_opt(m, 3, r->label_sep, &m->read.label_sep) ||
           dup_opt(m, 4, r->image_column, &m->read.image_column) ? -1 : 0;
}

int model_build_taxonomy(shelf_model *m)
{
    taxonomy_free(&m->tax);
    const char *sep = m->read.label_sep ? m->read.label_sep : SHELF_DEFAULT_LABEL_SEP;
    return taxonomy_build(&m->tax, &m->labels, sep, m->hierarchical);
}

shelf_status shelf_scratch_new(const shelf_model *m, shelf_scratch **out, shelf_error *err)
{
    shelf_scratch *s = mem_calloc(1, sizeof *s);
    if (s) {
        s->encoder = m->text;
        s->window = m->text ? m->text->ops->batch(m->text) : 1;
    }
    const size_t K = (size_t)model_num_labels(m), N = (size_t)model_num_nodes(m);
    if (!s || (m->nmembers && ensemble_scratch_new(m, s)) ||
        (m->text && !(s->text = m->text->ops->work_new(m->text, s->window, 0))) ||
        !(s->logits = mem_alloc(s->window * K * sizeof(float))) ||
        !(s->z = mem_alloc(s->window * N * sizeof(float)))) {
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
    if (s->text)
        s->encoder->ops->work_free(s->text);
    for (int j = 0; j < MODEL_MAX_MEMBERS; j++)
        shelf_scratch_free(s->member[j]);
    mem_free(s->mix);
    mem_free(s->z);
    mem_free(s->logits);
    mem_free(s);
}

/* The label logits of texts[0..n) (n <= the scratch's window) into out[n][K]: the text
 * encoder's features, the label head's node scores, the labels' logits. 0, or -1 out of
 * memory. */
static int window_logits(const shelf_model *m, shelf_scratch *s, const char *const *texts,
                         size_t n, float *out, unsigned char *known)
{
    if (m->nmembers) /* log-probabilities: the softmax that follows keeps them */
        return ensemble_log_probs(m, s, texts, n, out, known);
    if (!m->text) /* a model without a text side */
        return -1;
    const label_head *h = &m->text_head;
    encoder_batch b = {.n = n, .texts = texts};
    if (!h->by_output && h->w) /* the sparse float head reads a row of w per feature */
        b.next_rows = h->w, b.next_stride = (size_t)h->out;
    encoder_features f;
    if (m->text->ops->forward(m->text, s->text, &b, &f))
        return -1;
    for (size_t j = 0; s->feat && j < n; j++)
        embed_features(&f, j, s->feat + (f.order ? (size_t)f.order[j] : j) * s->feat_stride);
    const size_t K = (size_t)model_num_labels(m), N = (size_t)model_num_nodes(m);
    for (size_t j = 0; known && j < n; j++)
        known[f.order ? (size_t)f.order[j] : j] = !(f.missing && f.missing[j]);
    float *z = m->hierarchical || f.order ? s->z : out; /* flat: nodes are the labels */
    label_head_forward(h, &f, z);
    for (size_t j = 0; z != out && j < n; j++) {
        float *to = out + (f.order ? (size_t)f.order[j] : j) * K;
        if (m->hierarchical)
            taxonomy_leaf_logits(&m->tax, z + j * N, to);
        else
            memcpy(to, z + j * N, K * sizeof *to);
    }
    return 0;
}

/* window_logits of any number of texts, a window at a time. */
static int text_logits(const shelf_model *m, shelf_scratch *s, const char *const *texts,
                       size_t n, float *out, unsigned char *known)
{
    const size_t K = (size_t)model_num_labels(m);
    float *feat = s->feat; /* embeddings: each window's from its first text's */
    for (size_t i0 = 0; i0 < n; i0 += s->window) {
        const size_t c = n - i0 < s->window ? n - i0 : s->window;
        s->feat = feat ? feat + i0 * s->feat_stride : NULL;
        int failed = window_logits(m, s, texts + i0, c, out + i0 * K, known ? known + i0 : NULL);
        s->feat = feat;
        if (failed)
            return -1;
    }
    return 0;
}

int model_texts_log_probs(const shelf_model *m, shelf_scratch *s, const char *const *texts,
                          size_t n, float *out, unsigned char *known)
{
    const size_t K = (size_t)model_num_labels(m);
    if (text_logits(m, s, texts, n, out, known))
        return -1;
    for (size_t i = 0; i < n; i++)
        log_softmax_forward(out + i * K, out + i * K, (int)K);
    return 0;
}

void model_split_texts(const shelf_scratch *s, size_t n, int tid, int nthreads, size_t *begin,
                       size_t *end)
{
    const size_t w = s->window;
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

void model_apply_adjustment(const shelf_model *m, float *p, int K)
{
    if (!m->log_prior || m->adjust_tau == 0)
        return;
    for (int c = 0; c < K; c++) /* in logs, as the temperature: stable for tiny p */
        p[c] = p[c] > 0 ? logf(p[c]) - m->adjust_tau * m->log_prior[c] : -INFINITY;
    softmax_forward(p, p, K);
}

void model_calibrate(const shelf_model *m, float *logits)
{
    int K = model_num_labels(m);
    if (m->temperature != 1)
        for (int c = 0; c < K; c++)
            logits[c] /= m->temperature;
    if (m->log_prior && m->adjust_tau != 0)
        for (int c = 0; c < K; c++)
            logits[c] -= m->adjust_tau * m->log_prior[c];
    softmax_forward(logits, logits, K);
}

int model_top_labels(const shelf_model *m, float *logits, int k, int *labels, float *probs)
{
    int K = model_num_labels(m);
    model_calibrate(m, logits);
    return model_top_k(logits, K, k < K ? k : K, labels, probs);
}

int model_texts_embed(const shelf_model *m, shelf_scratch *s, const char *const *texts,
                      size_t n, float *out, size_t stride, unsigned char *known)
{
    const size_t K = (size_t)model_num_labels(m), F = model_text_feature_dim(m);
    for (size_t i0 = 0; i0 < n; i0 += s->window) {
        const size_t c = n - i0 < s->window ? n - i0 : s->window;
        s->feat = out + i0 * stride;
        s->feat_stride = stride;
        int failed = window_logits(m, s, texts + i0, c, s->logits, known ? known + i0 : NULL);
        s->feat = NULL;
        if (failed)
            return -1;
        for (size_t j = 0; j < c; j++) {
            float *z = s->logits + j * K;
            model_calibrate(m, z);
            embed_probs(out + (i0 + j) * stride + F, z, K, 0);
        }
    }
    return 0;
}

int shelf_predict(const shelf_model *m, shelf_scratch *s, const char *text, int k, int *labels,
                  float *probs)
{
    if (k <= 0 || model_num_labels(m) == 0 || !model_has_text(m)) /* fused: the text alone */
        return 0;
    if (text_logits(m, s, &text, 1, s->logits, NULL))
        return -1;
    return model_top_labels(m, s->logits, k, labels, probs);
}

/* shelf_predict_texts without clearing counts on failure. */
static int predict_texts(const shelf_model *m, shelf_scratch *s, const char *const *texts,
                         size_t n, int k, int *labels, float *probs, int *counts)
{
    const size_t K = (size_t)model_num_labels(m), kk = (size_t)(k > 0 ? k : 0);
    if (k <= 0 || K == 0 || !model_has_text(m)) { /* an image model: no text to read */
        memset(counts, 0, n * sizeof *counts);
        return 0;
    }
    for (size_t i0 = 0; i0 < n; i0 += s->window) {
        const size_t c = n - i0 < s->window ? n - i0 : s->window;
        if (window_logits(m, s, texts + i0, c, s->logits, NULL))
            return -1;
        for (size_t i = i0; i < i0 + c; i++)
            counts[i] = model_top_labels(m, s->logits + (i - i0) * K, k, labels + i * kk,
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

size_t model_parent_len(const shelf_model *m, const char *label)
{
    size_t len = 0;
    shelf_label_parent(label, m->read.label_sep && *m->read.label_sep ? m->read.label_sep : NULL,
                       &len);
    return len;
}

/* The text side's parameters (the encoder's and its head's) and their bytes. */
static size_t model_text_params(const shelf_model *m, size_t *bytes)
{
    size_t n = 0;
    for (int j = 0; j < m->nmembers; j++)
        n += model_text_params(m->member[j], bytes);
    if (m->text) {
        size_t own = 0;
        m->text->ops->params(m->text, &own);
        n += own;
        *bytes += own * 4;
        if (model_text_int8(m)) { /* the embedding table: a code a value, a scale a row */
            const seq_encoder *e = as_const_seq(m->text);
            n += seq_rows(e) * (size_t)e->D;
            *bytes += seq_rows(e) * ((size_t)e->D + 4);
        }
    }
    const label_head *h = &m->text_head;
    *bytes += h->nparams * 4 + (h->q ? int8_rows_bytes(h->q) : 0);
    return n + h->nparams + (h->q ? int8_rows_ncodes(h->q) : 0);
}

/* The branches (at most 3) where the photo counts most beside the title. */
static void describe_branches(buf *b, const shelf_model *m)
{
    const fusion_head *h = &m->head;
    buf_printf(b, "fusion head       branch: text and image weights for %d branches of the "
               "taxonomy\n", h->ngroups);
    unsigned char *shown = mem_calloc((size_t)h->ngroups, 1);
    if (!shown)
        b->oom = 1; /* the description fails whole, not with lines left out */
    for (int round = 0; shown && round < 3 && round < h->ngroups; round++) {
        int best = fusion_head_photo_branch(h, shown);
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

/* The training curve, each epoch's loss and validation accuracy: the first and last three
 * of a long one. */
static void describe_curve(buf *b, const model_info *in)
{
    if (!in->ncurve)
        return;
    buf_puts(b, "curve             epoch: loss, validation accuracy");
    for (int e = 0; e < in->ncurve; e++) {
        if (in->ncurve > 8 && e == 3) {
            buf_puts(b, "; ...");
            e = in->ncurve - 3;
        }
        buf_printf(b, "; %d: %.4f", e + 1, (double)in->curve[e].loss);
        if (in->curve[e].valid_accuracy >= 0)
            buf_printf(b, ", %.4f", (double)in->curve[e].valid_accuracy);
    }
    buf_puts(b, "\n");
}

/* The head as it is, and what the choice between heads measured. */
static void describe_head(buf *b, const shelf_model *m)
{
    const fusion_head *h = &m->head;
    switch (h->kind) {
    case FUSION_GATE: {
        float a[2];
        fusion_gate_weights(h, h->mean, a); /* at the average product's signals */
        buf_printf(b, "fusion head       gate: per product, text and image weighed by how sure "
                   "each side is (entropy, top probability, margin), a bias per label; "
                   "average product: text %.2f, image %.2f\n", (double)a[0], (double)a[1]);
        break;
    }
    case FUSION_BRANCH:
        describe_branches(b, m);
        break;
    default:
        buf_printf(b, "fusion head       the %s side alone: no head matched it on the "
                   "validation products\n", fusion_kind_name(h->kind));
        break;
    }
    if (!h->folds)
        return;
    buf_printf(b, "fusion choice     out of %d folds of %d validation products:", h->folds,
               h->rows);
    for (int k = 0; k < FUSION_KINDS; k++)
        if (h->tried[k].accuracy >= 0)
            buf_printf(b, "%s %s %.4f / macro-F1 %.4f", k ? "," : "", fusion_kind_name(k),
                       (double)h->tried[k].accuracy, (double)h->tried[k].macro_f1);
    buf_puts(b, "\n");
}

float shelf_model_auto_confidence(const shelf_model *m, float *precision, float *coverage)
{
    if (precision)
        *precision = m->auto_threshold > 0 ? m->auto_precision : 0;
    if (coverage)
        *coverage = m->auto_threshold > 0 ? m->auto_coverage : 0;
    return m->auto_threshold > 0 ? m->auto_threshold : -1;
}

int shelf_model_curve(const shelf_model *m, float *loss, float *accuracy, int max)
{
    for (int e = 0; e < m->info.ncurve && e < max; e++) {
        loss[e] = m->info.curve[e].loss;
        accuracy[e] = m->info.curve[e].valid_accuracy;
    }
    return m->info.ncurve;
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
    if (m->nmembers) /* its members trained, each as its line below says */
        buf_printf(&b, ")\ntraining          an ensemble of %d models, %d threads, seed %llu",
                   m->nmembers, in->threads, (unsigned long long)in->seed);
    else
        buf_printf(&b, ")\ntraining          %d of %d epochs, lr %g, %d threads, seed %llu",
                   in->epochs, in->epochs_planned, (double)in->lr, in->threads,
                   (unsigned long long)in->seed);
    if (in->train_seconds > 0) /* files of older versions kept the time */
        buf_printf(&b, ", %.1f s", in->train_seconds);
    buf_puts(&b, "\n");
    describe_curve(&b, in);
    if (m->state)
        buf_printf(&b, "checkpoint        after epoch %d of a training run (shelf train "
                   "--resume goes on from it)\n", m->state->epochs_done);
    if (model_has_image(m)) {
        m->image->ops->describe(m->image, &b, model_num_labels(m), m->image_head.out);
        buf_printf(&b, "image head        linear %zu x %d (%zu parameters)\n", m->image_head.in,
                   m->image_head.out, m->image_head.nparams);
        if (in->skipped_images)
            buf_printf(&b, "skipped           %ld products with a bad image\n",
                       in->skipped_images);
    }
    if (m->text) /* speeds: shelf train tells them, the file keeps no times */
        m->text->ops->describe(m->text, &b, model_num_labels(m), m->text_head.out);
    if (m->text_head.q) {
        const int8_rows *q = m->text_head.q;
        buf_printf(&b, "quantized         int8: %zu weights kept of %u x %d (%.1f%%), a scale "
                   "per feature\n", int8_rows_ncodes(q), q->nrows, q->cols,
                   100.0 * (double)int8_rows_ncodes(q) / ((double)q->nrows * q->cols + 1e-9));
    }
    if (m->nmembers)
        ensemble_describe(m, &b);
    if (m->modality == SHELF_MODALITY_BOTH && fusion_head_ready(&m->head))
        describe_head(&b, m);
    if (m->temperature != 1)
        buf_printf(&b, "calibration       temperature %.3f, fitted on the validation set\n",
                   (double)m->temperature);
    if (m->log_prior)
        buf_printf(&b, "balance           adjust: each label's logit less %.2f times the log of "
                   "its share of the training products (%s on the validation set)\n",
                   (double)m->adjust_tau, m->adjust_tau > 0 ? "fitted" : "0: no gain");
    if (m->auto_threshold > 0)
        buf_printf(&b, "min-confidence    auto: %.3f, the lowest threshold whose back-off kept "
                   "precision %.2f on the validation set (there: coverage %.4f, precision "
                   "%.4f)\n", (double)m->auto_threshold, (double)MODEL_AUTO_PRECISION,
                   (double)m->auto_coverage, (double)m->auto_precision);
    if (m->search_log) {
        buf_puts(&b, "autotune          each trial's figures on the validation set, then the "
                 "choice:\n");
        for (const char *l = m->search_log; *l;) {
            const char *nl = strchr(l, '\n');
            size_t len = nl ? (size_t)(nl - l) : strlen(l);
            char *line = mem_strndup(l, len); /* from the file: shown escaped */
            if (!line)
                b.oom = 1;
            buf_puts(&b, "  ");
            buf_put_escaped(&b, line ? line : "");
            buf_puts(&b, "\n");
            mem_free(line);
            l += len + (nl != NULL);
        }
    }
    if (m->hierarchical)
        buf_printf(&b, "taxonomy          %d labels scored through %d path nodes\n",
                   model_num_labels(m), model_num_nodes(m));
    if (model_has_text(m)) {
        size_t bytes = 0, np = model_text_params(m, &bytes);
        buf_printf(&b, "parameters        %zu (%.1f MB)\n", np, (double)bytes / 1e6);
    }
    const shelf_read_options *r = &m->read;
    const char *cols[] = {"columns           text ",
                          r->text_columns ? r->text_columns : "(title,name,description)",
                          ", label ", r->label_column ? r->label_column : "category",
                          ", id ", r->id_column ? r->id_column : "id",
                          ", label separator '",
                          r->label_sep ? r->label_sep : SHELF_DEFAULT_LABEL_SEP, "'\n"};
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

int model_image_int8(const shelf_model *m)
{
    return m->image && as_const_cnn(m->image)->net.q != NULL;
}

int model_text_int8(const shelf_model *m)
{
    return m->text && (m->text->ops->kind == ENCODER_GRU ||
                       m->text->ops->kind == ENCODER_TRANSFORMER) &&
           as_const_seq(m->text)->int8;
}

int model_quantized(const shelf_model *m)
{
    return m->text_head.q || model_image_int8(m) || model_text_int8(m);
}
