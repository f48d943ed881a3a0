/* Convolution and batch norm: reference values from PyTorch, a direct convolution in double,
 * batch ranges that split a batch, and finite-difference checks of every backward pass.
 *
 * Layout CNHW ([C][N][H][W], see conv2d.h); N = batch size, M = N*H*W values per channel.
 *
 * The reference values were computed once by PyTorch 1.13 (python3-torch), with this script
 * (for one image, CNHW is NCHW):
 *
 *   import torch, numpy as np, textwrap
 *   def fx(n): return torch.tensor([((i * 7) % 23 - 11) / 4 for i in range(n)])
 *   def fw(n): return torch.tensor([((i * 5) % 13 - 6) / 8 for i in range(n)])
 *   def fd(n): return torch.tensor([((i * 3) % 7 - 3) / 2 for i in range(n)])
 *   def show(name, t):
 *       v = t.detach().flatten().tolist()
 *       print(f"static const float {name}[{len(v)}] = {{")
 *       for line in textwrap.wrap(", ".join("%.9g" % x for x in v), 88):
 *           print("    " + line)
 *       print("};")
 *   x = fx(2 * 4 * 5).reshape(1, 2, 4, 5).requires_grad_()
 *   b = torch.tensor([0.5, -0.25, 0.125])
 *   for name, k, s, p in [("k3s1p1", 3, 1, 1), ("k3s2p1", 3, 2, 1), ("k1s1p0", 1, 1, 0),
 *                         ("k2s2p0", 2, 2, 0)]:
 *       W = fw(3 * 2 * k * k).reshape(3, 2, k, k).requires_grad_()
 *       bb = b.clone().requires_grad_()
 *       y = torch.nn.functional.conv2d(x, W, bb, stride=s, padding=p)
 *       show("out_" + name, y)
 *       if name == "k3s2p1":
 *           y.backward(fd(y.numel()).reshape(y.shape))
 *           show("din_" + name, x.grad); show("dW_" + name, W.grad)
 *           show("db_" + name, bb.grad)
 *   C, N, H, Wd = 3, 2, 2, 3  # batch norm; CNHW here, NCHW in torch
 *   xs = np.array([np.float32((i * 13) % 17 - 8) / np.float32(5) + np.float32(i // 12)
 *                  for i in range(C * N * H * Wd)], dtype=np.float32)
 *   xt = torch.tensor(xs).reshape(C, N, H, Wd).permute(1, 0, 2, 3).contiguous()
 *   xt.requires_grad_()
 *   bn = torch.nn.BatchNorm2d(C, eps=1e-5, momentum=0.1)
 *   with torch.no_grad():
 *       bn.weight.copy_(torch.tensor([1.5, -0.5, 0.75]))
 *       bn.bias.copy_(torch.tensor([0.25, 0.0, -1.0]))
 *       bn.running_mean.copy_(torch.tensor([0.1, -0.2, 0.3]))
 *       bn.running_var.copy_(torch.tensor([1.0, 0.5, 2.0]))
 *   y = bn(xt)
 *   dout = torch.tensor([((i * 5) % 7 - 3) / 4 for i in range(C * N * H * Wd)])
 *   y.backward(dout.reshape(C, N, H, Wd).permute(1, 0, 2, 3))
 *   show("bn_out", y.permute(1, 0, 2, 3))
 *   show("bn_run_mean", bn.running_mean); show("bn_run_var", bn.running_var)
 *   show("bn_dx", xt.grad.permute(1, 0, 2, 3))
 *   show("bn_dgamma", bn.weight.grad); show("bn_dbeta", bn.bias.grad)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "nn/batchnorm.h"
#include "nn/conv2d.h"
#include "numeric.h"

/* The patterns fx, fw, fd of the script: small multiples of powers of two, so every sum in
 * the convolutions is exact in float. */
static float pat_x(int i) { return (float)((i * 7) % 23 - 11) / 4; }
static float pat_w(int i) { return (float)((i * 5) % 13 - 6) / 8; }
static float pat_d(int i) { return (float)((i * 3) % 7 - 3) / 2; }
static const float pat_b[3] = {0.5f, -0.25f, 0.125f};

