#include "model/label_head.h"

#include <string.h>

#include "core/mem.h"
#include "nn/dense.h"
#include "nn/linear.h"
#include "nn/sparse_linear.h"

int label_head_alloc(label_head *h, size_t in, int out)
{
    int by_output = h->by_output;
    label_head_free(h);
    h->by_output = by_output;
    h->in = in;
    h->out = out;
    h->nparams = in * (size_t)out + (size_t)out;
    h->params = mem_calloc(h->nparams, sizeof *h->params);
    if (!h->params)
        return -1;
    h->w = h->params;
    h->b = h->params + in * (size_t)out;
    return 0;
}

void label_head_free(label_head *h)
{
    if (h->q)
        int8_rows_free(h->q);
    mem_free(h->q);
    mem_free(h->params);
    memset(h, 0, sizeof *h);
}

float label_head_weight(const label_head *h, size_t in, int out)
{
    if (h->q)
        return int8_rows_get(h->q, (uint32_t)in, out);
    return h->by_output ? h->w[(size_t)out * h->in + in] : h->w[in * (size_t)h->out + (size_t)out];
}

void label_head_forward_row(const label_head *h, const encoder_features *f, size_t i, float *z)
{
    if (h->q) { /* int8 rows: the sparse layout only */
        const sparse_vec *x = &f->sparse[i];
        int8_sparse_forward(z, x->rows, x->vals, x->n, h->q, h->b);
    } else if (h->by_output) {
        dense_forward(z, f->dense + i * h->in, h->w, h->b, 1, (int)h->in, h->out);
    } else if (f->sparse) {
        const sparse_vec *x = &f->sparse[i];
        sparse_linear_forward(z, x->rows, x->vals, x->n, h->w, h->b, h->out);
    } else {
        linear_forward(z, f->dense + i * f->width, h->w, h->b, (int)h->in, h->out);
    }
}

void label_head_forward(const label_head *h, const encoder_features *f, float *z)
{
    const size_t N = (size_t)h->out;
    if (h->by_output) {
        const size_t g = f->group ? f->group : f->n, F = h->in;
        for (size_t j0 = 0; j0 < f->n; j0 += g)
            dense_forward(z + j0 * N, f->dense + j0 * F, h->w, h->b,
                          (int)(f->n - j0 < g ? f->n - j0 : g), (int)F, h->out);
        return;
    }
    for (size_t i = 0; i < f->n; i++)
        label_head_forward_row(h, f, i, z + i * N);
}

void label_head_save(const label_head *h, model_writer *w)
{
    mw_u64(w, h->in);
    mw_u32(w, (uint32_t)h->out);
    mw_floats(w, h->params, h->nparams);
}

int label_head_load(label_head *h, model_reader *r, size_t in, int out, int by_output)
{
    h->by_output = by_output;
    if (mr_u64(r) != in || mr_u32(r) != (uint32_t)out)
        return mr_fail(r, "the label head does not fit its encoder and labels");
    if (mr_claim(r, "the label head", in * (size_t)out + (size_t)out, 4))
        return -1;
    if (label_head_alloc(h, in, out))
        return mr_oom(r);
    return mr_floats(r, "the label head", h->params, h->nparams);
}

void label_head_copy_into(const label_head *from, label_head *to, const uint32_t *row_of)
{
    const size_t N0 = (size_t)from->out, N = (size_t)to->out;
    if (from->by_output) { /* w[out][in]: the old outputs' rows as they were */
        for (size_t o = 0; o < N0; o++)
            for (size_t r = 0; r < from->in; r++)
                to->w[o * to->in + (row_of ? row_of[r] : r)] = from->w[o * from->in + r];
    } else {
        for (size_t r = 0; r < from->in; r++)
            memcpy(to->w + (row_of ? row_of[r] : r) * N, from->w + r * N0, N0 * sizeof *to->w);
    }
    memcpy(to->b, from->b, N0 * sizeof *to->b);
}

/* The biases alone as the head's parameters, beside its int8 rows. 0, or -1. */
static int alloc_int8(label_head *h, size_t in, int out)
{
    label_head_free(h);
    h->in = in;
    h->out = out;
    h->nparams = (size_t)out;
    h->params = mem_calloc((size_t)out, sizeof *h->params);
    h->q = mem_calloc(1, sizeof *h->q);
    if (!h->params || !h->q) {
        label_head_free(h);
        return -1;
    }
    h->b = h->params;
    return 0;
}

int label_head_quantize(const label_head *from, const uint32_t *keep, uint32_t nkeep,
                        float drop, label_head *to)
{
    memset(to, 0, sizeof *to);
    if (from->by_output || from->q || alloc_int8(to, nkeep, from->out) ||
        int8_rows_quantize(to->q, from->w, from->out, keep, nkeep, drop)) {
        label_head_free(to);
        return -1;
    }
    memcpy(to->b, from->b, (size_t)from->out * sizeof *to->b);
    return 0;
}

/* The file keeps each row's count of codes (u16), not the offsets they add up to. */
void label_head_save_int8(const label_head *h, model_writer *w)
{
    const int8_rows *q = h->q;
    mw_u64(w, h->in);
    mw_u32(w, (uint32_t)h->out);
    mw_u64(w, int8_rows_ncodes(q));
    mw_u64(w, int8_rows_ncols(q));
    mw_floats(w, h->b, (size_t)h->out);
    mw_floats(w, q->scale, q->nrows);
    for (uint32_t r = 0; r < q->nrows; r++) {
        uint16_t len = (uint16_t)(q->start[r + 1] - q->start[r]);
        mw_put(w, &len, sizeof len);
    }
    mw_put(w, q->col, int8_rows_ncols(q) * sizeof *q->col);
    mw_put(w, q->code, int8_rows_ncodes(q));
}

int label_head_load_int8(label_head *h, model_reader *r, size_t in, int out)
{
    if (mr_u64(r) != in || mr_u32(r) != (uint32_t)out)
        return mr_fail(r, "the int8 label head does not fit its encoder and labels");
    uint64_t ncodes = mr_u64(r), ncols = mr_u64(r);
    if (r->failed || out > INT8_ROWS_MAX_COLS || in > UINT32_MAX ||
        ncodes > (uint64_t)in * (uint64_t)out || ncols > ncodes ||
        mr_claim(r, "the int8 label head", ncodes + 2 * ncols + 6 * (uint64_t)in, 1))
        return mr_fail(r, "the int8 label head's size is out of range");
    uint16_t *len = mem_alloc((in ? in : 1) * sizeof *len);
    if (!len || alloc_int8(h, in, out) ||
        int8_rows_alloc(h->q, (uint32_t)in, out, (size_t)ncodes, (size_t)ncols)) {
        mem_free(len);
        return mr_oom(r);
    }
    int8_rows *q = h->q;
    int bad = mr_floats(r, "the int8 label head", h->b, (size_t)out) ||
              mr_floats(r, "the int8 label head", q->scale, q->nrows) ||
              mr_get(r, len, in * sizeof *len);
    if (!bad && int8_rows_set_lengths(q, len, (size_t)ncodes, (size_t)ncols))
        bad = mr_fail(r, "the int8 label head's rows do not add up");
    mem_free(len);
    if (bad || mr_get(r, q->col, (size_t)ncols * sizeof *q->col) ||
        mr_get(r, q->code, (size_t)ncodes))
        return -1;
    if (!int8_rows_valid(q))
        return mr_fail(r, "the int8 label head's rows are damaged");
    return 0;
}
