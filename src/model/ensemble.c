#include "model/ensemble.h"

#include <math.h>
#include <string.h>

#include "core/error.h"
#include "core/mem.h"
#include "model/embed.h"
#include "nn/softmax.h"

int ensemble_labels_match(const shelf_model *a, const shelf_model *b)
{
    if (a->labels.n != b->labels.n)
        return 0;
    for (size_t c = 0; c < a->labels.n; c++)
        if (strcmp(a->labels.keys[c], b->labels.keys[c]) != 0)
            return 0;
    return 1;
}

/* The first member's record of the training texts, for `seen` in predictions. */
static int copy_seen(shelf_model *e, const shelf_model *from)
{
    if (!from->nseen)
        return 0;
    if (!(e->seen = mem_alloc(from->nseen * sizeof *e->seen)))
        return -1;
    memcpy(e->seen, from->seen, from->nseen * sizeof *e->seen);
    e->nseen = from->nseen;
    return 0;
}

shelf_status ensemble_new(shelf_model **members, const float *w, int n, shelf_model **out,
                          shelf_error *err)
{
    *out = NULL;
    shelf_status st = SHELF_OK;
    if (n < 2 || n > MODEL_MAX_MEMBERS)
        st = err_set(err, SHELF_EINVAL, "an ensemble has 2 to %d members, not %d",
                     MODEL_MAX_MEMBERS, n);
    for (int j = 0; st == SHELF_OK && j < n; j++)
        if (members[j]->modality != SHELF_MODALITY_TEXT || members[j]->nmembers ||
            !ensemble_labels_match(members[0], members[j]))
            st = err_set(err, SHELF_EINVAL, "an ensemble's members are text models over the "
                         "same labels");
    shelf_model *e = st == SHELF_OK ? model_new() : NULL;
    if (st == SHELF_OK && !e)
        st = err_set(err, SHELF_ENOMEM, "out of memory");
    const shelf_model *first = members[0];
    for (size_t c = 0; e && c < first->labels.n && st == SHELF_OK; c++)
        if (strmap_intern(&e->labels, first->labels.keys[c]) < 0)
            st = err_set(err, SHELF_ENOMEM, "out of memory");
    if (st == SHELF_OK && (model_set_read_options(e, &first->read) || model_build_taxonomy(e) ||
                           copy_seen(e, first)))
        st = err_set(err, SHELF_ENOMEM, "out of memory");
    if (st != SHELF_OK) {
        shelf_model_free(e);
        for (int j = 0; j < n; j++)
            shelf_model_free(members[j]);
        return st;
    }
    e->modality = SHELF_MODALITY_TEXT;
    e->info = (model_info){.train_rows = first->info.train_rows,
                           .valid_rows = first->info.valid_rows,
                           .threads = first->info.threads,
                           .seed = first->info.seed,
                           .valid_accuracy = -1};
    if (first->info.train_path && !(e->info.train_path = mem_strdup(first->info.train_path))) {
        shelf_model_free(e);
        for (int j = 0; j < n; j++)
            shelf_model_free(members[j]);
        return err_set(err, SHELF_ENOMEM, "out of memory");
    }
    e->nmembers = n;
    for (int j = 0; j < n; j++) {
        e->member[j] = members[j];
        e->member_w[j] = w[j];
        mem_free(members[j]->seen); /* the ensemble keeps the one copy */
        members[j]->seen = NULL;
        members[j]->nseen = 0;
    }
    *out = e;
    return SHELF_OK;
}

int ensemble_member_log_probs(const shelf_model *m, shelf_scratch *s, const char *const *texts,
                              size_t n, float *out, unsigned char *known)
{
    const int K = model_num_labels(m);
    if (model_texts_log_probs(m, s, texts, n, out, known))
        return -1;
    const int adjust = m->log_prior && m->adjust_tau != 0;
    if (m->temperature == 1 && !adjust)
        return 0;
    for (size_t i = 0; i < n; i++) { /* as model_top_labels: logits / T, less tau log prior */
        float *lp = out + i * (size_t)K;
        for (int c = 0; c < K; c++) {
            lp[c] /= m->temperature;
            if (adjust)
                lp[c] -= m->adjust_tau * m->log_prior[c];
        }
        log_softmax_forward(lp, lp, K);
    }
    return 0;
}

int ensemble_log_probs(const shelf_model *m, shelf_scratch *s, const char *const *texts,
                       size_t n, float *out, unsigned char *known)
{
    const size_t K = (size_t)model_num_labels(m);
    float *feat = s->feat; /* embeddings: each member's features in turn, weighed */
    for (int j = 0; j < m->nmembers; j++) {
        shelf_scratch *ms = s->member[j];
        ms->feat = feat;
        ms->feat_stride = s->feat_stride;
        int failed = ensemble_member_log_probs(m->member[j], ms, texts, n, s->mix,
                                               j == 0 ? known : NULL);
        ms->feat = NULL;
        if (failed)
            return -1;
        const float w = m->member_w[j];
        if (feat) {
            size_t F = model_text_feature_dim(m->member[j]);
            for (size_t i = 0; i < n; i++)
                for (size_t d = 0; d < F; d++)
                    feat[i * s->feat_stride + d] *= sqrtf(w);
            feat += F;
        }
        for (size_t i = 0; i < n * K; i++)
            out[i] = (j ? out[i] : 0) + w * expf(s->mix[i]);
    }
    for (size_t i = 0; i < n * K; i++) /* a label every member ruled out keeps a floor */
        out[i] = out[i] > 1e-30f ? logf(out[i]) : -69.0f;
    return 0;
}

int ensemble_scratch_new(const shelf_model *m, shelf_scratch *s)
{
    size_t window = 1;
    for (int j = 0; j < m->nmembers; j++) {
        if (shelf_scratch_new(m->member[j], &s->member[j], NULL) != SHELF_OK)
            return -1;
        if (s->member[j]->window > window)
            window = s->member[j]->window;
    }
    s->window = window;
    s->mix = mem_alloc(window * (size_t)model_num_labels(m) * sizeof *s->mix);
    return s->mix ? 0 : -1;
}

void ensemble_describe(const shelf_model *m, buf *b)
{
    buf_printf(b, "ensemble          the weighted mean of %d models' probabilities, weights "
               "fitted on the validation set\n", m->nmembers);
    for (int j = 0; j < m->nmembers; j++) {
        const shelf_model *x = m->member[j];
        buf_printf(b, "member %d          weight %.2f, %s", j + 1, (double)m->member_w[j],
                   x->text ? x->text->ops->name : "?");
        if (x->info.valid_accuracy >= 0)
            buf_printf(b, ", validation accuracy %.4f", x->info.valid_accuracy);
        if (x->hierarchical)
            buf_puts(b, ", hierarchical");
        if (x->log_prior)
            buf_printf(b, ", logit adjustment %.2f", (double)x->adjust_tau);
        buf_puts(b, "\n");
        if (!x->text)
            continue;
        buf d; /* its encoder's lines, indented under it */
        buf_init(&d);
        x->text->ops->describe(x->text, &d, model_num_labels(x), x->text_head.out);
        char *lines = buf_detach(&d);
        if (!lines)
            b->oom = 1;
        for (char *l = lines; l && *l;) {
            char *nl = strchr(l, '\n');
            size_t len = nl ? (size_t)(nl - l) + 1 : strlen(l);
            buf_puts(b, "  ");
            buf_append(b, l, len);
            l += len;
        }
        mem_free(lines);
    }
}
