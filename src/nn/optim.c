/* SGD with momentum and AdamW, one pass over the range [i0, i1) of a parameter block, with
 * PyTorch's order of operations (single-tensor path) so that runs can be compared with it.
 * Everything that does not depend on the element is computed once before the loop. */
#include "nn/optim.h"

#include <math.h>

void sgd_step(float *w, const float *g, float *vel, size_t i0, size_t i1, float lr,
              float momentum, float weight_decay, long step)
{
    const float wd = weight_decay, mu = momentum, nlr = -lr;
    if (mu == 0) {
        for (size_t i = i0; i < i1; i++)
            w[i] += nlr * (g[i] + wd * w[i]);
    } else if (step <= 1) { /* PyTorch starts the buffer at the first gradient */
        for (size_t i = i0; i < i1; i++) {
            float d = g[i] + wd * w[i];
            vel[i] = d;
            w[i] += nlr * d;
        }
    } else {
        for (size_t i = i0; i < i1; i++) {
            float d = mu * vel[i] + (g[i] + wd * w[i]);
            vel[i] = d;
            w[i] += nlr * d;
        }
    }
}

void adamw_step(float *w, const float *g, float *m, float *v, size_t i0, size_t i1, float lr,
                float beta1, float beta2, float eps, float weight_decay, long step)
{
    /* The bias corrections in double: 1 - b2^step loses most of a float's digits early on. */
    double bc1 = 1.0 - pow((double)beta1, (double)step);
    double bc2 = 1.0 - pow((double)beta2, (double)step);
    const float decay = (float)(1.0 - (double)lr * (double)weight_decay);
    const float step_size = (float)((double)lr / bc1);
    const float inv_bc2_sqrt = (float)(1.0 / sqrt(bc2));
    const float b1 = beta1, c1 = 1.0f - beta1, b2 = beta2, c2 = 1.0f - beta2;
    for (size_t i = i0; i < i1; i++) {
        float gi = g[i];
        float mi = b1 * m[i] + c1 * gi;
        float vi = b2 * v[i] + c2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        w[i] = w[i] * decay - step_size * mi / (sqrtf(vi) * inv_bc2_sqrt + eps);
    }
}
