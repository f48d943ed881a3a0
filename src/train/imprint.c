/* shelf labels add: new labels from a few examples each, without retraining (weight
 * imprinting). A new label's head column is the mean of its examples' features, the vector
 * the label head reads, divided by its squared length, so that the column scores a
 * product's closeness s to the examples on one scale for every label (the examples' own
 * mean scores 1). Its logit is then a * (s - t), after the model's calibration, with one
 * scale a and one threshold t for all new labels, chosen by the log-loss of the file's
 * products: each new label's examples scored against a mean without themselves, as new
 * products will be, and products of the model's labels, which must keep them. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/error.h"
#include "core/mem.h"
#include "model/bag_encoder.h"
#include "model/bag_vocab.h"
#include "model/label_head.h"
#include "model/model.h"
#include "model/taxonomy.h"
#include "train/vocab.h"

/* One nonzero of a sparse feature vector. */
typedef struct entry {
    uint32_t at;
    float v;
} entry;

/* Sparse vectors, one after another: vector i is e[off[i] .. off[i + 1]). */
typedef struct vectors {
    entry *e;
    size_t n, cap;
    size_t *off;
} vectors;

typedef struct imprint {
    const shelf_model *m;
    const char *path;
    const char *const *names; /* labels added by their names alone (nnames) */
    size_t nnames;
    strmap labels;       /* the model's, then the new ones */
    taxonomy tax;        /* over them */
    int K0, K, N0, N;
    size_t n;            /* products used */
    const char **texts;
    int *label;          /* each one's, among labels */
    long *line;
    encoder *enc;        /* the model's encoder, or the bag with rows for the new words */
    uint32_t *old_to_new;
    label_head head;     /* the model's, new rows and columns zero until the columns are set */
    float *log_prior;    /* K, NULL without the adjustment */
    float *base;         /* [n][K]: calibrated logits with the new columns zero */
    vectors x;           /* the products' features, each ascending */
    vectors mean;        /* per new label */
    long *count;         /* per new label: its products */
    /* per new label, then the centre (every product's mean): */
    float *mm;           /* mean . mean */
    float *mg;           /* mean . centre */
    float *mx;           /* [n][C + 1]: mean . x */
    float *xx;           /* [n]: x . x */
    double old_weight;   /* in the log-loss, of a product of the model's labels */
    float *t;            /* per new label: its threshold */
    uint64_t *seen;      /* the bag: the new labels' products' text hashes (nseen) */
    size_t nseen;
} imprint;

static void imprint_free(imprint *im)
{
    strmap_free(&im->labels);
    taxonomy_free(&im->tax);
    if (im->enc && im->enc != im->m->text)
        encoder_free(im->enc);
    label_head_free(&im->head);
    mem_free(im->old_to_new);
    mem_free(im->log_prior);
    mem_free(im->texts);
    mem_free(im->label);
    mem_free(im->line);
    mem_free(im->base);
    mem_free(im->x.e);
    mem_free(im->x.off);
    mem_free(im->mean.e);
    mem_free(im->mean.off);
    mem_free(im->count);
    mem_free(im->mm);
    mem_free(im->mg);
    mem_free(im->mx);
    mem_free(im->xx);
    mem_free(im->t);
    mem_free(im->seen);
}

static shelf_status oom(shelf_error *err)
{
    return err_set(err, SHELF_ENOMEM, "out of memory adding labels");
}

