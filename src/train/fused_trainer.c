/* Training of fused models (--modality both): the text model first, then the CNN trained on
 * top of the text model's evidence, so that it learns where the photo knows better than the
 * title (flats against heels) rather than what the title already says.
 *
 * The evidence the CNN sees for a training product must be what the text model says of a
 * product it has not seen: on its own training data a text model is nearly always right and
 * sure, which would teach the CNN nothing. So the training catalog is cut in folds, a text
 * model is trained on all folds but one, and gives its log-probabilities for the one left
 * out (out-of-fold). The text model kept is trained on the whole catalog. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/catalog.h"
#include "model/model.h"
#include "train/fused_trainer.h"
#include "train/image_trainer.h"

enum { FOLDS = 4 };
/* Log-probability given to a label that a fold's text model never saw. */
static const float UNSEEN_LOG_PROB = -20.0f;

/* Rows of the text model m_fold's log-probabilities, mapped onto the labels of m (the final
 * model), for the products rows[0..n) of c, into prior (a row of m's labels per catalog
 * product). */
static shelf_status fold_evidence(const shelf_model *m_fold, const shelf_model *m,
                                  const shelf_catalog *c, const size_t *rows, size_t n,
                                  float *prior, shelf_error *err)
{
    size_t K = (size_t)model_num_labels(m), Kf = (size_t)model_num_labels(m_fold);
    shelf_scratch *s = NULL;
    float *row = malloc(Kf * sizeof *row);
    int *to = malloc(Kf * sizeof *to); /* fold label -> final label */
    shelf_status st = row && to ? shelf_scratch_new(m_fold, &s, err)
                                : err_set(err, SHELF_ENOMEM, "out of memory");
    for (size_t j = 0; st == SHELF_OK && j < Kf; j++)
        to[j] = (int)strmap_find(&m->labels, shelf_model_label(m_fold, (int)j));
    for (size_t i = 0; st == SHELF_OK && i < n; i++) {
        float *dst = prior + rows[i] * K;
        if (model_text_log_probs(m_fold, s, shelf_catalog_get(c, rows[i])->text, row)) {
            st = err_set(err, SHELF_ENOMEM, "out of memory");
            break;
        }
        for (size_t k = 0; k < K; k++)
            dst[k] = UNSEEN_LOG_PROB;
        for (size_t j = 0; j < Kf; j++)
            if (to[j] >= 0)
                dst[to[j]] = row[j] > UNSEEN_LOG_PROB ? row[j] : UNSEEN_LOG_PROB;
    }
    shelf_scratch_free(s);
    free(row);
    free(to);
    return st;
}

/* Out-of-fold evidence for every training product. */
static shelf_status out_of_fold(const shelf_model *m, const shelf_catalog *train,
                                const shelf_catalog *valid, const shelf_train_options *text,
                                float *prior, shelf_error *err)
{
    size_t n = shelf_catalog_size(train);
    size_t *in = malloc((n + 1) * sizeof *in), *out = malloc((n + 1) * sizeof *out);
    shelf_status st = in && out ? SHELF_OK : err_set(err, SHELF_ENOMEM, "out of memory");
    for (int f = 0; st == SHELF_OK && f < FOLDS; f++) {
        size_t nin = 0, nout = 0;
        for (size_t i = 0; i < n; i++) { /* every FOLDS-th product, shifted by f */
            if (i % FOLDS == (size_t)f)
                out[nout++] = i;
            else
                in[nin++] = i;
        }
        shelf_catalog *part = catalog_view(train, in, nin);
        shelf_model *mf = NULL;
        if (!part)
            st = err_set(err, SHELF_ENOMEM, "out of memory");
        else if ((st = shelf_train(part, valid, text, &mf, err)) == SHELF_OK)
            st = fold_evidence(mf, m, train, out, nout, prior, err);
        shelf_model_free(mf);
        shelf_catalog_free(part);
    }
    free(in);
    free(out);
    return st;
}

shelf_status train_fused_model(const shelf_catalog *train, const shelf_catalog *valid,
                               const shelf_train_options *opts, shelf_model **out,
                               shelf_error *err)
{
    shelf_train_options text = *opts, image = *opts;
    text.modality = SHELF_MODALITY_TEXT;
    text.progress = NULL; /* the folds would repeat it; the CNN's progress is what takes time */
    text.epochs = 0; /* --epochs and --lr are the CNN's; the text model keeps its defaults */
    text.lr = 0;
    size_t n = shelf_catalog_size(train), nv = valid ? shelf_catalog_size(valid) : 0;
    shelf_model *m = NULL;
    float *prior = NULL, *vprior = NULL;
    shelf_status st = shelf_train(train, valid, &text, &m, err);
    if (st != SHELF_OK)
        return st;
    size_t K = (size_t)model_num_labels(m);
    prior = malloc((n ? n : 1) * K * sizeof *prior);
    vprior = valid ? malloc((nv ? nv : 1) * K * sizeof *vprior) : NULL;
    if (!prior || (valid && !vprior)) {
        st = err_set(err, SHELF_ENOMEM, "out of memory for the text evidence (%zu x %zu)", n, K);
        goto done;
    }
    if ((st = out_of_fold(m, train, valid, &text, prior, err)) != SHELF_OK)
        goto done;
    if (valid) { /* the validation products: the final text model has not seen them */
        size_t *all = malloc((nv ? nv : 1) * sizeof *all);
        if (!all) {
            st = err_set(err, SHELF_ENOMEM, "out of memory");
            goto done;
        }
        for (size_t i = 0; i < nv; i++)
            all[i] = i;
        st = fold_evidence(m, m, valid, all, nv, vprior, err);
        free(all);
        if (st != SHELF_OK)
            goto done;
    }
    image.modality = SHELF_MODALITY_IMAGE;
    st = train_image_model(m, train, valid, &image, prior, vprior, err);
done:
    free(prior);
    free(vprior);
    if (st != SHELF_OK) {
        shelf_model_free(m);
        return st;
    }
    *out = m;
    return SHELF_OK;
}
