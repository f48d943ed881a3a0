/* Token and position embeddings (see embedding.h). */
#include "nn/embedding.h"

#include <string.h>

/* The ids of step t of sequence b, and how many of its S slots are used (slot 0 always). */
static const int32_t *step_ids(const int32_t *tokens, int S, int b, int T, int t, int *used)
{
    const int32_t *id = tokens + ((size_t)b * T + t) * (size_t)S;
    int n = 1;
    for (int s = 1; s < S; s++)
        n += id[s] >= 0;
    *used = n;
    return id;
}

/* The table's rows: floats, or int8 codes with a scale each. */
typedef struct rows {
    const float *table;
    const int8_t *codes;
    const float *scales;
} rows;

/* Row r copied into o (first) or added to it. */
static void take_row(float *o, const rows *t, int32_t r, int D, int first)
{
    if (t->table) {
        const float *e = t->table + (size_t)r * D;
        for (int j = 0; j < D; j++)
            o[j] = first ? e[j] : o[j] + e[j];
        return;
    }
    const int8_t *c = t->codes + (size_t)r * D;
    const float s = t->scales[r];
    for (int j = 0; j < D; j++)
        o[j] = (first ? 0 : o[j]) + s * (float)c[j];
}

static void forward(float *out, const int32_t *tokens, int S, const int *lens, const rows *tab,
                    const float *pos, int B, int T, int D)
{
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            float *o = out + ((size_t)b * T + t) * D;
            if (t >= lens[b]) {
                memset(o, 0, (size_t)D * sizeof *o);
                continue;
            }
            int used;
            const int32_t *id = step_ids(tokens, S, b, T, t, &used);
            take_row(o, tab, id[0], D, 1);
            if (used > 1) { /* the mean of the slots' rows */
                for (int s = 1; s < S; s++)
                    if (id[s] >= 0)
                        take_row(o, tab, id[s], D, 0);
                const float inv = 1.0f / (float)used;
                for (int j = 0; j < D; j++)
                    o[j] *= inv;
            }
            if (pos) {
                const float *p = pos + (size_t)t * D;
                for (int j = 0; j < D; j++)
                    o[j] += p[j];
            }
        }
}

void embedding_forward(float *out, const int32_t *tokens, int S, const int *lens,
                       const float *table, const float *pos, int B, int T, int D)
{
    const rows t = {table, NULL, NULL};
    forward(out, tokens, S, lens, &t, pos, B, T, D);
}

void embedding_forward_int8(float *out, const int32_t *tokens, int S, const int *lens,
                            const int8_t *codes, const float *scales, const float *pos, int B,
                            int T, int D)
{
    const rows t = {NULL, codes, scales};
    forward(out, tokens, S, lens, &t, pos, B, T, D);
}

void embedding_backward(float *dtable, float *dpos, const float *dout, const int32_t *tokens,
                        int S, const int *lens, int B, int T, int D)
{
    for (int b = 0; b < B; b++)
        for (int t = 0; t < lens[b]; t++) {
            const float *g = dout + ((size_t)b * T + t) * D;
            int used;
            const int32_t *id = step_ids(tokens, S, b, T, t, &used);
            const float inv = 1.0f / (float)used;
            for (int s = 0; s < S; s++) {
                if (id[s] < 0)
                    continue;
                float *e = dtable + (size_t)id[s] * D;
                for (int j = 0; j < D; j++)
                    e[j] += g[j] * inv;
            }
            if (dpos) {
                float *p = dpos + (size_t)t * D;
                for (int j = 0; j < D; j++)
                    p[j] += g[j];
            }
        }
}

/* Moves a[i] down the max-heap a[0..n) to where it belongs. */
static void sift_down(int32_t *a, int i, int n)
{
    for (int child; (child = 2 * i + 1) < n; i = child) {
        if (child + 1 < n && a[child + 1] > a[child])
            child++;
        if (a[i] >= a[child])
            return;
        int32_t t = a[i];
        a[i] = a[child];
        a[child] = t;
    }
}

/* In place and without allocating (glibc's qsort may allocate), for the training loop. */
static void heap_sort(int32_t *a, int n)
{
    for (int i = n / 2 - 1; i >= 0; i--)
        sift_down(a, i, n);
    for (int end = n - 1; end > 0; end--) {
        int32_t t = a[0];
        a[0] = a[end];
        a[end] = t;
        sift_down(a, 0, end);
    }
}

int embedding_rows(int32_t *rows, const int32_t *tokens, int S, const int *lens, int B, int T)
{
    int n = 0;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < lens[b]; t++)
            for (int s = 0; s < S; s++) {
                const int32_t id = tokens[((size_t)b * T + t) * (size_t)S + (size_t)s];
                if (id >= 0)
                    rows[n++] = id;
            }
    if (n == 0)
        return 0;
    heap_sort(rows, n);
    int m = 1;
    for (int i = 1; i < n; i++)
        if (rows[i] != rows[m - 1])
            rows[m++] = rows[i];
    return m;
}
