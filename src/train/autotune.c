#include "train/autotune.h"

#include <math.h>
#include <string.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/mem.h"
#include "core/rng.h"
#include "core/threadpool.h"
#include "eval/score.h"
#include "io/catalog.h"
#include "model/ensemble.h"
#include "model/model.h"
#include "train/calibrate.h"

enum {
    SEARCH_MAX_ROWS = 20000,     /* validation products a candidate is scored on */
    SEARCH_MAX_CELLS = 1 << 24,  /* and probabilities kept per candidate */
    KEEP = 6,                    /* kept for ensembles (slots): the three best bags (0-2), the
                                    best other bag of words alone (3: another kind of error),
                                    the best GRU (4) and Transformer (5) */
    BAG_TOP = 3, WORDS_SLOT = 3, GRU_SLOT = 4, TRANSFORMER_SLOT = 5,
    SEQ_FROM_TRIALS = 8,         /* --autotune-trials from which the sequence encoders run */
    OOF_MIN_ROWS = 20            /* training products from which bags are ranked out of fold */
};
/* Texts per second a sequence encoder trains at on two cores, for the first one's estimate
 * (measured: 4,100 for the GRU on zh-online-shopping-10cats' titles). */
#define SEQ_TEXTS_PER_SECOND 3500.0
/* The share of the budget for bags before the sequence encoders. */
#define BAG_SHARE 0.2
/* Subword rows of the sequence encoders' second try. */
#define SEQ_SUBWORD_ROWS 100000

/* A trained candidate: its calibrated probabilities on the validation rows, its figures. */
typedef struct candidate {
    shelf_model *m;
    float *p; /* [n][K] */
    /* score: what the search ranks by (valid, and for bags the training split out of fold
       too); valid_score, accuracy, macro_f1, coverage: on the validation rows alone */
    double score, valid_score, accuracy, macro_f1, coverage, seconds, per_second;
    int trial;
    const char *kind;
} candidate;

typedef struct search {
    const shelf_catalog *train, *valid;
    const shelf_autotune_options *ao;
    int threads;
    size_t n;
    int K;
    shelf_product *rows;
    int *truth, *labels, *counts, *pred;
    float *probs, *conf, *mix;
    long *cells;
    score_rank *rank;
    candidate keep[KEEP]; /* as KEEP says: models that err differently mix best */
    int words[BAG_TOP];   /* whether the bags of slots 0-2 read words alone */
    shelf_train_options best_bag;
    double best_bag_score;
    buf log;
    double t0, bag_seconds, bag_longest;
    int trials, bags;
    uint64_t seed;
    /* Out of fold: the bags' settings are ranked on the validation rows and on every
       training product, predicted by a bag of the same settings trained on the other half
       of the training split: ten times the products of a small validation split, so that
       the best of a hundred settings is chosen by signal more than by its luck there. */
    shelf_catalog *half[2];      /* the two halves' training catalogs (views) */
    shelf_product *held;         /* the other halves' products: half[1]'s, then half[0]'s */
    size_t nheld[2], noof;
    int *oof_labels, *oof_counts, *all_pred, *all_truth;
    float *oof_probs, *all_conf;
    score_rank *all_rank;
} search;

static double metric_of(const search *s, double acc, double f1, double cov)
{
    switch (s->ao->metric) {
    case SHELF_AUTOTUNE_MACRO_F1:
        return f1;
    case SHELF_AUTOTUNE_COVERAGE:
        return cov;
    default:
        return acc;
    }
}

/* The figures of probabilities p[n][K] on the validation rows into c. */
static void score_probs(search *s, const float *p, candidate *c)
{
    const size_t K = (size_t)s->K;
    for (size_t i = 0; i < s->n; i++) {
        const float *row = p + i * K;
        int best = 0;
        for (size_t k = 1; k < K; k++)
            if (row[k] > row[best])
                best = (int)k;
        s->pred[i] = best;
        s->conf[i] = row[best];
    }
    score_predictions(s->pred, s->truth, s->n, s->K, s->cells, &c->accuracy, &c->macro_f1);
    c->coverage = score_coverage_at(s->conf, s->pred, s->truth, s->n, MODEL_AUTO_PRECISION,
                                    s->rank);
    c->score = c->valid_score = metric_of(s, c->accuracy, c->macro_f1, c->coverage);
}

/* A bag's settings o, trained on each half of the training split, predict the other half;
 * c->score becomes the metric over the validation rows (as score_probs left them in s->pred
 * and s->conf) and those out-of-fold predictions together. */
