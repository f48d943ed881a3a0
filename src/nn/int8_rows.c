#include "nn/int8_rows.h"

#include <math.h>
#include <string.h>

#include "core/kernels.h"
#include "core/mem.h"

int int8_rows_alloc(int8_rows *q, uint32_t nrows, int cols, size_t ncodes, size_t ncols)
{
    memset(q, 0, sizeof *q);
    q->nrows = nrows;
    q->cols = cols;
    q->start = mem_alloc(((size_t)nrows + 1) * sizeof *q->start);
    q->cstart = mem_alloc(((size_t)nrows + 1) * sizeof *q->cstart);
    q->col = mem_alloc((ncols ? ncols : 1) * sizeof *q->col);
    q->code = mem_alloc(ncodes ? ncodes : 1);
    q->scale = mem_alloc(((size_t)nrows ? nrows : 1) * sizeof *q->scale);
    if (!q->start || !q->cstart || !q->col || !q->code || !q->scale || ncodes > UINT32_MAX) {
        int8_rows_free(q);
        return -1;
    }
    q->start[0] = q->cstart[0] = 0;
    return 0;
}

void int8_rows_free(int8_rows *q)
{
    mem_free(q->start);
    mem_free(q->cstart);
    mem_free(q->col);
    mem_free(q->code);
    mem_free(q->scale);
    memset(q, 0, sizeof *q);
}

size_t int8_rows_bytes(const int8_rows *q)
{
    return ((size_t)q->nrows + 1) * 2 * sizeof *q->start + (size_t)q->nrows * sizeof *q->scale +
           int8_rows_ncodes(q) + int8_rows_ncols(q) * sizeof *q->col;
}

static float row_max(const float *w, int cols)
{
    float mx = 0;
    for (int c = 0; c < cols; c++)
        mx = fmaxf(mx, fabsf(w[c]));
    return mx;
}

/* Whether a weight is kept: magnitude at least the cut, and a code not 0. */
static int kept(float v, float cut, float inv)
{
    return fabsf(v) >= cut && lrintf(v * inv) != 0;
}

/* Row w's largest magnitude, the codes' scale and the cut below which weights are left
 * out; returns how many it keeps. */
static size_t row_kept(const float *w, int cols, float drop, float *mx, float *inv, float *cut)
{
    *mx = row_max(w, cols);
    *inv = *mx > 0 ? 127.0f / *mx : 0;
    *cut = drop * *mx;
    size_t n = 0;
    for (int c = 0; c < cols; c++)
        n += kept(w[c], *cut, *inv);
    return n;
}

/* A row of n weights kept is dense when its columns would cost as much as its zeros. */
static int dense(size_t n, int cols) { return n * 3 > (size_t)cols; }

int int8_rows_quantize(int8_rows *q, const float *W, int cols, const uint32_t *keep,
                       uint32_t nkeep, float drop)
{
    size_t ncodes = 0, ncols = 0; /* a first pass counts, so that the arrays are allocated once */
    for (uint32_t i = 0; i < nkeep; i++) {
        float mx, inv, cut;
        size_t n = row_kept(W + (size_t)(keep ? keep[i] : i) * (size_t)cols, cols, drop, &mx,
                            &inv, &cut);
        ncodes += dense(n, cols) ? (size_t)cols : n;
        ncols += dense(n, cols) ? 0 : n;
    }
    if (int8_rows_alloc(q, nkeep, cols, ncodes, ncols))
        return -1;
    size_t t = 0, u = 0;
    for (uint32_t i = 0; i < nkeep; i++) {
        const float *w = W + (size_t)(keep ? keep[i] : i) * (size_t)cols;
        float mx, inv, cut;
        size_t n = row_kept(w, cols, drop, &mx, &inv, &cut);
        q->scale[i] = mx / 127.0f;
        const int is_dense = dense(n, cols);
        for (int c = 0; c < cols; c++) {
            const int k = kept(w[c], cut, inv);
            if (is_dense)
                q->code[t++] = (int8_t)(k ? lrintf(w[c] * inv) : 0);
            else if (k) {
                q->col[u++] = (uint16_t)c;
                q->code[t++] = (int8_t)lrintf(w[c] * inv);
            }
        }
        q->start[i + 1] = (uint32_t)t;
        q->cstart[i + 1] = (uint32_t)u;
    }
    return 0;
}

int int8_rows_set_lengths(int8_rows *q, const uint16_t *len, size_t ncodes, size_t ncols)
{
    uint64_t t = 0, u = 0;
    for (uint32_t r = 0; r < q->nrows; r++) {
        if (len[r] > q->cols)
            return -1;
        t += len[r];
        u += len[r] == q->cols ? 0 : len[r];
        if (t > ncodes || u > ncols)
            return -1;
        q->start[r + 1] = (uint32_t)t;
        q->cstart[r + 1] = (uint32_t)u;
    }
    return t == ncodes && u == ncols ? 0 : -1;
}

int int8_rows_valid(const int8_rows *q)
{
    if (q->start[0] != 0 || q->cstart[0] != 0 || q->cols < 1 || q->cols > INT8_ROWS_MAX_COLS)
        return 0;
    for (uint32_t r = 0; r < q->nrows; r++) {
        const uint32_t n = q->start[r + 1] - q->start[r], nc = q->cstart[r + 1] - q->cstart[r];
        if (q->start[r + 1] < q->start[r] || q->cstart[r + 1] < q->cstart[r] ||
            !(n == (uint32_t)q->cols ? nc == 0 : nc == n) || !isfinite(q->scale[r]) ||
            q->scale[r] < 0)
            return 0;
        for (uint32_t t = q->cstart[r]; t < q->cstart[r + 1]; t++)
            if (q->col[t] >= q->cols || (t > q->cstart[r] && q->col[t] <= q->col[t - 1]))
                return 0;
    }
    return 1;
}

float int8_rows_get(const int8_rows *q, uint32_t r, int c)
{
    const uint32_t s = q->start[r];
    if (q->start[r + 1] - s == (uint32_t)q->cols) /* dense */
        return (float)q->code[s + (uint32_t)c] * q->scale[r];
    uint32_t lo = q->cstart[r], hi = q->cstart[r + 1], end = hi;
    while (lo < hi) { /* the row's columns ascend */
        uint32_t mid = lo + (hi - lo) / 2;
        if (q->col[mid] < c)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < end && q->col[lo] == c ? (float)q->code[s + (lo - q->cstart[r])] * q->scale[r]
                                       : 0.0f;
}

HOT_KERNEL void int8_sparse_forward(float *restrict out, const uint32_t *rows, const float *vals, size_t n,
                         const int8_rows *W, const float *b)
{
    const uint32_t K = (uint32_t)W->cols;
    if (b)
        memcpy(out, b, K * sizeof *out);
    else
        memset(out, 0, K * sizeof *out);
    for (size_t j = 0; j < n; j++) {
        const uint32_t r = rows[j], s = W->start[r], len = W->start[r + 1] - s;
        const float v = vals[j] * W->scale[r];
        const int8_t *restrict code = W->code + s;
        if (len == K) { /* dense: vectorizes */
            for (uint32_t k = 0; k < K; k++)
                out[k] += v * (float)code[k];
        } else {
            const uint16_t *restrict col = W->col + W->cstart[r];
            for (uint32_t t = 0; t < len; t++)
                out[col[t]] += v * (float)code[t];
        }
    }
}