/* The products with a text, their labels interned after the model's. */
static shelf_status collect(imprint *im, const shelf_catalog *c, shelf_imprint_report *rep,
                            shelf_error *err)
{
    const shelf_model *m = im->m;
    strmap_init(&im->labels);
    for (int k = 0; k < im->K0; k++)
        if (strmap_intern(&im->labels, m->labels.keys[k]) < 0)
            return oom(err);
    size_t total = shelf_catalog_size(c) + im->nnames;
    im->texts = mem_alloc((total + 1) * sizeof *im->texts);
    im->label = mem_alloc((total + 1) * sizeof *im->label);
    im->line = mem_alloc((total + 1) * sizeof *im->line);
    if (!im->texts || !im->label || !im->line)
        return oom(err);
    for (size_t i = 0; i < shelf_catalog_size(c); i++) {
        const shelf_product *p = shelf_catalog_get(c, i);
        if (!p->label || !*p->label)
            return err_set(err, SHELF_EINVAL, "%s:%ld: no label; every example needs one",
                           im->path, p->line);
        if (!p->text || !*p->text) {
            rep->skipped_empty++;
            continue;
        }
        long id = strmap_intern(&im->labels, p->label);
        if (id < 0)
            return oom(err);
        im->texts[im->n] = p->text;
        im->line[im->n] = p->line;
        im->label[im->n++] = (int)id;
        if (id < im->K0)
            rep->contrast++;
        else
            rep->examples++;
    }
    for (size_t i = 0; i < im->nnames; i++) { /* a label by its name: its words its text */
        const char *name = im->names[i];
        if (!name || !*name)
            continue;
        if (strmap_find(&m->labels, name) >= 0)
            return err_set(err, SHELF_EINVAL, "label '%s', given by name, is one the model "
                           "has", name);
        long id = strmap_intern(&im->labels, name);
        if (id < 0)
            return oom(err);
        im->texts[im->n] = name;
        im->line[im->n] = 0;
        im->label[im->n++] = (int)id;
        rep->named++;
    }
    im->K = (int)im->labels.n;
    rep->added = im->K - im->K0;
    if (rep->added == 0)
        return err_set(err, SHELF_EINVAL,
                       "%s: every label in it is one the model has (%ld products with text); "
                       "nothing to add", im->path, (long)im->n);
    if (rep->contrast == 0) /* nothing says how far the new labels may reach */
        return err_set(err, SHELF_EINVAL,
                       "%s: all its products have new labels; add about as many products of "
                       "the model's own labels (from its training catalog), so that the new "
                       "labels are placed against the old ones", im->path);
    const char *sep = m->read.label_sep ? m->read.label_sep : SHELF_DEFAULT_LABEL_SEP;
    if (taxonomy_build(&im->tax, &im->labels, sep, m->hierarchical))
        return oom(err);
    im->N0 = model_num_nodes(m);
    im->N = im->tax.nnodes;
    /* a new label must be a leaf of its own: not a branch of the model's ("Apparel" beside
     * "Apparel > Topwear") nor of another new label's */
    uint8_t *branch = mem_calloc((size_t)im->N + 1, 1);
    if (!branch)
        return oom(err);
    for (int k = 0; k < im->K; k++)
        for (uint32_t j = im->tax.path_off[k]; j + 1 < im->tax.path_off[k + 1]; j++)
            branch[im->tax.path[j]] = 1;
    for (int k = im->K0; k < im->K; k++) {
        uint32_t leaf = im->tax.path[im->tax.path_off[k + 1] - 1];
        if ((int)leaf >= im->N0 && !branch[leaf])
            continue;
        long line = 0;
        for (size_t i = 0; i < im->n && !line; i++)
            line = im->label[i] == k ? im->line[i] : 0;
        mem_free(branch);
        char where[SHELF_ERROR_MAX / 2];
        if (line)
            snprintf(where, sizeof where, "%.300s:%ld: label", im->path, line);
        else
            snprintf(where, sizeof where, "label given by name");
        return err_set(err, SHELF_EINVAL,
                       "%s '%s' is a branch of the %s taxonomy, not a leaf; it cannot be "
                       "added", where, im->labels.keys[k],
                       (int)leaf < im->N0 ? "model's" : "new labels'");
    }
    mem_free(branch);
    return SHELF_OK;
}

/* The head's weight from input r to output o; r = in: output o's bias. */
static float *param(label_head *h, size_t r, size_t o)
{
    return r == h->in     ? &h->b[o]
         : h->by_output ? &h->w[o * h->in + r]
                        : &h->w[r * (size_t)h->out + o];
}