static const float out_k3s1p1[60] = {
    -0.0625, 2.84375, 3.1875, 0.65625, -1.125, 0.28125, -1.5625, 2.15625, 2.28125, -4.96875,
    0.28125, 3.375, 0.625, 2.1875, -0.0625, -0.0625, -0.6875, 4.40625, -1.28125, -3.21875,
    -4.34375, 1.59375, 4.3125, -4.46875, -3.59375, 1.5625, -2.03125, -3.03125, 3.15625,
    1.71875, -4.53125, 2.3125, 4.90625, -6.15625, -3.21875, 0.6875, -1.09375, -0.125, 0.125,
    3.8125, -0.59375, -0.96875, 4.125, -1.5625, -3.3125, 1.53125, 0.65625, 1.4375, 1.5,
    2.21875, -1.3125, -0.46875, 4.625, -3.21875, -3.625, 0.9375, -0.78125, -0.28125,
    0.21875, 3.84375
};
static const float out_k3s2p1[18] = {
    -0.0625, 3.1875, -1.125, 0.28125, 0.625, -0.0625, -4.34375, 4.3125, -3.59375, -4.53125,
    4.90625, -3.21875, -0.59375, 4.125, -3.3125, -1.3125, 4.625, -3.625
};
static const float din_k3s2p1[40] = {
    -0.0625, -0.75, -0.0625, -0.3125, 0.375, -0.875, 0.25, -0.875, 3.75, 0.4375, -0.0625,
    -0.75, -0.0625, 1.4375, -0.0625, 0.1875, -1.625, 0.4375, 1, -0.1875, 0.875, 0.25,
    -0.8125, 0.5625, -2.0625, 1.625, -1.375, 1.5, -0.75, 0.0625, 1.5, -0.125, -0.1875,
    -0.6875, 1.1875, -0.6875, 0.625, -1.3125, -0.3125, 0.25
};
static const float dW_k3s2p1[54] = {
    2.25, -3.625, -1.25, 0.25, 5.375, 4.625, 1.875, -1.875, -4.125, 2.25, -3.875, -1,
    -1.875, 5.125, -1.625, 2.625, -2.125, -4.625, -1.25, 2.875, 3.125, 4.625, -8, -6.75,
    -4.125, 6.5, 4.75, -1, 3.875, 3.625, -1.625, -7.5, 4.75, -4.625, 7, 4.75, 3.125, -3.75,
    -0.375, -6.75, 7.5, 6.375, 4.75, -7, -2.125, 3.625, -3.25, 0.375, 4.75, 7, -4.625, 4.75,
    -7.5, -1.625
};
static const float db_k3s2p1[3] = {
    -0.5, 1, -1
};
static const float out_k1s1p0[60] = {
    2.84375, 1.3125, -0.21875, -1.03125, 1.75, 0.21875, -1.3125, 2.1875, 0.65625, -0.875,
    2.625, 1.09375, -0.4375, -1.25, 1.53125, 0, -1.53125, 1.96875, 0.4375, -1.09375, -0.5,
    -0.5, -0.5, 2.375, -0.5, -0.5, -0.5, -0.5, -0.5, -0.5, -0.5, -0.5, -0.5, 2.375, -0.5,
    -0.5, -0.5, -0.5, -0.5, -0.5, -1.90625, -0.375, 1.15625, -1.625, -0.8125, 0.71875, 2.25,
    -1.25, 0.28125, 1.8125, -1.6875, -0.15625, 1.375, -1.40625, -0.59375, 0.9375, 2.46875,
    -1.03125, 0.5, 2.03125
};
static const float out_k2s2p0[12] = {
    1.90625, -2.6875, 1.9375, -2.65625, 1.84375, 0.8125, 1.71875, 0.6875, 2.09375, 0.96875,
    2.21875, 1.09375
};
static const float bn_out[36] = {
    -2.13017321, 1.8623755, 0.633898914, -0.59457767, -1.82305408, 2.16949463, 0.941018045,
    -0.287458479, -1.51593506, 2.47661376, 1.24813724, 0.019660648, 0.484516531,
    -0.79657799, -0.40239507, -0.00821214914, 0.385970801, 0.780153751, -0.5009408,
    -0.106757909, 0.287425071, 0.681608021, -0.599486589, -0.205303609, -1.30795538,
    -1.89922988, 0.0224120244, -0.568862498, -1.16013694, -1.7514112, 0.170230478,
    -0.421043873, -1.01231825, -1.60359263, -2.19486713, -0.273225248
};
static const float bn_run_mean[3] = {
    0.0849999934, -0.0816666558, 0.471666694
};
static const float bn_run_var[3] = {
    1.00409091, 0.562333345, 1.91233325
};
static const float bn_dx[36] = {
    -1.06854749, 0.711470902, -0.0134111699, -0.738293231, 1.22411704, 0.316843033,
    -0.408039004, -1.1329211, 0.829489231, -0.0777847841, -0.802666783, 1.15974343,
    -0.217586696, 0.251247734, 0.42915976, -0.255203426, -0.077291429, 0.100620553,
    -0.292820156, -0.114908181, 0.0630038232, 0.240915835, -0.152524903, 0.0253870767,
    -0.383402824, 0.454731941, 0.363812953, -0.091465123, -0.546743155, 0.291391551,
    0.200472564, -0.254805475, 0.58332926, 0.128051162, -0.327226907, -0.418145835
};
static const float bn_dgamma[3] = {
    0.409492016, 2.11462736, -1.76561105
};
static const float bn_dbeta[3] = {
    0, -0.25, -0.5
};

