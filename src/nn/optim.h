/* Optimizer steps over a flat block of parameters and their gradients, as PyTorch's
 * torch.optim.SGD (momentum, dampening 0, coupled L2 weight decay) and torch.optim.AdamW
 * (decoupled weight decay, bias-corrected moments). The calls work on the range [i0, i1) of
 * the block, so that threads can share a step. */
#ifndef SHELF_NN_OPTIM_H
#define SHELF_NN_OPTIM_H

#include <stddef.h>

/* g += wd w; vel = momentum vel + g (vel = g at the first step, step == 1); w -= lr vel.
 * With momentum 0, vel is unused (may be NULL). */
void sgd_step(float *w, const float *g, float *vel, size_t i0, size_t i1, float lr,
              float momentum, float weight_decay, long step);

/* w -= lr wd w; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
 * w -= lr (m / (1 - b1^step)) / (sqrt(v / (1 - b2^step)) + eps). step counts from 1. */
void adamw_step(float *w, const float *g, float *m, float *v, size_t i0, size_t i1, float lr,
                float beta1, float beta2, float eps, float weight_decay, long step);

#endif