static shelf_status score_out_of_fold(search *s, const shelf_model *full,
                                      const shelf_train_options *o, candidate *c,
                                      shelf_error *err)
{
    memcpy(s->all_pred, s->pred, s->n * sizeof *s->pred);
    memcpy(s->all_conf, s->conf, s->n * sizeof *s->conf);
    size_t at = s->n;
    const shelf_product *held = s->held;
    for (int f = 0; f < 2; f++) {
        shelf_model *m = NULL;
        shelf_predict_stats st;
        shelf_status rc = shelf_train(s->half[f], s->valid, o, &m, err);
        if (rc == SHELF_OK)
            rc = shelf_predict_products(m, shelf_catalog_path(s->train), held, s->nheld[f], 1,
                                        s->threads, s->oof_labels, s->oof_probs,
                                        s->oof_counts, NULL, &st, err);
        for (size_t i = 0; rc == SHELF_OK && i < s->nheld[f]; i++, at++) {
            const char *label = s->oof_counts[i] ? shelf_model_label(m, s->oof_labels[i]) : NULL;
            const int id = label ? shelf_model_find_label(full, label) : -1;
            /* no label (an empty text): wrong, whatever the truth */
            s->all_pred[at] = id >= 0 ? id : s->all_truth[at] == 0;
            s->all_conf[at] = id >= 0 ? s->oof_probs[i] : 0;
        }
        shelf_model_free(m);
        if (rc != SHELF_OK)
            return rc;
        held += s->nheld[f];
    }
    double acc, f1;
    score_predictions(s->all_pred, s->all_truth, at, s->K, s->cells, &acc, &f1);
    const double cov = s->ao->metric == SHELF_AUTOTUNE_COVERAGE
                           ? score_coverage_at(s->all_conf, s->all_pred, s->all_truth, at,
                                               MODEL_AUTO_PRECISION, s->all_rank)
                           : 0;
    c->score = metric_of(s, acc, f1, cov);
    return SHELF_OK;
}

/* A model's calibrated probabilities of every label on the validation rows, into p[n][K],
 * through the one prediction path; and its prediction speed (products/s, top label only). */
static shelf_status model_probs(search *s, const shelf_model *m, float *p, double *per_second,
                                shelf_error *err)
{
    const size_t K = (size_t)s->K;
    shelf_predict_stats st;
    const char *path = shelf_catalog_path(s->valid);
    shelf_status rc = shelf_predict_products(m, path, s->rows, s->n, s->K, s->threads,
                                             s->labels, s->probs, s->counts, NULL, &st, err);
    if (rc != SHELF_OK)
        return rc;
    memset(p, 0, s->n * K * sizeof *p);
    for (size_t i = 0; i < s->n; i++)
        for (int j = 0; j < s->counts[i]; j++)
            p[i * K + (size_t)s->labels[i * K + (size_t)j]] = s->probs[i * K + (size_t)j];
    const double t = now_sec();
    if ((rc = shelf_predict_products(m, path, s->rows, s->n, 1, s->threads, s->labels,
                                     s->probs, s->counts, NULL, &st, err)) != SHELF_OK)
        return rc;
    const double secs = now_sec() - t;
    *per_second = secs > 0 ? (double)s->n / secs : 0;
    return SHELF_OK;
}

/* A record (body: a JSON object without its closing brace; times: its timed fields) into
 * the search log and to the caller. The model keeps the times only of a search bounded by
 * seconds, whose outcome depends on them anyway: one bounded by trials alone, with --seed
 * and one thread, writes the same bytes every time. */
static void tell(search *s, const char *body, const char *times)
{
    buf b;
    buf_init(&b);
    buf_printf(&b, "%s%s}", body, times);
    char *line = buf_detach(&b);
    if (line && s->ao->trial_done)
        s->ao->trial_done(line, s->ao->user);
    mem_free(line);
    if (!line)
        s->log.oom = 1;
    buf_printf(&s->log, "%s%s}\n", body, s->ao->seconds > 0 ? times : "");
}