static float *alloc_floats(size_t n)
{
    float *p = calloc(n ? n : 1, sizeof *p);
    assert_non_null(p);
    return p;
}

static void assert_all_close(const float *got, const float *want, size_t n, double tol)
{
    for (size_t i = 0; i < n; i++)
        if (fabs(got[i] - want[i]) > tol * fmax(1.0, fabs(want[i])))
            fail_msg("element %zu: got %.8g, want %.8g", i, got[i], want[i]);
}

/* A convolution under test: its shape, a batch of N and all its tensors. */
typedef struct conv_case {
    conv_shape s;
    int N, chunk;
    size_t nin, nout, nw;
    float *x, *W, *b, *out, *dout, *din, *dW, *db, *scratch;
} conv_case;

static void case_init(conv_case *t, int cin, int cout, int k, int stride, int pad, int h,
                      int w, int N, int chunk, uint64_t seed)
{
    assert_int_equal(conv_shape_init(&t->s, cin, cout, k, stride, pad, h, w), 0);
    t->N = N;
    t->chunk = chunk;
    t->nin = (size_t)cin * N * h * w;
    t->nout = (size_t)cout * N * t->s.ho * t->s.wo;
    t->nw = (size_t)cout * cin * k * k;
    t->x = alloc_floats(t->nin);
    t->din = alloc_floats(t->nin);
    t->W = alloc_floats(t->nw);
    t->dW = alloc_floats(t->nw);
    t->b = alloc_floats((size_t)cout);
    t->db = alloc_floats((size_t)cout);
    t->out = alloc_floats(t->nout);
    t->dout = alloc_floats(t->nout);
    t->scratch = alloc_floats(conv_scratch_floats(&t->s, chunk));
    fill(t->x, t->nin, seed);
    fill(t->W, t->nw, seed + 1);
    fill(t->b, (size_t)cout, seed + 2);
    fill(t->dout, t->nout, seed + 3);
}

static void case_free(conv_case *t)
{
    free(t->x);
    free(t->din);
    free(t->W);
    free(t->dW);
    free(t->b);
    free(t->db);
    free(t->out);
    free(t->dout);
    free(t->scratch);
}

static void case_forward(conv_case *t, int n0, int n1)
{
    conv2d_forward(&t->s, t->out, t->x, t->W, t->b, t->N, n0, n1, t->chunk, t->scratch);
}

static void case_backward(conv_case *t, int n0, int n1)
{
    conv2d_backward(&t->s, t->din, t->dW, t->db, t->dout, t->x, t->W, t->N, n0, n1, t->chunk,
                    t->scratch);
}

/* The convolution by its definition, in double, over the whole batch. */
static void conv_direct(double *out, const conv_case *t)
{
    const conv_shape *s = &t->s;
    const int N = t->N, K = s->k;
    for (int co = 0; co < s->cout; co++)
        for (int n = 0; n < N; n++)
            for (int oy = 0; oy < s->ho; oy++)
                for (int ox = 0; ox < s->wo; ox++) {
                    double acc = t->b[co];
                    for (int ci = 0; ci < s->cin; ci++)
                        for (int ky = 0; ky < K; ky++)
                            for (int kx = 0; kx < K; kx++) {
                                int iy = oy * s->stride + ky - s->pad;
                                int ix = ox * s->stride + kx - s->pad;
                                if (iy < 0 || iy >= s->h || ix < 0 || ix >= s->w)
                                    continue;
                                acc += (double)t->W[((co * s->cin + ci) * K + ky) * K + kx] *
                                       t->x[(((size_t)ci * N + n) * s->h + iy) * s->w + ix];
                            }
                    *out++ = acc;
                }
}

