/* Linear layers over the rows of a batch (see dense.h). */
#include "nn/dense.h"

#include <cblas.h>
#include <string.h>

void dense_forward(float *out, const float *x, const float *W, const float *b, int N, int C,
                   int OC)
{
    if (N < 1)
        return;
    for (int i = 0; b && i < N; i++)
        memcpy(out + (size_t)i * OC, b, (size_t)OC * sizeof *out);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, C, 1.0f, x, C, W, C,
                b ? 1.0f : 0.0f, out, OC);
}

void dense_backward(float *dx, int add_dx, float *dW, float *db, const float *dout,
                    const float *x, const float *W, int N, int C, int OC)
{
    if (N < 1)
        return;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, C, N, 1.0f, dout, OC, x, C, 1.0f,
                dW, C);
    if (db)
        add_column_sums(db, dout, N, OC, OC);
    if (dx)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, C, OC, 1.0f, dout, OC, W, C,
                    add_dx ? 1.0f : 0.0f, dx, C);
}

/* Blocks of 64 rows summed into a row of partial sums, then added: the inner loop runs
 * along a row, so it vectorizes, and a long batch does not add each value to a large sum. */
void add_column_sums(float *sum, const float *a, int N, int n, int lda)
{
    enum { BLOCK = 64, COLS = 256 };
    for (int j0 = 0; j0 < n; j0 += COLS) {
        const int w = n - j0 < COLS ? n - j0 : COLS;
        for (int i0 = 0; i0 < N; i0 += BLOCK) {
            float acc[COLS] = {0};
            const int i1 = N - i0 < BLOCK ? N : i0 + BLOCK;
            for (int i = i0; i < i1; i++) {
                const float *row = a + (size_t)i * lda + j0;
                for (int j = 0; j < w; j++)
                    acc[j] += row[j];
            }
            for (int j = 0; j < w; j++)
                sum[j0 + j] += acc[j];
        }
    }
}
