/* 2-D convolution by im2col and one sgemm per chunk of images (see conv2d.h).
 *
 * N = batch size, CIN/COUT = input/output channels, H x W = input size, HO x WO = output
 * size, K = kernel size, S = stride, P = padding; CKK = CIN*K*K, the rows of the columns.
 * A chunk of c images [n, n+c) has its columns laid out [CKK][c][HO][WO], so that the
 * sgemm's output [COUT][c*HO*WO] is exactly the chunk's slice of each output channel. */
#include "nn/conv2d.h"

#include <cblas.h>
#include <string.h>

int conv_shape_init(conv_shape *s, int cin, int cout, int k, int stride, int pad, int h,
                    int w)
{
    *s = (conv_shape){.cin = cin, .cout = cout, .k = k, .stride = stride, .pad = pad,
                      .h = h, .w = w};
    if (cin < 1 || cout < 1 || k < 1 || stride < 1 || pad < 0 || h < 1 || w < 1 ||
        h + 2 * pad < k || w + 2 * pad < k)
        return -1;
    s->ho = (h + 2 * pad - k) / stride + 1;
    s->wo = (w + 2 * pad - k) / stride + 1;
    return 0;
}

size_t conv_scratch_floats(const conv_shape *s, int chunk)
{
    if (chunk < 1)
        chunk = 1;
    return (size_t)s->cin * (size_t)(s->k * s->k) * (size_t)chunk * (size_t)s->ho *
           (size_t)s->wo;
}

/* 1x1 stride-1 convolutions without padding need no columns: the input is them. */
static int conv_is_pointwise(const conv_shape *s)
{
    return s->k == 1 && s->stride == 1 && s->pad == 0;
}

/* The outputs o in [lo, hi) whose input o*S + t - P falls inside [0, len), for the kernel
 * offset t; lo <= hi. */
static void valid_range(int *lo, int *hi, int t, int S, int P, int len, int olen)
{
    int a = P - t > 0 ? (P - t + S - 1) / S : 0;
    int last = len - 1 + P - t; /* o*S <= last */
    int b = last < 0 ? 0 : last / S + 1;
    if (b > olen)
        b = olen;
    if (a > b)
        a = b;
    *lo = a;
    *hi = b;
}

/* cols[CKK][c*HO*WO] = the patches of the images [n, n+c) of in[CIN][N][H][W]; padding
 * reads as zero. Each (ci, image) plane is read while it is hot for all K*K offsets. */
static void im2col(const conv_shape *s, float *cols, const float *in, int N, int n, int c)
{
    const int K = s->k, S = s->stride, P = s->pad, H = s->h, W = s->w;
    const int HO = s->ho, WO = s->wo;
    const size_t HW = (size_t)H * W, HOWO = (size_t)HO * WO, ncols = (size_t)c * HOWO;
    for (int ci = 0; ci < s->cin; ci++)
        for (int j = 0; j < c; j++) {
            const float *plane = in + ((size_t)ci * N + (size_t)(n + j)) * HW;
            for (int ky = 0; ky < K; ky++) {
                int ylo, yhi;
                valid_range(&ylo, &yhi, ky, S, P, H, HO);
                for (int kx = 0; kx < K; kx++) {
                    int xlo, xhi;
                    valid_range(&xlo, &xhi, kx, S, P, W, WO);
                    float *dst = cols + ((size_t)(ci * K + ky) * K + kx) * ncols + j * HOWO;
                    memset(dst, 0, (size_t)ylo * WO * sizeof *dst);
                    memset(dst + (size_t)yhi * WO, 0, (size_t)(HO - yhi) * WO * sizeof *dst);
                    const int len = xhi - xlo, ix0 = xlo * S + kx - P;
                    for (int oy = ylo; oy < yhi; oy++) {
                        float *d = dst + (size_t)oy * WO;
                        const float *src = plane + (size_t)(oy * S + ky - P) * W + ix0;
                        for (int ox = 0; ox < xlo; ox++)
                            d[ox] = 0;
                        for (int ox = xhi; ox < WO; ox++)
                            d[ox] = 0;
                        d += xlo;
                        if (S == 1)
                            memcpy(d, src, (size_t)len * sizeof *d);
                        else if (S == 2) /* a constant stride, so that it vectorizes */
                            for (int t = 0; t < len; t++)
                                d[t] = src[2 * t];
                        else
                            for (int t = 0; t < len; t++)
                                d[t] = src[(size_t)t * S];
                    }
                }
            }
        }
}

/* din[CIN][N][H][W] += col2im(cols) on the images [n, n+c): the transpose of im2col, each
 * column value added back to the input pixel it was read from. */
