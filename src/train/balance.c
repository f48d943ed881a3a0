#include "train/balance.h"
#include "core/mem.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int balance_init(balance *b, shelf_balance mode, float power, const uint32_t *y, size_t n,
                 int K)
{
    memset(b, 0, sizeof *b);
    b->mode = mode;
    b->n = n;
    b->weight = mem_alloc((size_t)(K > 0 ? K : 1) * sizeof *b->weight);
    size_t *count = mem_calloc((size_t)(K > 0 ? K : 1), sizeof *count);
    if (!b->weight || !count) {
        mem_free(count);
        balance_free(b);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        count[y[i]]++;
    int present = 0;
    for (int c = 0; c < K; c++)
        present += count[c] > 0;
    double mean_size = (double)n / (present ? present : 1), total = 0;
    for (int c = 0; c < K; c++) {
        b->weight[c] = mode == SHELF_BALANCE_NONE || !count[c]
                           ? 1.0f
                           : (float)pow(mean_size / (double)count[c], power);
        total += (double)b->weight[c] * (double)count[c];
    }
    for (int c = 0; c < K && mode != SHELF_BALANCE_NONE; c++) /* mean 1 over products */
        b->weight[c] = (float)((double)b->weight[c] * (double)n / total);
    mem_free(count);
    if (mode == SHELF_BALANCE_OVERSAMPLE) {
        if (!(b->cum = mem_alloc((n ? n : 1) * sizeof *b->cum))) {
            balance_free(b);
            return -1;
        }
        double s = 0;
        for (size_t i = 0; i < n; i++)
            b->cum[i] = s += b->weight[y[i]];
    }
    return 0;
}

void balance_free(balance *b)
{
    mem_free(b->weight);
    mem_free(b->cum);
    b->weight = NULL;
    b->cum = NULL;
}

size_t balance_epoch_size(const balance *b, const uint32_t *y)
{
    if (b->mode != SHELF_BALANCE_UNDERSAMPLE)
        return b->n;
    double kept = 0;
    for (size_t i = 0; i < b->n; i++)
        kept += fmin(1.0, b->weight[y[i]]);
    return (size_t)kept;
}

/* Uniform double in [0, 1). */
static double uniform(rng *r) { return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0); }

size_t balance_epoch(const balance *b, const uint32_t *y, rng *r, uint32_t *order)
{
    size_t m = 0;
    if (b->mode == SHELF_BALANCE_OVERSAMPLE) { /* n draws, each product by its weight */
        double total = b->n ? b->cum[b->n - 1] : 0;
        for (; m < b->n; m++) {
            double u = uniform(r) * total;
            size_t lo = 0, hi = b->n - 1;
            while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (b->cum[mid] > u)
                    hi = mid;
                else
                    lo = mid + 1;
            }
            order[m] = (uint32_t)lo;
        }
        return m;
    }
    for (size_t i = 0; i < b->n; i++) /* classes above the mean size keep a share */
        if (b->mode != SHELF_BALANCE_UNDERSAMPLE || uniform(r) < b->weight[y[i]])
            order[m++] = (uint32_t)i;
    rng_shuffle_u32(r, order, m);
    return m;
}
