/* Learning-rate schedules, computed in double as PyTorch does, then rounded to float. */
#include "nn/schedule.h"

#include <math.h>

/* OneCycleLR's _annealing_cos: from start (pct 0) to end (pct 1). */
static double anneal_cos(double start, double end, double pct)
{
    return end + (start - end) / 2.0 * (cos(M_PI * pct) + 1);
}

/* OneCycleLR (defaults) at step t: two phases, ending at steps 0.3 T - 1 and T - 1. */
static void onecycle_at(const schedule *s, long t, double *lr, double *mom)
{
    const double max_lr = s->lr, initial = max_lr / 25.0, min_lr = initial / 1e4;
    const double max_mom = 0.95, base_mom = 0.85;
    double end1 = 0.3 * (double)s->total_steps - 1, end2 = (double)s->total_steps - 1;
    if (t > s->total_steps - 1) /* past the end (PyTorch raises): stay at the last step */
        t = s->total_steps - 1;
    double step = (double)t;
    if (step <= end1) {
        double pct = end1 > 0 ? step / end1 : 1;
        *lr = anneal_cos(initial, max_lr, pct);
        *mom = anneal_cos(max_mom, base_mom, pct);
    } else {
        double pct = end2 > end1 ? (step - end1) / (end2 - end1) : 1;
        *lr = anneal_cos(max_lr, min_lr, pct);
        *mom = anneal_cos(base_mom, max_mom, pct);
    }
}

void schedule_at(const schedule *s, long step, float *lr, float *momentum)
{
    double f = 1, mom = s->momentum;
    long warm = s->warmup_steps > 0 ? s->warmup_steps : 0;
    if (step < 0)
        step = 0;
    switch (s->kind) {
    case SCHEDULE_ONECYCLE: {
        double l;
        onecycle_at(s, step, &l, &mom);
        *lr = (float)l;
        *momentum = (float)mom;
        return;
    }
    case SCHEDULE_COSINE:
        if (step < warm) {
            f = (double)step / (double)warm;
        } else {
            long decay = s->total_steps - warm;
            double progress = (double)(step - warm) / (double)(decay > 1 ? decay : 1);
            f = progress >= 1 ? 0 : 0.5 * (1 + cos(M_PI * progress));
        }
        break;
    case SCHEDULE_CONSTANT:
        if (step < warm)
            f = (double)step / (double)warm;
        break;
    }
    *lr = (float)((double)s->lr * f);
    *momentum = (float)mom;
}
