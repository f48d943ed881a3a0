/* Learning-rate schedules over a run of total optimizer steps, as PyTorch computes them:
 * constant (after an optional linear warm-up), cosine (linear warm-up from 0, then cosine
 * decay to 0) and one-cycle (torch.optim.lr_scheduler.OneCycleLR with its defaults:
 * pct_start 0.3, cosine annealing, div_factor 25, final_div_factor 1e4, and momentum (or
 * Adam's beta1) cycled between 0.95 and 0.85). */
#ifndef SHELF_NN_SCHEDULE_H
#define SHELF_NN_SCHEDULE_H

typedef enum schedule_kind { SCHEDULE_CONSTANT, SCHEDULE_COSINE, SCHEDULE_ONECYCLE } schedule_kind;

typedef struct schedule {
    schedule_kind kind;
    float lr;          /* the peak (maximum) learning rate */
    float momentum;    /* the momentum or beta1 outside one-cycle */
    long total_steps;
    long warmup_steps; /* constant and cosine: steps of linear warm-up */
} schedule;

/* The learning rate and momentum (beta1) of optimizer step `step`, counted from 0. With
 * peak lr L, T = total_steps, W = warmup_steps (as transformers' schedules with warm-up,
 * i.e. torch.optim.lr_scheduler.LambdaLR with these factors):
 *   constant: L t / W while t < W, then L;
 *   cosine:   L t / W while t < W, then L (1 + cos(pi p)) / 2 with p = (t - W) / max(1, T - W),
 *             and 0 once p >= 1 (the last step, T - 1, still has a small positive lr);
 *   onecycle: OneCycleLR, from L / 25 up to L at step 0.3 T - 1 and down to L / 25e4 at T - 1
 *             (steps past T - 1 stay there), momentum 0.95 -> 0.85 -> 0.95; s->momentum
 *             and warmup_steps are not used.
 * Constant and cosine return s->momentum as the momentum. */
void schedule_at(const schedule *s, long step, float *lr, float *momentum);

#endif
