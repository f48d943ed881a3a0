/* The CNN's int8 form (cnn.h's cnn_int8): batch norm folded into each convolution, the
 * weights as codes with a scale per output channel, each convolution's input scale from a
 * clip that calibration chose on sample images. */
#include "model/cnn_int8.h"

#include <math.h>

#include "core/mem.h"

int cnn_int8_alloc(cnn *c)
{
    cnn_int8 *q = mem_calloc(1, sizeof *q);
    if (!q)
        return -1;
    for (int l = 0; l < CNN_CONVS; l++) {
        const conv_shape *s = &c->conv[l];
        q->code_off[l] = q->ncodes;
        q->ncodes += (size_t)s->cout * s->cin * s->k * s->k;
    }
    q->codes = mem_alloc(q->ncodes);
    q->scale = mem_alloc(c->nchans * sizeof *q->scale);
    q->bias = mem_alloc(c->nchans * sizeof *q->bias);
    if (!q->codes || !q->scale || !q->bias) {
        mem_free(q->codes);
        mem_free(q->scale);
        mem_free(q->bias);
        mem_free(q);
        return -1;
    }
    cnn_int8_free(c);
    c->q = q;
    return 0;
}

void cnn_int8_free(cnn *c)
{
    if (!c->q)
        return;
    mem_free(c->q->codes);
    mem_free(c->q->scale);
    mem_free(c->q->bias);
    mem_free(c->q);
    c->q = NULL;
}

void cnn_int8_dequantize(cnn *c)
{
    const cnn_int8 *q = c->q;
    for (int l = 0; l < CNN_CONVS; l++) {
        const conv_shape *s = &c->conv[l];
        size_t per = (size_t)s->cin * s->k * s->k;
        for (int ch = 0; ch < s->cout; ch++) {
            size_t at = c->chan_off[l] + (size_t)ch;
            const int8_t *code = q->codes + q->code_off[l] + ch * per;
            float *w = c->params + c->w_off[l] + ch * per;
            for (size_t i = 0; i < per; i++)
                w[i] = q->scale[at] * (float)code[i];
            /* batch norm as the identity and the bias (what cnn_bn_affine gives) */
            c->params[c->gamma_off[l] + ch] = 1;
            c->params[c->beta_off[l] + ch] = q->bias[at];
            c->stats[c->mean_off[l] + ch] = 0;
            c->stats[c->var_off[l] + ch] = 1;
        }
    }
}

/* Scales kept within this range, and what the kernels derive from them finite. */
#define SCALE_MIN 1e-30f
#define SCALE_MAX 1e30f

static int scale_ok(float s) { return s >= SCALE_MIN && s <= SCALE_MAX; }

int cnn_int8_check(const cnn *c)
{
    const cnn_int8 *q = c->q;
    for (int l = 0; l < CNN_CONVS; l++) {
        if (!scale_ok(q->act[l]))
            return -1;
        float next = l + 1 < CNN_CONVS ? q->act[l + 1] : 1;
        for (int ch = 0; ch < c->conv[l].cout; ch++) {
            size_t at = c->chan_off[l] + (size_t)ch;
            float step = q->act[l] * q->scale[at]; /* a unit of the s32 sums */
            if (!scale_ok(q->scale[at]) || !isfinite(q->bias[at]) || !(step > 0) ||
                !isfinite(q->scale[at] * 127) || !isfinite(q->bias[at] / step) ||
                !isfinite(step / next) || !(step / next > 0))
                return -1;
        }
    }
    return 0;
}