static void conv_shape_init_computes_output_size_and_rejects_empty(void **state)
{
    (void)state;
    conv_shape s;
    assert_int_equal(conv_shape_init(&s, 2, 3, 3, 2, 1, 4, 5), 0);
    assert_int_equal(s.ho, 2);
    assert_int_equal(s.wo, 3);
    assert_int_equal(conv_scratch_floats(&s, 4), 2 * 9 * 4 * 2 * 3);
    assert_int_equal(conv_shape_init(&s, 2, 3, 5, 1, 0, 4, 5), -1); /* kernel > input */
    assert_int_equal(conv_shape_init(&s, 2, 3, 5, 1, 0, 3, 9), -1);
    assert_int_equal(conv_shape_init(&s, 2, 3, 3, 0, 1, 4, 5), -1);
    assert_int_equal(conv_shape_init(&s, 0, 3, 3, 1, 1, 4, 5), -1);
    assert_int_equal(conv_shape_init(&s, 2, 3, 5, 1, 2, 1, 1), 0); /* all padding but one */
    assert_int_equal(s.ho * s.wo, 1);
}

/* One image of the script's patterns through the shape, checked against PyTorch. */
static void check_pytorch_forward(int k, int stride, int pad, const float *want, size_t n)
{
    conv_case t;
    case_init(&t, 2, 3, k, stride, pad, 4, 5, 1, 1, 0);
    assert_int_equal(t.nout, n);
    for (size_t i = 0; i < t.nin; i++)
        t.x[i] = pat_x((int)i);
    for (size_t i = 0; i < t.nw; i++)
        t.W[i] = pat_w((int)i);
    memcpy(t.b, pat_b, sizeof pat_b);
    case_forward(&t, 0, 1);
    assert_all_close(t.out, want, n, 1e-6);
    case_free(&t);
}

static void conv2d_forward_matches_pytorch(void **state)
{
    (void)state;
    check_pytorch_forward(3, 1, 1, out_k3s1p1, 60);
    check_pytorch_forward(3, 2, 1, out_k3s2p1, 18);
    check_pytorch_forward(1, 1, 0, out_k1s1p0, 60);
    check_pytorch_forward(2, 2, 0, out_k2s2p0, 12);
}

static void conv2d_backward_matches_pytorch_and_accumulates(void **state)
{
    (void)state;
    conv_case t;
    case_init(&t, 2, 3, 3, 2, 1, 4, 5, 1, 1, 0);
    for (size_t i = 0; i < t.nin; i++) {
        t.x[i] = pat_x((int)i);
        t.din[i] = 99; /* overwritten, not added to */
    }
    for (size_t i = 0; i < t.nw; i++)
        t.W[i] = pat_w((int)i);
    for (size_t i = 0; i < t.nout; i++)
        t.dout[i] = pat_d((int)i);
    case_backward(&t, 0, 1);
    assert_all_close(t.din, din_k3s2p1, 40, 1e-6);
    assert_all_close(t.dW, dW_k3s2p1, 54, 1e-6);
    assert_all_close(t.db, db_k3s2p1, 3, 1e-6);
    case_backward(&t, 0, 1); /* dW and db add up; din does not */
    assert_all_close(t.din, din_k3s2p1, 40, 1e-6);
    for (int i = 0; i < 54; i++)
        assert_close(t.dW[i], 2 * dW_k3s2p1[i], 1e-6);
    for (int i = 0; i < 3; i++)
        assert_close(t.db[i], 2 * db_k3s2p1[i], 1e-6);
    case_free(&t);
}

/* cin, cout, k, stride, pad, h, w, N, chunk: strides 1, 2, 3; pads 0, 1, 2; kernels 1, 2,
 * 3, 5; the 1x1 shortcut and 1x1 with stride; chunks that divide the batch and that don't;
 * inputs so small that whole kernel rows fall in the padding. */