/* The trial's record: what it was, its figures on valid, its seconds and prediction speed. */
static void record(search *s, const candidate *c, const shelf_train_options *o,
                   const char *members)
{
    static const char *const balances[] = {"none", "weight", "oversample", "undersample",
                                           "adjust"};
    buf b;
    buf_init(&b);
    buf_printf(&b, "{\"trial\":%d,\"kind\":\"%s\"", c->trial, c->kind);
    if (members)
        buf_puts(&b, members);
    else if (o && o->text_encoder == SHELF_TEXT_ENCODER_BAG)
        buf_printf(&b, ",\"ngrams\":%d,\"minn\":%d,\"maxn\":%d,\"lr\":%g,\"epochs\":%d,"
                   "\"dim\":%d,\"hierarchy\":%d,\"balance\":\"%s\"", o->ngrams, o->minn,
                   o->maxn, (double)o->lr, o->epochs, o->dim, o->hierarchy,
                   (unsigned)o->balance < 5 ? balances[o->balance] : "?");
    else if (o)
        buf_printf(&b, ",\"subword_rows\":%d", o->buckets);
    /* score: what the search ranked by (a bag's: on valid and out of fold) */
    buf_printf(&b, ",\"accuracy\":%.4f,\"macro_f1\":%.4f,\"coverage\":%.4f,\"score\":%.4f",
               c->accuracy, c->macro_f1, c->coverage, c->score);
    char times[96];
    snprintf(times, sizeof times, ",\"seconds\":%.1f,\"products_per_second\":%.0f", c->seconds,
             c->per_second);
    char *body = buf_detach(&b);
    if (body)
        tell(s, body, times);
    else
        s->log.oom = 1;
    mem_free(body);
}

static void candidate_free(candidate *c)
{
    shelf_model_free(c->m);
    mem_free(c->p);
    *c = (candidate){0};
}

/* Keeps c in slot `at` if it scores above what is there; frees what is not kept. */
static void keep_candidate(search *s, candidate *c, int at)
{
    candidate *k = &s->keep[at];
    if (k->m && c->score <= k->score) {
        candidate_free(c);
        return;
    }
    candidate_free(k);
    *k = *c;
    *c = (candidate){0};
}

/* A bag: among the three best (best first), else, of words alone, as the best other such;
 * what falls out of the three is tried for that slot in turn. Several good bags mixed are
 * less at the mercy of one configuration's luck on valid than the best alone. */
static void keep_bag(search *s, candidate *c, int words_only)
{
    candidate *k = s->keep;
    int at = BAG_TOP;
    while (at > 0 && (!k[at - 1].m || c->score > k[at - 1].score))
        at--;
    if (at < BAG_TOP) {
        candidate out = k[BAG_TOP - 1]; /* falls out */
        int out_words = s->words[BAG_TOP - 1];
        memmove(&k[at + 1], &k[at], (size_t)(BAG_TOP - 1 - at) * sizeof *k);
        memmove(&s->words[at + 1], &s->words[at], (size_t)(BAG_TOP - 1 - at) * sizeof *s->words);
        k[at] = *c;
        s->words[at] = words_only;
        *c = out;
        words_only = out_words;
    }
    if (c->m && words_only)
        keep_candidate(s, c, WORDS_SLOT);
    else
        candidate_free(c);
}

/* ---- the search -------------------------------------------------------------------------- */

/* The training split's two halves (drawn from the seed) for the out-of-fold ranking of the
 * bags; none for a catalog too small to halve. */