/* The encoder the new model reads with, and its head: the model's, with rows for the new
 * words (the bag) and columns for the new nodes. */
static shelf_status widen(imprint *im, shelf_imprint_report *rep, shelf_error *err)
{
    const shelf_model *m = im->m;
    im->enc = m->text;
    if (m->text->ops->kind == ENCODER_BAG && !as_const_bag(m->text)->dim) {
        /* the new labels' products only: the model's own were (most likely) in its
         * training corpus already; their texts' hashes join the model's (model->seen) */
        const char **texts = mem_alloc((im->n + 1) * sizeof *texts);
        im->seen = mem_alloc((im->n + 1) * sizeof *im->seen);
        if (!texts || !im->seen) {
            mem_free(texts);
            return oom(err);
        }
        for (size_t i = 0; i < im->n; i++)
            if (im->label[i] >= im->K0)
                texts[im->nseen++] = im->texts[i];
        bag_encoder *wider = NULL;
        shelf_status st = bag_vocab_extend(as_const_bag(m->text), texts, im->nseen,
                                           m->info.train_rows, im->seen, &wider,
                                           &im->old_to_new, err);
        mem_free(texts);
        if (st != SHELF_OK)
            return st;
        im->enc = &wider->base;
        rep->new_rows = (long)(wider->nrows - as_const_bag(m->text)->nrows);
    }
    const label_head *old = &m->text_head;
    im->head.by_output = old->by_output;
    if (label_head_alloc(&im->head, encoder_width(im->enc), im->N))
        return oom(err);
    label_head_copy_into(old, &im->head, im->old_to_new);
    return SHELF_OK;
}

/* A new label starts as the model's average one, whose logit a product's top label beats;
 * the imprint then adds what its examples share (set_columns). Each new leaf node's column:
 * the mean over the old labels of the sum of their nodes'
 * columns, less the columns of its nodes that the model has (its branch, under
 * --hierarchy); a new branch node stays zero. */
static shelf_status average_label(imprint *im, shelf_error *err)
{
    const taxonomy *t = &im->tax;
    label_head *h = &im->head;
    const size_t N0 = (size_t)im->N0;
    float *uses = mem_calloc(N0 + 1, sizeof *uses); /* old labels under each old node */
    if (!uses)
        return oom(err);
    for (int k = 0; k < im->K0; k++)
        for (uint32_t j = t->path_off[k]; j < t->path_off[k + 1]; j++)
            uses[t->path[j]] += 1.0f / (float)im->K0;
    for (size_t r = 0; r <= h->in; r++) { /* row in: the biases */
        double avg = 0;
        for (size_t o = 0; o < N0; o++)
            avg += uses[o] * *param(h, r, o);
        for (int k = im->K0; k < im->K; k++) {
            double v = avg;
            for (uint32_t j = t->path_off[k]; j + 1 < t->path_off[k + 1]; j++)
                if (t->path[j] < N0)
                    v -= *param(h, r, t->path[j]);
            *param(h, r, t->path[t->path_off[k + 1] - 1]) = (float)v;
        }
    }
    mem_free(uses);
    return SHELF_OK;
}

static shelf_status prior(imprint *im, shelf_error *err)
{
    const shelf_model *m = im->m;
    if (m->log_prior) { /* a new label counts as a typical one */
        if (!(im->log_prior = mem_alloc((size_t)im->K * sizeof *im->log_prior)))
            return oom(err);
        double sum = 0;
        for (int k = 0; k < im->K0; k++)
            sum += (im->log_prior[k] = m->log_prior[k]);
        for (int k = im->K0; k < im->K; k++)
            im->log_prior[k] = (float)(sum / im->K0);
    }
    return SHELF_OK;
}

static int by_index(const void *a, const void *b)
{
    uint32_t x = ((const entry *)a)->at, y = ((const entry *)b)->at;
    return (x > y) - (x < y);
}

static int vectors_put(vectors *v, uint32_t at, float val)
{
    if (val == 0)
        return 0;
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 1024;
        entry *e = mem_realloc(v->e, cap * sizeof *e);
        if (!e)
            return -1;
        v->e = e;
        v->cap = cap;
    }
    v->e[v->n++] = (entry){at, val};
    return 0;
}