static const int shapes[][9] = {
    {2, 3, 3, 1, 1, 5, 6, 3, 1}, {2, 3, 3, 2, 1, 6, 5, 3, 2}, {2, 2, 1, 1, 0, 4, 5, 3, 2},
    {1, 2, 5, 1, 2, 6, 6, 2, 1}, {2, 3, 5, 2, 0, 7, 8, 3, 2}, {3, 2, 1, 2, 0, 5, 5, 2, 1},
    {2, 2, 3, 3, 1, 7, 7, 3, 2}, {2, 2, 2, 2, 1, 5, 5, 3, 2}, {2, 3, 3, 1, 0, 5, 5, 2, 2},
    {2, 2, 5, 1, 2, 2, 1, 2, 1}, {2, 3, 3, 2, 2, 3, 4, 3, 2}, /* kernel rows all padding */
};
enum { NSHAPES = sizeof shapes / sizeof shapes[0] };

static void shape_case(conv_case *t, int i)
{
    const int *p = shapes[i];
    case_init(t, p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], 100 + 10 * (uint64_t)i);
}

static void conv2d_forward_matches_direct_convolution(void **state)
{
    (void)state;
    for (int i = 0; i < NSHAPES; i++) {
        conv_case t;
        shape_case(&t, i);
        double *want = malloc(t.nout * sizeof *want);
        assert_non_null(want);
        conv_direct(want, &t);
        case_forward(&t, 0, t.N);
        for (size_t j = 0; j < t.nout; j++)
            if (fabs(t.out[j] - want[j]) > 1e-5)
                fail_msg("shape %d, output %zu: got %.8g, want %.8g", i, j, t.out[j], want[j]);
        free(want);
        case_free(&t);
    }
}

/* Every value of the images outside [n0, n1) of a CNHW tensor equals `v`. */
static void assert_untouched(const float *p, int C, int N, int plane, int n0, int n1, float v)
{
    for (int c = 0; c < C; c++)
        for (int n = 0; n < N; n++)
            for (int i = 0; i < plane && (n < n0 || n >= n1); i++)
                if (p[((size_t)c * N + n) * plane + i] != v)
                    fail_msg("channel %d image %d was written", c, n);
}

static void conv2d_split_batch_matches_one_call(void **state)
{
    (void)state;
    for (int i = 0; i < NSHAPES; i++) {
        conv_case whole, split;
        shape_case(&whole, i);
        shape_case(&split, i);
        split.chunk = 1;
        const conv_shape *s = &whole.s;
        const int N = whole.N, in_plane = s->h * s->w, out_plane = s->ho * s->wo;
        case_forward(&whole, 0, N);
        case_backward(&whole, 0, N);

        for (size_t j = 0; j < split.nout; j++)
            split.out[j] = -7;
        for (size_t j = 0; j < split.nin; j++)
            split.din[j] = -7;
        case_forward(&split, 1, N); /* the images [1, N) only */
        case_backward(&split, 1, N);
        assert_untouched(split.out, s->cout, N, out_plane, 1, N, -7);
        assert_untouched(split.din, s->cin, N, in_plane, 1, N, -7);
        case_forward(&split, 0, 1);
        case_backward(&split, 0, 1);

        assert_all_close(split.out, whole.out, whole.nout, 1e-6);
        assert_all_close(split.din, whole.din, whole.nin, 1e-6);
        assert_all_close(split.dW, whole.dW, whole.nw, 1e-5);
        assert_all_close(split.db, whole.db, (size_t)s->cout, 1e-5);
        case_free(&whole);
        case_free(&split);
    }
}

/* L = sum(out * R), R = the case's dout, in double. */
static double conv_loss(conv_case *t)
{
    case_forward(t, 0, t->N);
    double L = 0;
    for (size_t i = 0; i < t->nout; i++)
        L += (double)t->out[i] * t->dout[i];
    return L;
}

/* Central differences of conv_loss in each p[i] against grad[i]. L is linear in each
 * parameter, so the difference is exact but for float rounding. */
static void check_conv_gradient(conv_case *t, float *p, const float *grad, size_t n,
                                const char *what, int shape)
{
    const float h = 1e-2f;
    for (size_t i = 0; i < n; i++) {
        const float keep = p[i];
        p[i] = keep + h;
        double up = conv_loss(t);
        p[i] = keep - h;
        double down = conv_loss(t);
        p[i] = keep;
        double numeric = (up - down) / (2.0 * h);
        if (fabs(numeric - grad[i]) > 1e-3 * fmax(1.0, fabs(numeric)))
            fail_msg("shape %d, d%s[%zu]: analytic %.6f, numeric %.6f", shape, what, i,
                     grad[i], numeric);
    }
}

