#include "nn/int8_rows.h"

#include <math.h>
#include <string.h>

#include "core/mem.h"

int int8_rows_alloc(int8_rows *q, uint32_t nrows, int cols, size_t nnz)
{
    memset(q, 0, sizeof *q);
    q->nrows = nrows;
    q->cols = cols;
    q->start = mem_alloc(((size_t)nrows + 1) * sizeof *q->start);
    q->col = mem_alloc((nnz ? nnz : 1) * sizeof *q->col);
    q->code = mem_alloc(nnz ? nnz : 1);
    q->scale = mem_alloc(((size_t)nrows ? nrows : 1) * sizeof *q->scale);
    if (!q->start || !q->col || !q->code || !q->scale || nnz > UINT32_MAX) {
        int8_rows_free(q);
        return -1;
    }
    q->start[0] = 0;
    return 0;
}

void int8_rows_free(int8_rows *q)
{
    mem_free(q->start);
    mem_free(q->col);
    mem_free(q->code);
    mem_free(q->scale);
    memset(q, 0, sizeof *q);
}

size_t int8_rows_bytes(const int8_rows *q)
{
    return ((size_t)q->nrows + 1) * sizeof *q->start + (size_t)q->nrows * sizeof *q->scale +
           int8_rows_nnz(q) * (sizeof *q->col + sizeof *q->code);
}

static float row_max(const float *w, int cols)
{
    float mx = 0;
    for (int c = 0; c < cols; c++)
        mx = fmaxf(mx, fabsf(w[c]));
    return mx;
}

/* The weights of w[cols] that row r keeps: magnitude at least the cut, and a code not 0. */
static int kept(float v, float cut, float inv)
{
    return fabsf(v) >= cut && lrintf(v * inv) != 0;
}

int int8_rows_quantize(int8_rows *q, const float *W, int cols, const uint32_t *keep,
                       uint32_t nkeep, float drop)
{
    size_t nnz = 0; /* a first pass counts, so that the arrays are allocated once */
    for (uint32_t i = 0; i < nkeep; i++) {
        const float *w = W + (size_t)(keep ? keep[i] : i) * (size_t)cols;
        float mx = row_max(w, cols), inv = mx > 0 ? 127.0f / mx : 0, cut = drop * mx;
        for (int c = 0; c < cols; c++)
            nnz += kept(w[c], cut, inv);
    }
    if (int8_rows_alloc(q, nkeep, cols, nnz))
        return -1;
    size_t t = 0;
    for (uint32_t i = 0; i < nkeep; i++) {
        const float *w = W + (size_t)(keep ? keep[i] : i) * (size_t)cols;
        float mx = row_max(w, cols), inv = mx > 0 ? 127.0f / mx : 0, cut = drop * mx;
        q->scale[i] = mx / 127.0f;
        for (int c = 0; c < cols; c++)
            if (kept(w[c], cut, inv)) {
                q->col[t] = (uint16_t)c;
                q->code[t++] = (int8_t)lrintf(w[c] * inv);
            }
        q->start[i + 1] = (uint32_t)t;
    }
    return 0;
}

int int8_rows_valid(const int8_rows *q)
{
    if (q->start[0] != 0 || q->cols < 1 || q->cols > INT8_ROWS_MAX_COLS)
        return 0;
    for (uint32_t r = 0; r < q->nrows; r++) {
        if (q->start[r + 1] < q->start[r] || !isfinite(q->scale[r]) || q->scale[r] < 0)
            return 0;
        for (uint32_t t = q->start[r]; t < q->start[r + 1]; t++)
            if (q->col[t] >= q->cols || (t > q->start[r] && q->col[t] <= q->col[t - 1]))
                return 0;
    }
    return 1;
}

float int8_rows_get(const int8_rows *q, uint32_t r, int c)
{
    uint32_t lo = q->start[r], hi = q->start[r + 1];
    while (lo < hi) { /* the row's columns ascend */
        uint32_t mid = lo + (hi - lo) / 2;
        if (q->col[mid] < c)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < q->start[r + 1] && q->col[lo] == c ? (float)q->code[lo] * q->scale[r] : 0.0f;
}

void int8_sparse_forward(float *out, const uint32_t *rows, const float *vals, size_t n,
                         const int8_rows *W, const float *b)
{
    const size_t K = (size_t)W->cols;
    if (b)
        memcpy(out, b, K * sizeof *out);
    else
        memset(out, 0, K * sizeof *out);
    for (size_t j = 0; j < n; j++) {
        const uint32_t r = rows[j], end = W->start[r + 1];
        const float s = vals[j] * W->scale[r];
        for (uint32_t t = W->start[r]; t < end; t++)
            out[W->col[t]] += s * (float)W->code[t];
    }
}