/* Product p's features (f's row j) into x, ascending. */
static int keep_features(vectors *x, const encoder_features *f, size_t j, size_t p,
                         size_t *len)
{
    size_t from = x->n;
    if (f->sparse) {
        const sparse_vec *s = &f->sparse[j];
        for (size_t k = 0; k < s->n; k++)
            if (vectors_put(x, s->rows[k], s->vals[k]))
                return -1;
    } else {
        for (size_t k = 0; k < f->width; k++)
            if (vectors_put(x, (uint32_t)k, f->dense[j * f->width + k]))
                return -1;
    }
    qsort(x->e + from, x->n - from, sizeof *x->e, by_index);
    x->off[p] = from;
    len[p] = x->n - from;
    return 0;
}

/* Every product's features and its calibrated logits with the new columns still zero. */
static shelf_status score_products(imprint *im, shelf_error *err)
{
    const shelf_model *m = im->m;
    const size_t K = (size_t)im->K, N = (size_t)im->N, window = im->enc->ops->batch(im->enc);
    encoder_work *w = im->enc->ops->work_new(im->enc, window, 0);
    float *z = mem_alloc(window * N * sizeof *z);
    size_t *len = mem_alloc((im->n + 1) * sizeof *len);
    im->base = mem_alloc(im->n * K * sizeof *im->base);
    im->x.off = mem_alloc((im->n + 1) * sizeof *im->x.off);
    shelf_status st = w && z && len && im->base && im->x.off ? SHELF_OK : oom(err);
    for (size_t i0 = 0; st == SHELF_OK && i0 < im->n; i0 += window) {
        encoder_batch b = {.n = im->n - i0 < window ? im->n - i0 : window,
                           .texts = im->texts + i0};
        encoder_features f;
        if (im->enc->ops->forward(im->enc, w, &b, &f)) {
            st = oom(err);
            break;
        }
        label_head_forward(&im->head, &f, z);
        for (size_t j = 0; j < b.n; j++) {
            size_t p = i0 + (f.order ? (size_t)f.order[j] : j);
            if (keep_features(&im->x, &f, j, p, len)) {
                st = oom(err);
                break;
            }
            float *l = im->base + p * K;
            taxonomy_leaf_logits(&im->tax, z + j * N, l);
            for (size_t k = 0; k < K; k++)
                l[k] = l[k] / m->temperature -
                       (im->log_prior ? m->adjust_tau * im->log_prior[k] : 0);
        }
    }
    /* one array in product order, so that off[i + 1] ends vector i */
    if (st == SHELF_OK) {
        entry *e = mem_alloc((im->x.n + 1) * sizeof *e);
        if (!e) {
            st = oom(err);
        } else {
            size_t at = 0;
            for (size_t i = 0; i < im->n; i++) {
                memcpy(e + at, im->x.e + im->x.off[i], len[i] * sizeof *e);
                im->x.off[i] = at;
                at += len[i];
            }
            im->x.off[im->n] = at;
            mem_free(im->x.e);
            im->x.e = e;
            im->x.cap = im->x.n + 1;
        }
    }
    if (w)
        im->enc->ops->work_free(w);
    mem_free(z);
    mem_free(len);
    return st;
}

static double dot(const entry *a, size_t na, const entry *b, size_t nb)
{
    double s = 0;
    for (size_t i = 0, j = 0; i < na && j < nb;) {
        if (a[i].at == b[j].at)
            s += (double)a[i++].v * b[j++].v;
        else if (a[i].at < b[j].at)
            i++;
        else
            j++;
    }
    return s;
}

/* The mean features of group c: new label c, or with c = C every product in the file,
 * the centre that the labels' means are taken from. all is scratch. */