static void conv2d_gradients_match_finite_differences(void **state)
{
    (void)state;
    for (int i = 0; i < NSHAPES; i++) {
        conv_case t;
        shape_case(&t, i);
        case_backward(&t, 0, t.N);
        check_conv_gradient(&t, t.x, t.din, t.nin, "in", i);
        check_conv_gradient(&t, t.W, t.dW, t.nw, "W", i);
        check_conv_gradient(&t, t.b, t.db, (size_t)t.s.cout, "b", i);
        case_free(&t);
    }
}

static void conv2d_backward_without_din_or_db_skips_them(void **state)
{
    (void)state;
    conv_case a, b;
    shape_case(&a, 1);
    shape_case(&b, 1);
    case_backward(&a, 0, a.N);
    conv2d_backward(&b.s, NULL, b.dW, NULL, b.dout, b.x, b.W, b.N, 0, b.N, b.chunk, b.scratch);
    assert_all_close(b.dW, a.dW, a.nw, 1e-6);
    case_free(&a);
    case_free(&b);
}

/* Batch norm. */

enum { BC = 3, BM = 12 }; /* the script's shape: 3 channels of N = 2 images of 2 x 3 */
static const float bn_gamma[BC] = {1.5f, -0.5f, 0.75f}, bn_beta[BC] = {0.25f, 0, -1};

static void bn_script_input(float *x, float *dout)
{
    for (int i = 0; i < BC * BM; i++) {
        x[i] = (float)((i * 13) % 17 - 8) / 5 + (float)(i / 12);
        dout[i] = (float)((i * 5) % 7 - 3) / 4;
    }
}

static void batchnorm_train_matches_pytorch(void **state)
{
    (void)state;
    float x[BC * BM], dout[BC * BM], out[BC * BM], mean[BC], istd[BC];
    float run_mean[BC] = {0.1f, -0.2f, 0.3f}, run_var[BC] = {1, 0.5f, 2};
    float dgamma[BC] = {1, 1, 1}, dbeta[BC] = {1, 1, 1}; /* the backward pass adds to them */
    bn_script_input(x, dout);
    /* two calls over the channels [0, 1) and [1, 3), as two threads would */
    batchnorm_forward_train(out, x, bn_gamma, bn_beta, mean, istd, run_mean, run_var, BM, 0, 1,
                            0.1f, 1e-5f);
    batchnorm_forward_train(out, x, bn_gamma, bn_beta, mean, istd, run_mean, run_var, BM, 1, 3,
                            0.1f, 1e-5f);
    assert_all_close(out, bn_out, BC * BM, 1e-5);
    assert_all_close(run_mean, bn_run_mean, BC, 1e-6);
    assert_all_close(run_var, bn_run_var, BC, 1e-6);
    for (int c = 0; c < BC; c++) {
        double m = 0, v = 0;
        for (int i = 0; i < BM; i++)
            m += x[c * BM + i] / (double)BM;
        for (int i = 0; i < BM; i++)
            v += (x[c * BM + i] - m) * (x[c * BM + i] - m) / BM;
        assert_close(mean[c], m, 1e-6);
        assert_close(istd[c], 1 / sqrt(v + 1e-5), 1e-6);
    }
    batchnorm_backward(dout, dgamma, dbeta, dout, x, bn_gamma, mean, istd, BM, 0, BC);
    assert_all_close(dout, bn_dx, BC * BM, 1e-5); /* dx written over dout */
    for (int c = 0; c < BC; c++) {
        assert_close(dgamma[c], 1 + bn_dgamma[c], 1e-5);
        assert_close(dbeta[c], 1 + bn_dbeta[c], 1e-5);
    }
}

static void batchnorm_train_may_write_over_its_input(void **state)
{
    (void)state;
    float x[BC * BM], dout[BC * BM], mean[BC], istd[BC];
    bn_script_input(x, dout);
    batchnorm_forward_train(x, x, bn_gamma, bn_beta, mean, istd, NULL, NULL, BM, 0, BC, 0.1f,
                            1e-5f);
    assert_all_close(x, bn_out, BC * BM, 1e-5);
}

/* A channel far from zero with a small spread, over many values: float sums about zero
 * would lose the variance. */