int cnn_quantize(cnn *c, const float act_max[CNN_CONVS])
{
    if (c->q)
        return -1;
    for (int l = 0; l < CNN_CONVS; l++)
        if (!scale_ok(act_max[l]))
            return -2;
    cnn tmp = *c; /* the float network's batch norm is read before the int8 form replaces it */
    if (cnn_int8_alloc(&tmp))
        return -1;
    cnn_int8 *q = tmp.q;
    for (int l = 0; l < CNN_CONVS; l++) {
        const conv_shape *s = &c->conv[l];
        size_t per = (size_t)s->cin * s->k * s->k;
        /* the image is signed (s8); a ReLU's output is not (u8) */
        q->act[l] = act_max[l] / (l ? 255.0f : 127.0f);
        for (int ch = 0; ch < s->cout; ch++) {
            float bn, shift, most = 0;
            cnn_bn_affine(c, l, ch, &bn, &shift);
            const float *w = c->params + c->w_off[l] + ch * per;
            for (size_t i = 0; i < per; i++)
                most = fmaxf(most, fabsf(w[i] * bn));
            /* a channel of (nearly) nothing keeps zeros: its scale stays a number */
            float sc = most >= 127 * SCALE_MIN ? most / 127 : 1;
            int8_t *code = q->codes + q->code_off[l] + ch * per;
            for (size_t i = 0; i < per; i++)
                code[i] = most >= 127 * SCALE_MIN ? (int8_t)lrintf(w[i] * bn / sc) : 0;
            q->scale[c->chan_off[l] + (size_t)ch] = sc;
            q->bias[c->chan_off[l] + (size_t)ch] = shift;
        }
    }
    if (!isfinite(tmp.q->act[0]) || cnn_int8_check(&tmp)) { /* a float network gone bad */
        cnn_int8_free(&tmp);
        return -2;
    }
    c->q = q;
    cnn_int8_dequantize(c);
    return 0;
}

/* ---- calibration --------------------------------------------------------------------- */

void cnn_calib_see(void *user, int layer, const float *out, size_t count)
{
    cnn_calib *k = user;
    if (layer >= CNN_CONVS - 1) /* the last layer's output is pooled in float */
        return;
    if (k->pass == 0) {
        float most = k->top[layer];
        for (size_t i = 0; i < count; i++) {
            if (!isfinite(out[i]))
                k->nonfinite = 1;
            else
                most = fmaxf(most, out[i]);
        }
        k->top[layer] = most;
        return;
    }
    double *h = k->hist + (size_t)layer * CNN_CALIB_BINS;
    float top = k->top[layer], per = top > 0 ? CNN_CALIB_BINS / top : 0;
    if (!isfinite(per))
        per = 0;
    for (size_t i = 0; i < count; i++) {
        if (!(out[i] > 0)) {
            k->zeros[layer]++;
            continue;
        }
        float f = out[i] * per; /* compared as a float: no conversion out of range */
        h[f < CNN_CALIB_BINS - 1 ? (int)f : CNN_CALIB_BINS - 1]++;
    }
}

/* The clip of one output that least distorts it in 255 steps: the values above it cut to
 * it, those below rounded (an error of a twelfth of a step squared on average; the ReLU's
 * zeros stay exact). */
static float best_clip(const double *h, float top)
{
    const double width = top / CNN_CALIB_BINS;
    double best = INFINITY;
    int at = CNN_CALIB_BINS;
    double below = 0;
    for (int k = 1; k <= CNN_CALIB_BINS; k++) {
        below += h[k - 1];
        double clip = k * width, step = clip / 255, err = below * step * step / 12;
        for (int i = k; i < CNN_CALIB_BINS; i++) {
            double d = (i + 0.5) * width - clip;
            err += h[i] * d * d;
        }
        if (err < best) {
            best = err;
            at = k;
        }
    }
    return (float)(at * width);
}

void cnn_calib_clips(const cnn_calib *k, float act_max[CNN_CONVS])
{
    for (int l = 1; l < CNN_CONVS; l++) {
        float top = k->top[l - 1];
        act_max[l] = top <= 0 ? 1
                     : k->clip ? best_clip(k->hist + (size_t)(l - 1) * CNN_CALIB_BINS, top)
                               : top;
    }
}