static int mean_of(imprint *im, size_t c, size_t C, vectors *all)
{
    all->n = 0; /* the group's nonzeros, then summed per index */
    long count = 0;
    for (size_t i = 0; i < im->n; i++) {
        if (c < C && (size_t)(im->label[i] - im->K0) != c)
            continue;
        count++;
        for (size_t k = im->x.off[i]; k < im->x.off[i + 1]; k++)
            if (vectors_put(all, im->x.e[k].at, im->x.e[k].v))
                return -1;
    }
    if (c < C)
        im->count[c] = count;
    qsort(all->e, all->n, sizeof *all->e, by_index);
    im->mean.off[c] = im->mean.n;
    for (size_t k = 0; k < all->n;) {
        uint32_t at = all->e[k].at;
        double sum = 0;
        for (; k < all->n && all->e[k].at == at; k++)
            sum += all->e[k].v;
        float v = (float)(sum / (double)count);
        if (vectors_put(&im->mean, at, v))
            return -1;
    }
    im->mean.off[c + 1] = im->mean.n;
    return 0;
}

static double dot_means(const imprint *im, size_t a, size_t b)
{
    const vectors *m = &im->mean;
    return dot(m->e + m->off[a], m->off[a + 1] - m->off[a], m->e + m->off[b],
               m->off[b + 1] - m->off[b]);
}

/* Each new label's mean features and the centre's, and their dot products with every
 * product's and each other's. */
static shelf_status means(imprint *im, shelf_error *err)
{
    const size_t C = (size_t)(im->K - im->K0), G = C + 1;
    im->count = mem_calloc(C, sizeof *im->count);
    im->mm = mem_calloc(G, sizeof *im->mm);
    im->mg = mem_calloc(G, sizeof *im->mg);
    im->mean.off = mem_alloc((G + 1) * sizeof *im->mean.off);
    im->mx = mem_alloc((im->n * G + 1) * sizeof *im->mx);
    im->xx = mem_alloc((im->n + 1) * sizeof *im->xx);
    if (!im->count || !im->mm || !im->mg || !im->mean.off || !im->mx || !im->xx)
        return oom(err);
    vectors all = {0};
    for (size_t c = 0; c < G; c++)
        if (mean_of(im, c, C, &all)) {
            mem_free(all.e);
            return oom(err);
        }
    mem_free(all.e);
    for (size_t c = 0; c < G; c++) {
        im->mm[c] = (float)dot_means(im, c, c);
        im->mg[c] = (float)dot_means(im, c, C);
    }
    /* a mean at a time spread over the features' width, which each product reads at its
     * nonzeros only: the centre's mean spans every product's words */
    float *dense = mem_calloc(encoder_width(im->enc) + 1, sizeof *dense);
    if (!dense)
        return oom(err);
    for (size_t i = 0; i < im->n; i++) {
        const entry *x = im->x.e + im->x.off[i];
        size_t nx = im->x.off[i + 1] - im->x.off[i];
        im->xx[i] = (float)dot(x, nx, x, nx);
    }
    for (size_t c = 0; c < G; c++) {
        const entry *me = im->mean.e;
        for (size_t k = im->mean.off[c]; k < im->mean.off[c + 1]; k++)
            dense[me[k].at] = me[k].v;
        for (size_t i = 0; i < im->n; i++) {
            double sum = 0;
            for (size_t k = im->x.off[i]; k < im->x.off[i + 1]; k++)
                sum += (double)im->x.e[k].v * dense[im->x.e[k].at];
            im->mx[i * G + c] = (float)sum;
        }
        for (size_t k = im->mean.off[c]; k < im->mean.off[c + 1]; k++)
            dense[me[k].at] = 0;
    }
    mem_free(dense);
    return SHELF_OK;
}

/* Product i's closeness to new label c, both taken from the centre g:
 * (mean - g) . (x - g) / |mean - g|^2, with the mean of c's products other than i when i is
 * one of them. NAN when that leaves none. */