static void batchnorm_keeps_precision_with_large_mean(void **state)
{
    (void)state;
    enum { M = 100003 };
    float *x = alloc_floats(M), mean, istd;
    const float gamma = 1, beta = 0;
    fill(x, M, 9);
    double m = 0, v = 0;
    for (int i = 0; i < M; i++) {
        x[i] = 1000 + x[i] / 64;
        m += x[i];
    }
    m /= M;
    for (int i = 0; i < M; i++)
        v += (x[i] - m) * (x[i] - m);
    v /= M;
    batchnorm_forward_train(x, x, &gamma, &beta, &mean, &istd, NULL, NULL, M, 0, 1, 0.1f, 0);
    assert_close(mean, m, 1e-7);
    assert_close(istd, 1 / sqrt(v), 1e-5);
    double s = 0, s2 = 0;
    for (int i = 0; i < M; i++) {
        s += x[i];
        s2 += (double)x[i] * x[i];
    }
    assert_close(s / M, 0, 1e-3);
    assert_close(s2 / M, 1, 1e-3);
    free(x);
}

enum { GC = 2, GM = 10 };

/* L = sum(batchnorm(x) * R) in training mode, in double. */
static double bn_loss(const float *x, const float *gamma, const float *beta, const float *R)
{
    float out[GC * GM], mean[GC], istd[GC];
    batchnorm_forward_train(out, x, gamma, beta, mean, istd, NULL, NULL, GM, 0, GC, 0.1f,
                            1e-5f);
    double L = 0;
    for (int i = 0; i < GC * GM; i++)
        L += (double)out[i] * R[i];
    return L;
}

static void check_bn_gradient(float *p, const float *grad, int n, const float *x,
                              const float *gamma, const float *beta, const float *R,
                              const char *what)
{
    const float h = 1e-2f;
    for (int i = 0; i < n; i++) {
        const float keep = p[i];
        p[i] = keep + h;
        double up = bn_loss(x, gamma, beta, R);
        p[i] = keep - h;
        double down = bn_loss(x, gamma, beta, R);
        p[i] = keep;
        double numeric = (up - down) / (2.0 * h);
        if (fabs(numeric - grad[i]) > 2e-3 * fmax(0.1, fabs(numeric)))
            fail_msg("d%s[%d]: analytic %.6f, numeric %.6f", what, i, grad[i], numeric);
    }
}

static void batchnorm_gradients_match_finite_differences(void **state)
{
    (void)state;
    float x[GC * GM], R[GC * GM], out[GC * GM], dx[GC * GM], mean[GC], istd[GC];
    float gamma[GC] = {1.3f, -0.7f}, beta[GC] = {0.2f, -0.4f}, dgamma[GC] = {0},
          dbeta[GC] = {0};
    fill(x, GC * GM, 21);
    fill(R, GC * GM, 22);
    for (int i = 0; i < GM; i++)
        x[GM + i] = 3 + 2 * x[GM + i]; /* a second channel with its own mean and spread */
    batchnorm_forward_train(out, x, gamma, beta, mean, istd, NULL, NULL, GM, 0, GC, 0.1f,
                            1e-5f);
    batchnorm_backward(dx, dgamma, dbeta, R, x, gamma, mean, istd, GM, 0, 1);
    batchnorm_backward(dx, dgamma, dbeta, R, x, gamma, mean, istd, GM, 1, GC);
    check_bn_gradient(x, dx, GC * GM, x, gamma, beta, R, "x");
    check_bn_gradient(gamma, dgamma, GC, x, gamma, beta, R, "gamma");
    check_bn_gradient(beta, dbeta, GC, x, gamma, beta, R, "beta");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(conv_shape_init_computes_output_size_and_rejects_empty),
        cmocka_unit_test(conv2d_forward_matches_pytorch),
        cmocka_unit_test(conv2d_backward_matches_pytorch_and_accumulates),
        cmocka_unit_test(conv2d_forward_matches_direct_convolution),
        cmocka_unit_test(conv2d_split_batch_matches_one_call),
        cmocka_unit_test(conv2d_gradients_match_finite_differences),
        cmocka_unit_test(conv2d_backward_without_din_or_db_skips_them),
        cmocka_unit_test(batchnorm_train_matches_pytorch),
        cmocka_unit_test(batchnorm_train_may_write_over_its_input),
        cmocka_unit_test(batchnorm_keeps_precision_with_large_mean),
        cmocka_unit_test(batchnorm_gradients_match_finite_differences),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