static void col2im(const conv_shape *s, float *din, const float *cols, int N, int n, int c)
{
    const int K = s->k, S = s->stride, P = s->pad, H = s->h, W = s->w;
    const int HO = s->ho, WO = s->wo;
    const size_t HW = (size_t)H * W, HOWO = (size_t)HO * WO, ncols = (size_t)c * HOWO;
    for (int ci = 0; ci < s->cin; ci++)
        for (int j = 0; j < c; j++) {
            float *plane = din + ((size_t)ci * N + (size_t)(n + j)) * HW;
            for (int ky = 0; ky < K; ky++) {
                int ylo, yhi;
                valid_range(&ylo, &yhi, ky, S, P, H, HO);
                for (int kx = 0; kx < K; kx++) {
                    int xlo, xhi;
                    valid_range(&xlo, &xhi, kx, S, P, W, WO);
                    const float *src =
                        cols + ((size_t)(ci * K + ky) * K + kx) * ncols + j * HOWO + xlo;
                    const int len = xhi - xlo, ix0 = xlo * S + kx - P;
                    for (int oy = ylo; oy < yhi; oy++) {
                        const float *sr = src + (size_t)oy * WO;
                        float *d = plane + (size_t)(oy * S + ky - P) * W + ix0;
                        if (S == 1)
                            for (int t = 0; t < len; t++)
                                d[t] += sr[t];
                        else if (S == 2)
                            for (int t = 0; t < len; t++)
                                d[2 * t] += sr[t];
                        else
                            for (int t = 0; t < len; t++)
                                d[(size_t)t * S] += sr[t];
                    }
                }
            }
        }
}

void conv2d_forward(const conv_shape *s, float *out, const float *in, const float *W,
                    const float *b, int N, int n0, int n1, int chunk, float *scratch)
{
    const int CKK = s->cin * s->k * s->k, HOWO = s->ho * s->wo;
    const int ldo = N * HOWO;
    if (chunk < 1)
        chunk = 1;
    for (int n = n0; n < n1; n += chunk) {
        const int c = n1 - n < chunk ? n1 - n : chunk;
        const float *cols = scratch;
        int ldcols = c * HOWO;
        if (conv_is_pointwise(s)) {
            cols = in + (size_t)n * HOWO;
            ldcols = ldo;
        } else {
            im2col(s, scratch, in, N, n, c);
        }
        float *o = out + (size_t)n * HOWO;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->cout, c * HOWO, CKK, 1.0f,
                    W, CKK, cols, ldcols, 0.0f, o, ldo);
        if (b)
            for (int co = 0; co < s->cout; co++) {
                float *row = o + (size_t)co * ldo, bias = b[co];
                for (int i = 0; i < c * HOWO; i++)
                    row[i] += bias;
            }
    }
}

/* Sum of x[0..n), in float blocks that vectorize, added up in double. */
static double sum_floats(const float *x, size_t n)
{
    double total = 0;
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        float acc[16] = {0};
        for (int k = 0; k < 64; k += 16)
            for (int l = 0; l < 16; l++)
                acc[l] += x[i + k + l];
        for (int l = 0; l < 16; l++)
            total += acc[l];
    }
    for (; i < n; i++)
        total += x[i];
    return total;
}

void conv2d_backward(const conv_shape *s, float *din, float *dW, float *db, const float *dout,
                     const float *in, const float *W, int N, int n0, int n1, int chunk,
                     float *scratch)
{
    const int CKK = s->cin * s->k * s->k, HOWO = s->ho * s->wo;
    const int ldo = N * HOWO, pointwise = conv_is_pointwise(s);
    const size_t HW = (size_t)s->h * s->w;
    if (chunk < 1)
        chunk = 1;
    if (din && !pointwise)
        for (int ci = 0; ci < s->cin; ci++)
            memset(din + ((size_t)ci * N + n0) * HW, 0, (size_t)(n1 - n0) * HW * sizeof *din);
    if (db)
        for (int co = 0; co < s->cout; co++)
            db[co] += (float)sum_floats(dout + (size_t)co * ldo + (size_t)n0 * HOWO,
                                        (size_t)(n1 - n0) * HOWO);
    for (int n = n0; n < n1; n += chunk) {
        const int c = n1 - n < chunk ? n1 - n : chunk;
        const float *dO = dout + (size_t)n * HOWO;
        if (pointwise) {
            const float *x = in + (size_t)n * HOWO;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s->cout, CKK, c * HOWO, 1.0f,
                        dO, ldo, x, ldo, 1.0f, dW, CKK);
            if (din)
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, CKK, c * HOWO, s->cout,
                            1.0f, W, CKK, dO, ldo, 0.0f, din + (size_t)n * HOWO, ldo);
            continue;
        }
        im2col(s, scratch, in, N, n, c);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s->cout, CKK, c * HOWO, 1.0f, dO,
                    ldo, scratch, c * HOWO, 1.0f, dW, CKK);
        if (!din)
            continue;
        /* The columns are spent: their scratch now receives their gradient. */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, CKK, c * HOWO, s->cout, 1.0f, W,
                    CKK, dO, ldo, 0.0f, scratch, c * HOWO);
        col2im(s, din, scratch, N, n, c);
    }
}