static float closeness(const imprint *im, size_t i, size_t c)
{
    const size_t C = (size_t)(im->K - im->K0), G = C + 1;
    double mx = im->mx[i * G + c], mm = im->mm[c], mg = im->mg[c];
    const double gx = im->mx[i * G + C], gg = im->mm[C];
    if ((size_t)(im->label[i] - im->K0) == c) {
        double n = (double)im->count[c], xx = im->xx[i];
        if (n < 2)
            return NAN;
        mm = (n * n * mm - 2 * n * mx + xx) / ((n - 1) * (n - 1));
        mx = (n * mx - xx) / (n - 1);
        mg = (n * mg - gx) / (n - 1);
    }
    double len = mm - 2 * mg + gg;
    return len > 1e-12 ? (float)((mx - mg - gx + gg) / len) : 0;
}

/* What the model's own labels give a product, the same for every scale and threshold: the
 * largest logit, its label, and the log-sum-exp. */
typedef struct old_logits {
    float top, lse;
    int best;
} old_logits;

/* How a scale and thresholds do on the products that can be scored, each weighted (a
 * product of the model's labels by old_weight): the errors, then the log-loss. */
typedef struct fit {
    double errors, loss, new_accuracy;
} fit;

static int better(fit a, fit b)
{
    return a.errors < b.errors - 1e-9 || (a.errors <= b.errors + 1e-9 && a.loss < b.loss);
}

static fit fit_at(const imprint *im, const float *s, const old_logits *old, float a,
                  const float *t)
{
    const size_t K = (size_t)im->K, K0 = (size_t)im->K0, C = K - K0;
    double used = 0;
    long right = 0, new_used = 0;
    fit f = {0, 0, -1};
    for (size_t i = 0; i < im->n; i++) {
        const size_t y = (size_t)im->label[i];
        const float *base = im->base + i * K, *si = s + i * C;
        if (y >= K0 && isnan(si[y - K0]))
            continue;
        float top = old[i].top, ly = y < K0 ? base[y] : 0;
        size_t best = (size_t)old[i].best;
        for (size_t c = 0; c < C; c++) {
            float l = base[K0 + c] + a * (si[c] - t[c]);
            if (l > top)
                top = l, best = K0 + c;
            if (K0 + c == y)
                ly = l;
        }
        float sum = expf(old[i].lse - top);
        for (size_t c = 0; c < C; c++)
            sum += expf(base[K0 + c] + a * (si[c] - t[c]) - top);
        double weight = y < K0 ? im->old_weight : 1;
        f.loss += weight * (logf(sum) + top - ly);
        f.errors += weight * (best != y);
        used += weight;
        if (y >= K0) {
            new_used++;
            right += best == y;
        }
    }
    if (used > 0) {
        f.loss /= used;
        f.errors /= used;
    }
    if (new_used)
        f.new_accuracy = (double)right / (double)new_used;
    return f;
}

/* Scales, in logits per the closeness's range; thresholds: steps across that range. */
static const float SCALES[] = {0.5f, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64};
enum { THRESHOLDS = 40, PER_LABEL_MAX = 64 };

static int by_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* The 1st and 99th percentiles of the closeness values that are numbers. 0, or -1 out of
 * memory. */
static int closeness_range(const float *s, size_t n, float *lo, float *hi)
{
    float *v = mem_alloc((n + 1) * sizeof *v);
    if (!v)
        return -1;
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (!isnan(s[i]))
            v[m++] = s[i];
    if (!m) { /* nothing to go by: the range of the bag's closeness */
        *lo = -0.5f, *hi = 1;
    } else {
        qsort(v, m, sizeof *v, by_float);
        *lo = v[m / 100];
        *hi = v[m - 1 - m / 100];
    }
    mem_free(v);
    return 0;
}

/* The scale and thresholds of fewest errors, then least log-loss: one scale and threshold
 * for all, then each label's threshold on its own. Defaults when nothing can be scored. */
