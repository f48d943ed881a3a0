#include "nn/softmax.h"

#include <math.h>

#include "core/kernels.h"

HOT_KERNEL void softmax_forward(float *probs, const float *logits, int K)
{
    float mx = logits[0], sum = 0;
    for (int k = 1; k < K; k++)
        mx = logits[k] > mx ? logits[k] : mx;
    for (int k = 0; k < K; k++) {
        probs[k] = expf(logits[k] - mx);
        sum += probs[k];
    }
    float inv = 1.0f / sum;
    for (int k = 0; k < K; k++)
        probs[k] *= inv;
}

HOT_KERNEL void log_softmax_forward(float *out, const float *logits, int K)
{
    float mx = logits[0];
    for (int k = 1; k < K; k++)
        mx = logits[k] > mx ? logits[k] : mx;
    double sum = 0;
    for (int k = 0; k < K; k++)
        sum += exp((double)(logits[k] - mx));
    float lz = mx + (float)log(sum);
    for (int k = 0; k < K; k++)
        out[k] = logits[k] - lz;
}

float softmax_xent_backward(float *dlogits, const float *probs, int y, int K)
{
    float py = probs[y];
    float loss = -logf(py > 1e-30f ? py : 1e-30f);
    for (int k = 0; k < K; k++)
        dlogits[k] = probs[k] - (k == y ? 1.0f : 0.0f);
    return loss;
}