static shelf_status split_halves(search *s, shelf_error *err)
{
    const size_t nt = shelf_catalog_size(s->train);
    if (nt < OOF_MIN_ROWS)
        return SHELF_OK;
    size_t *perm = mem_alloc(nt * sizeof *perm);
    s->held = mem_alloc(nt * sizeof *s->held);
    s->all_pred = mem_alloc((s->n + nt) * sizeof *s->all_pred);
    s->all_truth = mem_alloc((s->n + nt) * sizeof *s->all_truth);
    s->all_conf = mem_alloc((s->n + nt) * sizeof *s->all_conf);
    s->all_rank = mem_alloc((s->n + nt) * sizeof *s->all_rank);
    s->oof_labels = mem_alloc((nt / 2 + 1) * sizeof *s->oof_labels);
    s->oof_counts = mem_alloc((nt / 2 + 1) * sizeof *s->oof_counts);
    s->oof_probs = mem_alloc((nt / 2 + 1) * sizeof *s->oof_probs);
    if (!perm || !s->held || !s->all_pred || !s->all_truth || !s->all_conf || !s->all_rank ||
        !s->oof_labels || !s->oof_counts || !s->oof_probs) {
        mem_free(perm);
        return err_set(err, SHELF_ENOMEM, "out of memory");
    }
    rng r;
    rng_seed(&r, s->seed ^ 0x686176ULL);
    for (size_t i = 0; i < nt; i++)
        perm[i] = i;
    for (size_t i = nt - 1; i > 0; i--) {
        size_t j = (size_t)(rng_next(&r) % (i + 1)), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    const size_t na = nt / 2;
    s->half[0] = catalog_view(s->train, perm, na);
    s->half[1] = catalog_view(s->train, perm + na, nt - na);
    s->nheld[0] = nt - na; /* half 0's model predicts half 1 */
    s->nheld[1] = na;
    for (size_t i = 0; i < nt; i++)
        s->held[i] = *shelf_catalog_get(s->train, perm[i < nt - na ? na + i : i - (nt - na)]);
    s->noof = nt;
    mem_free(perm);
    return s->half[0] && s->half[1] ? SHELF_OK : err_set(err, SHELF_ENOMEM, "out of memory");
}

static shelf_status search_init(search *s, shelf_error *err)
{
    const size_t most = SEARCH_MAX_CELLS / (size_t)(s->K > 0 ? s->K : 1);
    size_t n = shelf_catalog_size(s->valid);
    n = n < SEARCH_MAX_ROWS ? n : SEARCH_MAX_ROWS;
    s->n = n < most ? n : most;
    const size_t cells = s->n * (size_t)s->K + 1;
    s->rows = mem_alloc((s->n + 1) * sizeof *s->rows);
    s->truth = mem_alloc((s->n + 1) * sizeof *s->truth);
    s->pred = mem_alloc((s->n + 1) * sizeof *s->pred);
    s->counts = mem_alloc((s->n + 1) * sizeof *s->counts);
    s->conf = mem_alloc((s->n + 1) * sizeof *s->conf);
    s->rank = mem_alloc((s->n + 1) * sizeof *s->rank);
    s->labels = mem_alloc(cells * sizeof *s->labels);
    s->probs = mem_alloc(cells * sizeof *s->probs);
    s->mix = mem_alloc(cells * sizeof *s->mix);
    s->cells = mem_alloc(3 * ((size_t)s->K + 1) * sizeof *s->cells);
    if (!s->rows || !s->truth || !s->pred || !s->counts || !s->conf || !s->rank ||
        !s->labels || !s->probs || !s->mix || !s->cells)
        return err_set(err, SHELF_ENOMEM, "out of memory");
    for (size_t i = 0; i < s->n; i++)
        s->rows[i] = *shelf_catalog_get(s->valid, i);
    return split_halves(s, err);
}

/* The truth per validation row, from the first model's labels (every trial has the same):
 * -1 for a label training never saw, left out of every figure alike. */
static void set_truth(search *s, const shelf_model *m)
{
    for (size_t i = 0; i < s->n; i++)
        s->truth[i] = shelf_model_find_label(m, s->rows[i].label);
    for (size_t i = 0; s->all_truth && i < s->n + s->noof; i++)
        s->all_truth[i] = i < s->n ? s->truth[i]
                                   : shelf_model_find_label(m, s->held[i - s->n].label);
}

static void search_free(search *s)
{
    for (int j = 0; j < KEEP; j++)
        candidate_free(&s->keep[j]);
    mem_free(s->rows);
    mem_free(s->truth);
    mem_free(s->pred);
    mem_free(s->counts);
    mem_free(s->conf);
    mem_free(s->rank);
    mem_free(s->labels);
    mem_free(s->probs);
    mem_free(s->mix);
    mem_free(s->cells);
    buf_free(&s->log);
    for (int f = 0; f < 2; f++)
        shelf_catalog_free(s->half[f]);
    mem_free(s->held);
    mem_free(s->all_pred);
    mem_free(s->all_truth);
    mem_free(s->all_conf);
    mem_free(s->all_rank);
    mem_free(s->oof_labels);
    mem_free(s->oof_counts);
    mem_free(s->oof_probs);
}

/* A kept model (there is one after the first trial). */
static const shelf_model *first_kept(const search *s)
{
    for (int j = 0; j < KEEP; j++)
        if (s->keep[j].m)
            return s->keep[j].m;
    return NULL;
}

/* One trial: trains with o, scores on valid, records, keeps. */
static shelf_status run_trial(search *s, const shelf_train_options *o, shelf_error *err)
{
    const int bag = o->text_encoder == SHELF_TEXT_ENCODER_BAG;
    const int slot = o->text_encoder == SHELF_TEXT_ENCODER_GRU ? GRU_SLOT : TRANSFORMER_SLOT;
    candidate c = {.trial = s->trials++,
                   .kind = o->text_encoder == SHELF_TEXT_ENCODER_GRU ? "gru"
                           : o->text_encoder == SHELF_TEXT_ENCODER_TRANSFORMER ? "transformer"
                                                                               : "bag"};
    const double t = now_sec();
    shelf_status st = shelf_train(s->train, s->valid, o, &c.m, err);
    if (st != SHELF_OK)
        return st;
    if (!s->rows) { /* the first trial sizes the search */
        s->K = shelf_model_num_labels(c.m);
        if ((st = search_init(s, err)) != SHELF_OK) {
            candidate_free(&c);
            return st;
        }
        set_truth(s, c.m);
    } else if (!ensemble_labels_match(first_kept(s), c.m)) {
        candidate_free(&c);
        return err_set(err, SHELF_EINVAL, "a trial's model has other labels than the first's");
    }
    if (!(c.p = mem_alloc(s->n * (size_t)s->K * sizeof *c.p))) {
        candidate_free(&c);
        return err_set(err, SHELF_ENOMEM, "out of memory");
    }
    if ((st = model_probs(s, c.m, c.p, &c.per_second, err)) != SHELF_OK) {
        candidate_free(&c);
        return st;
    }
    score_probs(s, c.p, &c);
    if (bag && s->half[0] && (st = score_out_of_fold(s, c.m, o, &c, err)) != SHELF_OK) {
        candidate_free(&c);
        return st;
    }
    c.seconds = now_sec() - t;
    record(s, &c, o, NULL);
    if (bag) {
        s->bags++;
        s->bag_seconds += c.seconds;
        s->bag_longest = c.seconds > s->bag_longest ? c.seconds : s->bag_longest;
        if (c.score > s->best_bag_score) {
            s->best_bag_score = c.score;
            s->best_bag = *o;
        }
    }
    if (bag)
        keep_bag(s, &c, o->maxn == 0);
    else
        keep_candidate(s, &c, slot);
    return SHELF_OK;
}

/* ---- the bag's settings ------------------------------------------------------------------ */

static const int NGRAMS[] = {1, 2, 3};
static const int CHARS[][2] = {{-1, -1}, {3, 6}, {1, 4}, {1, 3}, {0, 0}};
static const float LRS[] = {0, 0.25f, 0.5f, 2, 4};
static const int EPOCHS[] = {0, 0, 8, 15, 25};
static const int DIMS[] = {0, 0, 0, 64};
static const shelf_balance BALANCES[] = {SHELF_BALANCE_NONE, SHELF_BALANCE_WEIGHT,
                                         SHELF_BALANCE_ADJUST};
#define PICK(r, a) ((a)[rng_next(r) % (sizeof(a) / sizeof *(a))])
enum { BAG_DIMS = 7 };

/* Sets dimension d of the bag's settings at random. */
static void draw(shelf_train_options *o, rng *r, int d)
{
    switch (d) {
    case 0:
        o->ngrams = PICK(r, NGRAMS);
        break;
    case 1: {
        const int c = (int)(rng_next(r) % (sizeof CHARS / sizeof *CHARS));
        o->minn = CHARS[c][0];
        o->maxn = CHARS[c][1];
        break;
    }
    case 2:
        o->lr = PICK(r, LRS);
        break;
    case 3:
        o->epochs = PICK(r, EPOCHS);
        break;
    case 4:
        o->dim = PICK(r, DIMS);
        break;
    case 5:
        o->hierarchy = (int)(rng_next(r) % 2);
        break;
    default:
        o->balance = PICK(r, BALANCES);
        break;
    }
}

/* Embeddings (--dim) diverge at the sparse model's larger rates. */
static void tame(shelf_train_options *o)
{
    if (o->dim > 0 && (o->lr == 0 || o->lr > 0.5f))
        o->lr = 0.5f;
}

/* The bag trial after `bags` of them: the settings given first, then those with character
 * n-grams turned off (or on), then random settings, then (from the eighth, every other
 * trial) the best so far with one or two settings drawn again. */
static void bag_settings(search *s, shelf_train_options *o, rng *r)
{
    if (s->bags == 0)
        return;
    if (s->bags == 1) { /* the other family, so that an ensemble has two to mix */
        o->minn = o->maxn == 0 ? -1 : 0;
        o->maxn = o->maxn == 0 ? -1 : 0;
        return;
    }
    if (s->bags >= 8 && rng_next(r) % 2) {
        *o = s->best_bag;
        draw(o, r, (int)(rng_next(r) % BAG_DIMS));
        if (rng_next(r) % 2)
            draw(o, r, (int)(rng_next(r) % BAG_DIMS));
        tame(o);
        return;
    }
    for (int d = 0; d < BAG_DIMS; d++)
        draw(o, r, d);
    tame(o);
}


/* ---- ensembles --------------------------------------------------------------------------- */

/* s->mix = the weighted mean of the candidates' probabilities. */
static void mix(search *s, candidate *const *c, const float *w, int n)
{
    const size_t cells = s->n * (size_t)s->K;
    for (size_t i = 0; i < cells; i++) {
        float v = 0;
        for (int j = 0; j < n; j++)
            v += w[j] * c[j]->p[i];
        s->mix[i] = v;
    }
}

/* The best weights (a grid over the simplex: steps of 0.05 for two, 0.1 for three) of the
 * candidates c[0..n), into w; returns their figure. */
static double fit_weights(search *s, candidate *const *c, int n, float *w, candidate *fig)
{
    /* every member weighs at least 0.2: one that weighs less adds its whole prediction
       time for little, and a weight fitted that close to 0 or 1 mostly fits the noise of
       a small validation split; ties go to the more even weights */
    const int steps = n == 2 ? 20 : 10, least = steps / 5;
    double best = -1;
    float best_spread = 2;
    for (int a = least; a < steps; a++)
        for (int b = least; a + b <= steps; b++) {
            const int rest = steps - a - b;
            if (n == 2 ? rest != 0 : rest < least)
                continue;
            const float t[3] = {(float)a / steps, (float)b / steps, (float)rest / steps};
            mix(s, c, t, n);
            candidate f = {0};
            score_probs(s, s->mix, &f);
            float spread = 0; /* the largest weight: the lower, the more even */
            for (int j = 0; j < n; j++)
                spread = t[j] > spread ? t[j] : spread;
            if (f.score > best || (f.score == best && spread < best_spread)) {
                best = f.score;
                best_spread = spread;
                *fig = f;
                memcpy(w, t, sizeof t);
            }
        }
    return best;
}

/* The best ensemble of the kept candidates; *out is NULL when none beats the best single
 * one by the margin. Its members leave s->keep. */
static shelf_status best_ensemble(search *s, shelf_model **out, candidate *fig,
                                  shelf_error *err)
{
    *out = NULL;
    candidate *have[KEEP];
    int nh = 0;
    double single = -1;
    for (int j = 0; j < KEEP; j++)
        if (s->keep[j].m) {
            have[nh++] = &s->keep[j];
            single = s->keep[j].valid_score > single ? s->keep[j].valid_score : single;
        }
    /* above the best single model by the margin: a mix that only matches it is not worth
       its cost */
    double best = s->ao->ensemble_margin < -1 ? -1 : single + s->ao->ensemble_margin;
    candidate *pick[3], *any[3];
    float wbest[3] = {0}, wany[3] = {0};
    int npick = 0, nany = 0;
    candidate fany = {0};
    double best_any = -1;
    for (int size = 2; size <= 3; size++) /* on a tie, the fewer members */
        for (int mask = 0; mask < 1 << nh; mask++) {
            candidate *c[3];
            int n = 0;
            for (int j = 0; j < nh; j++)
                if (mask >> j & 1) {
                    if (n < 3)
                        c[n] = have[j];
                    n++;
                }
            if (n != size)
                continue;
            float w[3];
            candidate f;
            const double got = fit_weights(s, c, n, w, &f);
            if (got > best_any) {
                best_any = got, fany = f, nany = n;
                memcpy(any, c, sizeof c);
                memcpy(wany, w, sizeof w);
            }
            if (got > best) {
                best = f.score;
                *fig = f;
                memcpy(pick, c, sizeof c);
                memcpy(wbest, w, sizeof w);
                npick = n;
            }
        }
    if (!npick && nany) { /* the best mix, on record, though not worth its cost */
        char d[160];
        int l = snprintf(d, sizeof d, ",\"kept\":false,\"members\":[");
        for (int j = 0; j < nany; j++)
            l += snprintf(d + l, sizeof d - (size_t)l, "%s{\"trial\":%d,\"weight\":%.2f}",
                          j ? "," : "", any[j]->trial, (double)wany[j]);
        snprintf(d + l, sizeof d - (size_t)l, "]");
        fany.kind = "ensemble";
        fany.trial = s->trials;
        record(s, &fany, NULL, d);
    }
    if (!npick)
        return SHELF_OK;
    shelf_model *members[3];
    char desc[160];
    int len = snprintf(desc, sizeof desc, ",\"members\":[");
    for (int j = 0; j < npick; j++) {
        members[j] = pick[j]->m;
        pick[j]->m = NULL;
        len += snprintf(desc + len, sizeof desc - (size_t)len, "%s{\"trial\":%d,\"weight\":%.2f}",
                        j ? "," : "", pick[j]->trial, (double)wbest[j]);
    }
    snprintf(desc + len, sizeof desc - (size_t)len, "]");
    fig->kind = "ensemble";
    fig->trial = s->trials;
    shelf_status st = ensemble_new(members, wbest, npick, out, err);
    for (int j = 0; j < npick; j++)
        candidate_free(pick[j]);
    if (st != SHELF_OK)
        return st;
    float *p = NULL;
    if (calibrate_model(*out, s->valid, s->threads))
        st = err_set(err, SHELF_ENOMEM, "out of memory calibrating the ensemble");
    else if (!(p = mem_alloc(s->n * (size_t)s->K * sizeof *p)))
        st = err_set(err, SHELF_ENOMEM, "out of memory");
    const double t = now_sec();
    if (st == SHELF_OK && (st = model_probs(s, *out, p, &fig->per_second, err)) == SHELF_OK) {
        fig->seconds = now_sec() - t;
        score_probs(s, p, fig); /* after its own calibration: the figure it will give */
        (*out)->info.valid_accuracy = fig->accuracy;
        record(s, fig, NULL, desc);
    }
    mem_free(p);
    if (st != SHELF_OK) {
        shelf_model_free(*out);
        *out = NULL;
    }
    return st;
}

static double elapsed(const search *s) { return now_sec() - s->t0; }

/* Whether trial budget and time leave room for another trial expected to take secs. */
static int room_for(const search *s, double secs, int trials_left_after)
{
    if (s->ao->trials > 0 && s->trials + 1 + trials_left_after > s->ao->trials)
        return 0;
    if (s->ao->seconds <= 0)
        return 1;
    /* after the last trial: the ensemble's fit, its calibration and figures, and the
       caller's report on valid, about four passes of every kept model over valid */
    double reserve = 2 + 0.02 * s->ao->seconds;
    for (int j = 0; j < KEEP; j++)
        if (s->keep[j].m && s->keep[j].per_second > 0)
            reserve += 4 * (double)s->n / s->keep[j].per_second;
    return elapsed(s) + secs + reserve <= s->ao->seconds;
}

/* The options of a sequence encoder's trial: its defaults, the run's own settings kept. */
static shelf_train_options seq_options(const shelf_train_options *base,
                                       shelf_text_encoder kind)
{
    shelf_train_options o;
    shelf_train_options_default(&o);
    o.threads = base->threads;
    o.seed = base->seed;
    o.read = base->read;
    o.train_path = base->train_path;
    o.text_encoder = kind;
    return o;
}

/* The first sequence encoder's training time, a guess from the texts it would read (its
 * default epochs: 2,000 steps of 32, at least 5 passes). */
static double seq_estimate(const search *s)
{
    const double n = (double)shelf_catalog_size(s->train);
    const double texts = 5 * n > 64000 ? 5 * n : 64000;
    const int threads = s->threads > 0 ? s->threads : pool_cores();
    return texts / (SEQ_TEXTS_PER_SECOND * threads / 2.0);
}

shelf_status shelf_autotune(const shelf_catalog *train, const shelf_catalog *valid,
                            const shelf_train_options *base, const shelf_autotune_options *ao,
                            shelf_model **out, double *score, shelf_error *err)
{
    *out = NULL;
    *score = -1;
    if (!valid)
        return err_set(err, SHELF_EINVAL, "--autotune scores its trials on the validation "
                       "set: give --valid");
    if (!(ao->seconds > 0) && ao->trials <= 0)
        return err_set(err, SHELF_EINVAL, "--autotune needs a budget above 0 seconds");
    if (base->modality != SHELF_MODALITY_TEXT)
        return err_set(err, SHELF_EINVAL, "--autotune searches text models");
    if (base->checkpoint || base->resume || base->comm)
        return err_set(err, SHELF_EINVAL, "--autotune runs its trials in one process, without "
                       "--checkpoint or --resume");
    if (base->init)
        return err_set(err, SHELF_EINVAL, "--autotune searches models from the start; it "
                       "does not continue one (--init)");
    search s = {.train = train, .valid = valid, .ao = ao, .threads = base->threads,
                .best_bag_score = -1, .t0 = now_sec(), .seed = base->seed};
    buf_init(&s.log);
    rng r;
    rng_seed(&r, base->seed ^ 0x61757475ULL);
    shelf_train_options bag = *base;
    bag.given = 0; /* settings are filled in directly: none is refused as not applying */
    bag.text_encoder = SHELF_TEXT_ENCODER_BAG;
    bag.progress = NULL; /* trials are told by trial_done */
    s.best_bag = bag;
    shelf_status st = SHELF_OK;
    const int seq_trials = ao->trials <= 0 || ao->trials >= SEQ_FROM_TRIALS ? 2 : 0;
    /* bags: the first share of the budget (or all but the last two trials) */
    for (;;) {
        const double mean = s.bags ? s.bag_seconds / s.bags : 0;
        if (s.bags > 0 && (!room_for(&s, s.bag_longest, seq_trials) ||
                           (ao->seconds > 0 && seq_trials &&
                            elapsed(&s) + mean > BAG_SHARE * ao->seconds)))
            break;
        shelf_train_options o = bag;
        bag_settings(&s, &o, &r);
        if ((st = run_trial(&s, &o, err)) != SHELF_OK)
            goto done;
    }
    /* the sequence encoders at their defaults, then with subwords while time allows */
    static const struct {
        shelf_text_encoder kind;
        int buckets;
    } seqs[] = {{SHELF_TEXT_ENCODER_GRU, 0}, {SHELF_TEXT_ENCODER_TRANSFORMER, 0},
                {SHELF_TEXT_ENCODER_GRU, SEQ_SUBWORD_ROWS},
                {SHELF_TEXT_ENCODER_TRANSFORMER, SEQ_SUBWORD_ROWS}};
    double took[2] = {0, 0}; /* each kind's last training, for the next one's estimate */
    const int nseq = ao->trials > 0 ? seq_trials : (int)(sizeof seqs / sizeof *seqs);
    for (int k = 0; k < nseq; k++) {
        const int t = seqs[k].kind == SHELF_TEXT_ENCODER_TRANSFORMER;
        /* the Transformer trains at about half the GRU's pace (measured on amazon-uk-toys) */
        const double est = took[t] > 0 ? took[t] * 1.2
                         : took[!t] > 0 ? took[!t] * (t ? 2.0 : 0.6) : seq_estimate(&s);
        if (!room_for(&s, est, k < seq_trials ? seq_trials - 1 - k : 0))
            continue;
        shelf_train_options o = seq_options(base, seqs[k].kind);
        o.buckets = seqs[k].buckets;
        const double t0 = now_sec();
        if ((st = run_trial(&s, &o, err)) != SHELF_OK)
            goto done;
        took[t] = now_sec() - t0;
    }
    /* what is left: more bags */
    while (s.bags > 0 && room_for(&s, s.bag_longest, 0)) {
        shelf_train_options o = bag;
        bag_settings(&s, &o, &r);
        if ((st = run_trial(&s, &o, err)) != SHELF_OK)
            goto done;
    }
    int best = -1; /* the best single model, before an ensemble takes its members */
    for (int j = 0; j < KEEP; j++)
        if (s.keep[j].m && (best < 0 || s.keep[j].valid_score > s.keep[best].valid_score))
            best = j;
    if (best < 0) { /* every trial trains or fails the search: never */
        st = err_set(err, SHELF_EINVAL, "--autotune ran no trial");
        goto done;
    }
    const candidate single = s.keep[best];
    candidate fig = {0};
    shelf_model *ens = NULL;
    if ((st = best_ensemble(&s, &ens, &fig, err)) != SHELF_OK)
        goto done;
    if (ens) {
        *out = ens;
        *score = fig.score;
        ens->info.train_seconds = elapsed(&s);
    } else {
        *out = s.keep[best].m;
        *score = s.keep[best].valid_score;
        s.keep[best].m = NULL;
    }
    /* the choice, and what an ensemble costs against the best single model */
    char chosen[160], times[160];
    snprintf(chosen, sizeof chosen, "{\"chosen\":%d,\"metric\":\"%s\",\"score\":%.4f,"
             "\"best_single\":{\"trial\":%d,\"score\":%.4f}", ens ? fig.trial : single.trial,
             ao->metric == SHELF_AUTOTUNE_MACRO_F1 ? "macro_f1"
             : ao->metric == SHELF_AUTOTUNE_COVERAGE ? "coverage@0.99" : "accuracy",
             *score, single.trial, single.valid_score);
    snprintf(times, sizeof times, ",\"products_per_second\":%.0f,"
             "\"best_single_products_per_second\":%.0f,\"seconds\":%.1f",
             ens ? fig.per_second : single.per_second, single.per_second, elapsed(&s));
    tell(&s, chosen, times);
    if (!((*out)->search_log = buf_detach(&s.log)))
        st = err_set(err, SHELF_ENOMEM, "out of memory");
done:
    if (st != SHELF_OK) {
        shelf_model_free(*out);
        *out = NULL;
        *score = -1;
    }
    search_free(&s);
    return st;
}