static shelf_status choose(imprint *im, shelf_imprint_report *rep, shelf_error *err)
{
    const size_t C = (size_t)(im->K - im->K0);
    float *s = mem_alloc((im->n * C + 1) * sizeof *s);
    old_logits *old = mem_alloc((im->n + 1) * sizeof *old);
    im->t = mem_alloc((C + 1) * sizeof *im->t);
    if (!s || !old || !im->t) {
        mem_free(s);
        mem_free(old);
        return oom(err);
    }
    long scored_new = 0, nold = 0;
    for (size_t i = 0; i < im->n; i++) {
        const float *base = im->base + i * (size_t)im->K;
        int best = 0;
        for (int k = 1; k < im->K0; k++)
            best = base[k] > base[best] ? k : best;
        double sum = 0;
        for (int k = 0; k < im->K0; k++)
            sum += exp((double)(base[k] - base[best]));
        old[i] = (old_logits){base[best], base[best] + (float)log(sum), best};
        for (size_t c = 0; c < C; c++)
            s[i * C + c] = closeness(im, i, c);
        if (im->label[i] < im->K0)
            nold++;
        else
            scored_new += !isnan(s[i * C + (size_t)(im->label[i] - im->K0)]);
    }
    /* new products will be as many as those of C typical labels among K: the model's
     * products weigh K0 to the new labels' C, however many the file has of each */
    im->old_weight = nold ? (double)im->K0 / (double)C * (double)scored_new / (double)nold : 1;
    /* closeness has the scale of the encoder's features: the grids span its range */
    float lo, hi;
    if (closeness_range(s, im->n * C, &lo, &hi)) {
        mem_free(s);
        mem_free(old);
        return oom(err);
    }
    const float span = hi - lo > 1e-6f ? hi - lo : 1;
    fit best = {INFINITY, INFINITY, -1};
    rep->scale = 8 / span;
    rep->threshold = lo + span / 2;
    rep->loo_accuracy = -1;
    for (size_t c = 0; c < C; c++)
        im->t[c] = rep->threshold;
    if (!scored_new) /* every label has a single example: nothing to choose by */
        goto chosen;
    for (size_t ai = 0; ai < sizeof SCALES / sizeof *SCALES; ai++)
        for (int ti = 0; ti <= THRESHOLDS; ti++) {
            for (size_t c = 0; c < C; c++)
                im->t[c] = lo + span * (float)ti / THRESHOLDS;
            fit f = fit_at(im, s, old, SCALES[ai] / span, im->t);
            if (better(f, best)) {
                best = f;
                rep->scale = SCALES[ai] / span;
                rep->threshold = im->t[0];
            }
        }
    for (size_t c = 0; c < C; c++)
        im->t[c] = rep->threshold;
    /* each label's own threshold: a pass costs products x labels^2, so for a few labels */
    for (int pass = 0; pass < 2 && C <= PER_LABEL_MAX; pass++)
        for (size_t c = 0; c < C; c++) {
            float keep = im->t[c];
            for (int ti = 0; ti <= THRESHOLDS; ti++) {
                im->t[c] = lo + span * (float)ti / THRESHOLDS;
                fit f = fit_at(im, s, old, rep->scale, im->t);
                if (better(f, best)) {
                    best = f;
                    keep = im->t[c];
                }
            }
            im->t[c] = keep;
        }
    rep->loo_accuracy = (float)best.new_accuracy;
chosen:
    mem_free(s);
    mem_free(old);
    return SHELF_OK;
}

/* The new labels' columns gain a * T * (mean - g) / |mean - g|^2, and the bias that takes
 * (mean - g) . g / |mean - g|^2 + t off it, so that after the temperature T the logit gains
 * a * (s - t). */
static void set_columns(imprint *im, float a)
{
    const size_t C = (size_t)(im->K - im->K0);
    const float at = a * im->m->temperature;
    label_head *h = &im->head;
    for (size_t c = 0; c < C; c++) {
        size_t k = (size_t)im->K0 + c, node = im->tax.path[im->tax.path_off[k + 1] - 1];
        double len = im->mm[c] - 2 * im->mg[c] + im->mm[C];
        float scale = len > 1e-12 ? (float)(at / len) : 0;
        /* mean - g, merged over both lists */
        const entry *m = im->mean.e + im->mean.off[c], *ge = im->mean.e + im->mean.off[C];
        size_t nm = im->mean.off[c + 1] - im->mean.off[c], ng = im->mean.off[C + 1] - im->mean.off[C];
        for (size_t i = 0, j = 0; i < nm || j < ng;) {
            uint32_t at_row;
            float v;
            if (j == ng || (i < nm && m[i].at < ge[j].at)) {
                at_row = m[i].at;
                v = m[i++].v;
            } else if (i == nm || ge[j].at < m[i].at) {
                at_row = ge[j].at;
                v = -ge[j++].v;
            } else {
                at_row = m[i].at;
                v = m[i++].v - ge[j++].v;
            }
            *param(h, at_row, node) += scale * v;
        }
        *param(h, h->in, node) += -scale * (float)(im->mg[c] - im->mm[C]) - at * im->t[c];
    }
}

/* The model takes the new labels, taxonomy, encoder and head. */
static void commit(imprint *im, shelf_model *m)
{
    strmap_free(&m->labels);
    m->labels = im->labels;
    strmap_init(&im->labels);
    taxonomy_free(&m->tax);
    m->tax = im->tax;
    memset(&im->tax, 0, sizeof im->tax);
    if (im->enc != m->text) {
        encoder_free(m->text);
        m->text = im->enc;
    }
    im->enc = NULL;
    label_head_free(&m->text_head);
    m->text_head = im->head;
    memset(&im->head, 0, sizeof im->head);
    if (im->log_prior) {
        mem_free(m->log_prior);
        m->log_prior = im->log_prior;
        im->log_prior = NULL;
    }
    if (im->nseen) { /* the examples count as seen: shelf eval flags them in a test set */
        uint64_t *all = mem_realloc(im->seen, (im->nseen + m->nseen) * sizeof *all);
        if (all) { /* else the examples stay unflagged: nothing else depends on it */
            memcpy(all + im->nseen, m->seen, m->nseen * sizeof *all);
            im->seen = NULL;
            mem_free(m->seen); /* vocab_keep_seen takes all */
            m->seen = NULL;
            vocab_keep_seen(m, all, im->nseen + m->nseen);
        }
    }
    m->fingerprint = 0; /* no longer the file it came from */
}

shelf_status shelf_labels_add(shelf_model *m, const shelf_catalog *examples,
                              shelf_imprint_report *report, shelf_error *err)
{
    return shelf_labels_add_names(m, examples, NULL, 0, report, err);
}

shelf_status shelf_labels_add_names(shelf_model *m, const shelf_catalog *examples,
                                    const char *const *names, size_t nnames,
                                    shelf_imprint_report *report, shelf_error *err)
{
    const double t0 = now_sec();
    shelf_imprint_report rep = {0};
    if (!m->text || m->image || m->nmembers)
        return err_set(err, SHELF_EINVAL,
                       "labels can be added to a text model only; this one %s (retrain it "
                       "with the new labels)",
                       m->nmembers ? "is an ensemble" : "reads photos");
    if (model_quantized(m))
        return err_set(err, SHELF_EINVAL, "the model is quantized (int8): add the labels to "
                       "its float model, then quantize that");
    imprint im = {.m = m, .path = shelf_catalog_path(examples), .names = names,
                  .nnames = nnames, .K0 = model_num_labels(m)};
    shelf_status st = collect(&im, examples, &rep, err);
    if (st == SHELF_OK)
        st = widen(&im, &rep, err);
    if (st == SHELF_OK)
        st = average_label(&im, err);
    if (st == SHELF_OK)
        st = prior(&im, err);
    if (st == SHELF_OK)
        st = score_products(&im, err);
    if (st == SHELF_OK)
        st = means(&im, err);
    if (st == SHELF_OK)
        st = choose(&im, &rep, err);
    if (st == SHELF_OK) {
        set_columns(&im, rep.scale);
        commit(&im, m);
        rep.seconds = now_sec() - t0;
        if (report)
            *report = rep;
    }
    imprint_free(&im);
    return st;
}
