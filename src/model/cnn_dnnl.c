#include "model/cnn_dnnl.h"

#include <math.h>
#include <stdint.h>
#include <oneapi/dnnl/dnnl.h>
#include <string.h>

#include "core/mem.h"
#include "model/cnn_int8.h"

/* OpenMP's own call (oneDNN runs on Debian's libgomp), declared here rather than through
 * omp.h, which not every compiler building this tree ships (clang without libomp). */
void omp_set_num_threads(int n);
int omp_get_max_threads(void);

/* Batch sizes whose primitives are kept: the training batch, the last short batch of an
 * epoch, the inference chunk, a server's single image. */
enum { PLANS = 4, MAX_ARGS = 12, MAX_MEMS = 32 * CNN_CONVS, MAX_STEPS = 8 * CNN_CONVS + 8 };

/* One primitive and the arguments it runs with. */
typedef struct step {
    dnnl_primitive_t p;
    dnnl_exec_arg_t args[MAX_ARGS];
    int nargs;
} step;

/* What one batch size runs: for training, forward and backward; for inference, the
 * convolutions with batch norm folded into their weights and bias and the ReLU fused. */
typedef struct plan {
    int n, training;
    dnnl_alg_kind_t alg[CNN_CONVS]; /* each convolution's: Winograd or direct */
    unsigned long used; /* the call count when last used: the least recent is replaced */
    step in;            /* the CNHW input into the first convolution's layout */
    step weights[CNN_CONVS], weights_bwd[CNN_CONVS]; /* plain to each convolution's layout */
    step conv[CNN_CONVS], norm[CNN_CONVS];           /* forward */
    step norm_bwd[CNN_CONVS], data_bwd[CNN_CONVS], weights_grad[CNN_CONVS], grad_out[CNN_CONVS];
    step pool, pool_out, pool_in, pool_bwd; /* pooling, and [n][feat] from and to it */
    /* memories over the caller's arrays, pointed at them on each call */
    dnnl_memory_t x, feat, dfeat;
    dnnl_memory_t wplain[CNN_CONVS], gamma[CNN_CONVS], beta[CNN_CONVS];
    dnnl_memory_t mem[MAX_MEMS]; /* every memory made, to free */
    int nmem;
    dnnl_memory_t scratch[MAX_STEPS]; /* those over the work area's scratchpad */
    int nscratch;
} plan;

/* A buffer the plans share, sized by the first that needs it (plan_for grows it when a
 * later one needs more), aligned to 64 bytes: oneDNN's kernels load and store whole
 * AVX-512 registers at aligned addresses. */
typedef struct buffer {
    void *raw, *p;
    size_t bytes;
} buffer;

static int buffer_alloc(buffer *b, size_t bytes)
{
    b->raw = mem_alloc(bytes + 64);
    b->p = b->raw ? (void *)(((uintptr_t)b->raw + 63) & ~(uintptr_t)63) : NULL;
    b->bytes = bytes;
    return b->p != NULL;
}

struct cnn_dnnl {
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    int cap, threads, training;
    int winograd; /* Winograd's convolutions where oneDNN has them */
    int int8;     /* inference of an int8 network (cnn.q) on its int8 kernels */
    int fast_only;  /* refuses oneDNN's reference code (for the first plan) */
    int slow;       /* a plan runs some */
    unsigned long calls;
    plan plans[PLANS];
    buffer xin;                                    /* the first convolution's input */
    buffer pre[CNN_CONVS], act[CNN_CONVS];         /* training: before and after bn + ReLU */
    buffer ws[CNN_CONVS], mean[CNN_CONVS], var[CNN_CONVS]; /* training: for the backward */
    buffer wfwd[CNN_CONVS], wbwd[CNN_CONVS];       /* weights in the convolutions' layouts */
    buffer dw, dgamma, dbeta;                      /* one layer's gradients */
    buffer scratch;            /* the primitives' scratchpad, one at a time */
    buffer pooled;             /* the pooled features in the blocked layout, or their gradient */
    buffer dbuf[2];            /* gradients flowing back; inference: alternating activations */
    buffer wfold, bias[CNN_CONVS], winf[CNN_CONVS]; /* inference: batch norm folded in */
    /* inference: the network and plan whose folded weights are in winf, kept across calls
     * in an inference work area (whose network does not change), made on every call in a
     * training one (validation between steps) */
    const cnn *folded;
    const plan *folded_plan;
};

int cnn_dnnl_slow(const cnn_dnnl *d) { return d->slow; }

/* the ISA values are sets of bits: every AVX-512 level has avx512_core's */
static int has_isa(unsigned want)
{
    return ((unsigned)dnnl_get_effective_cpu_isa() & want) == want;
}

int cnn_dnnl_fast(void) { return has_isa(dnnl_cpu_isa_avx512_core); }

int cnn_dnnl_int8_fast(void) { return has_isa(dnnl_cpu_isa_avx512_core_vnni); }

/* ---- building a plan ------------------------------------------------------------------ */

typedef struct builder {
    cnn_dnnl *d;
    plan *p;
    dnnl_primitive_attr_t attr; /* every primitive's: the scratchpad is ours (make_step) */
    int ok;
    buffer *grow; /* a buffer too small for this plan: plan_for grows it and starts over */
    size_t grow_bytes;
} builder;

static void *buffer_for(builder *b, buffer *buf, const dnnl_memory_desc_t *md)
{
    size_t bytes = dnnl_memory_desc_get_size(md);
    if (!b->ok)
        return NULL;
    if (!buf->p && !buffer_alloc(buf, bytes)) {
        b->ok = 0;
    } else if (bytes > buf->bytes) {
        b->ok = 0;
        b->grow = buf;
        b->grow_bytes = bytes;
    }
    return b->ok ? buf->p : NULL;
}

/* A memory over handle (DNNL_MEMORY_NONE: set on each call). */
static dnnl_memory_t memory(builder *b, const dnnl_memory_desc_t *md, void *handle)
{
    dnnl_memory_t m = NULL;
    if (!b->ok || b->p->nmem == MAX_MEMS ||
        dnnl_memory_create(&m, md, b->d->engine, handle) != dnnl_success) {
        b->ok = 0;
        return NULL;
    }
    b->p->mem[b->p->nmem++] = m;
    return m;
}

static dnnl_memory_t memory_in(builder *b, const dnnl_memory_desc_t *md, buffer *buf)
{
    void *h = buffer_for(b, buf, md);
    return b->ok ? memory(b, md, h) : NULL;
}

static const dnnl_memory_desc_t *md_of(const_dnnl_primitive_desc_t pd, dnnl_query_t what)
{
    return dnnl_primitive_desc_query_md(pd, what, 0);
}
static void arg(step *s, int kind, dnnl_memory_t m)
{
    s->args[s->nargs++] = (dnnl_exec_arg_t){kind, m};
}

/* The work area's scratchpad, grown to at least bytes; every plan's scratchpad memories
 * follow it. */
static void *scratch_for(builder *b, size_t bytes)
{
    cnn_dnnl *d = b->d;
    if (bytes > d->scratch.bytes) {
        buffer grown;
        if (!buffer_alloc(&grown, bytes)) {
            b->ok = 0;
            return NULL;
        }
        mem_free(d->scratch.raw);
        d->scratch = grown;
        for (int i = 0; i < PLANS; i++)
            for (int k = 0; k < d->plans[i].nscratch; k++)
                if (dnnl_memory_set_data_handle(d->plans[i].scratch[k], grown.p) !=
                    dnnl_success)
                    b->ok = 0;
    }
    return d->scratch.p;
}

/* The primitive of pd (destroyed here unless keep, for a hint to the backward ones), with
 * the scratchpad it asks for: oneDNN's own would be allocated behind mem_alloc's back and,
 * kept per thread, outlive the work area. */
static void make_step(builder *b, step *s, dnnl_primitive_desc_t pd, int keep)
{
    if (b->ok && (!pd || dnnl_primitive_create(&s->p, pd) != dnnl_success))
        b->ok = 0;
    /* oneDNN's reference code (where it has no kernel for a shape or layout, as for
     * channel counts that are not multiples of 16) runs a hundred times slower than
     * im2col: a work area that must be fast refuses it, and cnn.c takes im2col */
    const char *impl = NULL;
    if (b->ok && (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) !=
                      dnnl_success ||
                  !impl || strncmp(impl, "ref", 3) == 0)) {
        b->d->slow = 1;
        if (b->d->fast_only)
            b->ok = 0;
    }
    const dnnl_memory_desc_t *md = b->ok ? md_of(pd, dnnl_query_scratchpad_md) : NULL;
    size_t bytes = md ? dnnl_memory_desc_get_size(md) : 0;
    if (bytes) {
        void *h = scratch_for(b, bytes);
        dnnl_memory_t m = b->ok ? memory(b, md, h) : NULL;
        if (m && b->p->nscratch < MAX_STEPS) {
            b->p->scratch[b->p->nscratch++] = m;
            arg(s, DNNL_ARG_SCRATCHPAD, m);
        } else {
            b->ok = 0;
        }
    }
    if (pd && !keep)
        dnnl_primitive_desc_destroy(pd);
}

static dnnl_primitive_desc_t pd_of(builder *b, const void *desc,
                                   const_dnnl_primitive_attr_t attr,
                                   const_dnnl_primitive_desc_t hint)
{
    dnnl_primitive_desc_t pd = NULL;
    if (b->ok && dnnl_primitive_desc_create(&pd, desc, attr, b->d->engine, hint) != dnnl_success)
        b->ok = 0;
    return b->ok ? pd : NULL;
}


/* A reorder, its values multiplied by scale on the way (1: as they are). */
static void reorder_scaled(builder *b, step *s, dnnl_memory_t from, dnnl_memory_t to,
                           float scale)
{
    if (!b->ok)
        return;
    const dnnl_memory_desc_t *fmd, *tmd;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_memory_get_memory_desc(from, &fmd);
    dnnl_memory_get_memory_desc(to, &tmd);
    if (scale != 1 && (dnnl_primitive_attr_clone(&attr, b->attr) != dnnl_success ||
                       dnnl_primitive_attr_set_output_scales(attr, 1, 0, &scale) != dnnl_success))
        b->ok = 0;
    else if (dnnl_reorder_primitive_desc_create(&pd, fmd, b->d->engine, tmd, b->d->engine,
                                                attr ? attr : b->attr) != dnnl_success)
        pd = NULL;
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    make_step(b, s, pd, 0);
    arg(s, DNNL_ARG_FROM, from);
    arg(s, DNNL_ARG_TO, to);
}

static void reorder(builder *b, step *s, dnnl_memory_t from, dnnl_memory_t to)
{
    reorder_scaled(b, s, from, to, 1);
}

static void desc_of(builder *b, dnnl_memory_desc_t *md, int ndims, const dnnl_dims_t dims,
                    dnnl_data_type_t type, dnnl_format_tag_t tag)
{
    if (b->ok && dnnl_memory_desc_init_by_tag(md, ndims, dims, type, tag) != dnnl_success)
        b->ok = 0;
}

static void desc(builder *b, dnnl_memory_desc_t *md, int ndims, const dnnl_dims_t dims,
                 dnnl_format_tag_t tag)
{
    desc_of(b, md, ndims, dims, dnnl_f32, tag);
}

/* An int8 convolution's output scale per channel (into out), which oneDNN 2 applies to the
 * s32 sum and bias: the input's step times the weights', over the output's step (u8), or
 * alone for the last convolution, whose output stays float for the pooling. */
static void int8_scales(const cnn *c, int l, float *out)
{
    const cnn_int8 *q = c->q;
    float to = l + 1 < CNN_CONVS ? q->act[l + 1] : 1;
    for (int ch = 0; ch < c->conv[l].cout; ch++)
        out[ch] = q->act[l] * q->scale[c->chan_off[l] + (size_t)ch] / to;
}

/* Convolution l's forward step (inference: with the folded bias and the ReLU) and its
 * weights' reorder; returns its primitive descriptor for the backward ones. */
static dnnl_primitive_desc_t build_conv(builder *b, const cnn *c, int l,
                                        const dnnl_memory_desc_t *src, dnnl_memory_desc_t *dst)
{
    cnn_dnnl *d = b->d;
    plan *p = b->p;
    const conv_shape *s = &c->conv[l];
    int n = p->n;
    dnnl_dims_t wd = {s->cout, s->cin, s->k, s->k}, dd = {n, s->cout, s->ho, s->wo},
                bd = {s->cout}, strides = {s->stride, s->stride}, pad = {s->pad, s->pad};
    dnnl_memory_desc_t wany, dany, bmd, wplain;
    /* int8: s8 weights; u8 outputs after the ReLU but the last, which the pooling reads */
    dnnl_data_type_t wtype = d->int8 ? dnnl_s8 : dnnl_f32,
                     dtype = !d->int8 || l == CNN_CONVS - 1 ? dnnl_f32 : dnnl_u8;
    desc_of(b, &wany, 4, wd, wtype, dnnl_format_tag_any);
    desc_of(b, &dany, 4, dd, dtype, dnnl_format_tag_any);
    desc(b, &bmd, 1, bd, dnnl_x);
    desc_of(b, &wplain, 4, wd, wtype, dnnl_oihw);
    if (!b->ok)
        return NULL;
    dnnl_convolution_desc_t cd;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t ops = NULL;
    if (!p->training &&
        (dnnl_primitive_attr_clone(&attr, b->attr) != dnnl_success ||
         dnnl_post_ops_create(&ops) != dnnl_success ||
         dnnl_post_ops_append_eltwise(ops, 1.0f, dnnl_eltwise_relu, 0, 0) != dnnl_success ||
         dnnl_primitive_attr_set_post_ops(attr, ops) != dnnl_success))
        b->ok = 0;
    if (b->ok && d->int8) {
        float scales[CNN_MAX_WIDTH * 8];
        int8_scales(c, l, scales);
        if (dnnl_primitive_attr_set_output_scales(attr, s->cout, 1 << 1, scales) !=
            dnnl_success)
            b->ok = 0;
    }
    /* Winograd where oneDNN has it (stride 1, 3x3, enough channels), else direct */
    dnnl_primitive_desc_t pd = NULL;
    p->alg[l] = d->winograd && !d->int8 && s->stride == 1 && s->k == 3 && s->cin >= 16
                    ? dnnl_convolution_winograd
                    : dnnl_convolution_direct;
    for (;;) {
        if (b->ok && dnnl_convolution_forward_desc_init(
                         &cd, p->training ? dnnl_forward_training : dnnl_forward_inference,
                         p->alg[l], src, &wany, p->training ? NULL : &bmd, &dany, strides,
                         pad, pad) != dnnl_success)
            b->ok = 0;
        if (!b->ok || dnnl_primitive_desc_create(&pd, &cd, attr ? attr : b->attr, d->engine,
                                                 NULL) ==
                          dnnl_success)
            break;
        pd = NULL;
        if (p->alg[l] == dnnl_convolution_direct) {
            b->ok = 0;
            break;
        }
        p->alg[l] = dnnl_convolution_direct;
    }
    if (ops)
        dnnl_post_ops_destroy(ops);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    if (!b->ok)
        return NULL;
    *dst = *md_of(pd, dnnl_query_dst_md);
    step *conv = &p->conv[l];
    make_step(b, conv, pd, 1);
    dnnl_memory_t w;
    if (p->training) {
        p->wplain[l] = memory(b, &wplain, DNNL_MEMORY_NONE);
        w = memory_in(b, md_of(pd, dnnl_query_weights_md), &d->wfwd[l]);
        arg(conv, DNNL_ARG_DST, memory_in(b, dst, &d->pre[l]));
    } else {
        p->wplain[l] = memory(b, &wplain, DNNL_MEMORY_NONE);
        w = memory_in(b, md_of(pd, dnnl_query_weights_md), &d->winf[l]);
        arg(conv, DNNL_ARG_BIAS, memory_in(b, &bmd, &d->bias[l]));
        arg(conv, DNNL_ARG_DST, memory_in(b, dst, &d->dbuf[l & 1]));
    }
    arg(conv, DNNL_ARG_WEIGHTS, w);
    reorder(b, &p->weights[l], p->wplain[l], w);
    return pd;
}

/* Batch norm with the ReLU fused (training): forward and backward over pre[l]. */
static void build_norm(builder *b, int l, const dnnl_memory_desc_t *dst, int C)
{
    cnn_dnnl *d = b->d;
    plan *p = b->p;
    unsigned flags = dnnl_use_scale | dnnl_use_shift | dnnl_fuse_norm_relu;
    dnnl_batch_normalization_desc_t fd, bd;
    dnnl_dims_t cd = {C};
    dnnl_memory_desc_t cmd;
    desc(b, &cmd, 1, cd, dnnl_x);
    if (!b->ok || dnnl_batch_normalization_forward_desc_init(&fd, dnnl_forward_training, dst,
                                                             CNN_BN_EPS, flags) != dnnl_success ||
        dnnl_batch_normalization_backward_desc_init(&bd, dnnl_backward, dst, dst, CNN_BN_EPS,
                                                    flags) != dnnl_success) {
        b->ok = 0;
        return;
    }
    dnnl_primitive_desc_t fpd = pd_of(b, &fd, b->attr, NULL);
    dnnl_primitive_desc_t bpd = pd_of(b, &bd, b->attr, fpd);
    if (!b->ok) {
        if (fpd)
            dnnl_primitive_desc_destroy(fpd);
        return;
    }
    dnnl_memory_t pre = memory_in(b, dst, &d->pre[l]), act = memory_in(b, dst, &d->act[l]),
                  ws = memory_in(b, md_of(fpd, dnnl_query_workspace_md), &d->ws[l]),
                  mean = memory_in(b, &cmd, &d->mean[l]), var = memory_in(b, &cmd, &d->var[l]);
    p->gamma[l] = memory(b, &cmd, DNNL_MEMORY_NONE);
    p->beta[l] = memory(b, &cmd, DNNL_MEMORY_NONE);
    step *f = &p->norm[l], *g = &p->norm_bwd[l];
    make_step(b, f, fpd, 0);
    arg(f, DNNL_ARG_SRC, pre);
    arg(f, DNNL_ARG_DST, act);
    arg(f, DNNL_ARG_MEAN, mean);
    arg(f, DNNL_ARG_VARIANCE, var);
    arg(f, DNNL_ARG_SCALE, p->gamma[l]);
    arg(f, DNNL_ARG_SHIFT, p->beta[l]);
    arg(f, DNNL_ARG_WORKSPACE, ws);
    /* the gradient of act comes in dbuf[(l + 1) & 1] and leaves there, in place */
    dnnl_memory_t dact = memory_in(b, dst, &d->dbuf[(l + 1) & 1]);
    make_step(b, g, bpd, 0);
    arg(g, DNNL_ARG_SRC, pre);
    arg(g, DNNL_ARG_MEAN, mean);
    arg(g, DNNL_ARG_VARIANCE, var);
    arg(g, DNNL_ARG_SCALE, p->gamma[l]);
    arg(g, DNNL_ARG_SHIFT, p->beta[l]); /* oneDNN 2.6 asks for it, though unused */
    arg(g, DNNL_ARG_WORKSPACE, ws);
    arg(g, DNNL_ARG_DIFF_DST, dact);
    arg(g, DNNL_ARG_DIFF_SRC, dact);
    arg(g, DNNL_ARG_DIFF_SCALE, memory_in(b, &cmd, &d->dgamma));
    arg(g, DNNL_ARG_DIFF_SHIFT, memory_in(b, &cmd, &d->dbeta));
}

/* Convolution l's backward steps: to its weights (then to the plain layout) and, past the
 * first, to its input. src is the input's memory in the forward pass. */
/* A backward convolution's descriptor (to the weights, or to the data) in l's algorithm, or
 * direct where oneDNN has no Winograd kernel for it: the same convolution either way. */
static dnnl_primitive_desc_t conv_bwd_pd(builder *b, int l, int to_weights,
                                         const dnnl_memory_desc_t *src,
                                         const dnnl_memory_desc_t *wany,
                                         const dnnl_memory_desc_t *dst, const dnnl_dims_t strides,
                                         const dnnl_dims_t pad, const_dnnl_primitive_desc_t fpd)
{
    for (dnnl_alg_kind_t alg = b->p->alg[l]; b->ok; alg = dnnl_convolution_direct) {
        dnnl_convolution_desc_t cd;
        dnnl_primitive_desc_t pd = NULL;
        dnnl_status_t st = to_weights ? dnnl_convolution_backward_weights_desc_init(
                                            &cd, alg, src, wany, NULL, dst, strides, pad, pad)
                                      : dnnl_convolution_backward_data_desc_init(
                                            &cd, alg, src, wany, dst, strides, pad, pad);
        if (st == dnnl_success &&
            dnnl_primitive_desc_create(&pd, &cd, b->attr, b->d->engine, fpd) == dnnl_success)
            return pd;
        if (alg == dnnl_convolution_direct)
            b->ok = 0;
    }
    return NULL;
}

static void build_conv_bwd(builder *b, const cnn *c, int l, dnnl_primitive_desc_t fpd,
                           dnnl_memory_t src, const dnnl_memory_desc_t *src_md,
                           const dnnl_memory_desc_t *dst)
{
    cnn_dnnl *d = b->d;
    plan *p = b->p;
    const conv_shape *s = &c->conv[l];
    dnnl_dims_t wd = {s->cout, s->cin, s->k, s->k}, strides = {s->stride, s->stride},
                pad = {s->pad, s->pad};
    dnnl_memory_desc_t wany, wplain;
    desc(b, &wany, 4, wd, dnnl_format_tag_any);
    desc(b, &wplain, 4, wd, dnnl_oihw);
    dnnl_primitive_desc_t wpd = conv_bwd_pd(b, l, 1, src_md, &wany, dst, strides, pad, fpd);
    if (!b->ok)
        return;
    dnnl_memory_t dact = memory_in(b, dst, &d->dbuf[(l + 1) & 1]);
    dnnl_memory_t dw = memory_in(b, md_of(wpd, dnnl_query_diff_weights_md), &d->dw);
    step *g = &p->weights_grad[l];
    make_step(b, g, wpd, 0);
    arg(g, DNNL_ARG_SRC, src);
    arg(g, DNNL_ARG_DIFF_DST, dact);
    arg(g, DNNL_ARG_DIFF_WEIGHTS, dw);
    /* back to the plain layout in wfold, as large as the largest layer's weights */
    reorder(b, &p->grad_out[l], dw, memory_in(b, &wplain, &d->wfold));
    if (l == 0)
        return;
    dnnl_primitive_desc_t dpd = conv_bwd_pd(b, l, 0, src_md, &wany, dst, strides, pad, fpd);
    if (!b->ok)
        return;
    const dnnl_memory_desc_t *wmd = md_of(dpd, dnnl_query_weights_md);
    dnnl_memory_t w;
    const dnnl_memory_desc_t *fwd_wmd = md_of(fpd, dnnl_query_weights_md);
    if (dnnl_memory_desc_equal(wmd, fwd_wmd)) {
        w = memory_in(b, wmd, &d->wfwd[l]);
    } else {
        w = memory_in(b, wmd, &d->wbwd[l]);
        reorder(b, &p->weights_bwd[l], p->wplain[l], w);
    }
    step *dd = &p->data_bwd[l];
    make_step(b, dd, dpd, 0);
    arg(dd, DNNL_ARG_DIFF_DST, dact);
    arg(dd, DNNL_ARG_WEIGHTS, w);
    arg(dd, DNNL_ARG_DIFF_SRC, memory_in(b, src_md, &d->dbuf[l & 1]));
}

/* Global average pooling of the last layer into [n][feat], and its backward. */
static void build_pool(builder *b, const cnn *c, const dnnl_memory_desc_t *last, void *src)
{
    cnn_dnnl *d = b->d;
    plan *p = b->p;
    const conv_shape *s = &c->conv[CNN_CONVS - 1];
    dnnl_dims_t fd = {p->n, c->feat, 1, 1}, k = {s->ho, s->wo}, zero = {0, 0};
    dnnl_memory_desc_t fmd, pany;
    desc(b, &fmd, 4, fd, dnnl_nchw);
    /* pooled in the blocked layout (a plain output sends oneDNN to its reference code),
     * then reordered to and from [n][feat] */
    desc(b, &pany, 4, fd, dnnl_format_tag_any);
    dnnl_pooling_v2_desc_t pdsc, bdsc;
    if (!b->ok ||
        dnnl_pooling_v2_forward_desc_init(&pdsc, p->training ? dnnl_forward_training
                                                             : dnnl_forward_inference,
                                          dnnl_pooling_avg, last, &pany, k, k, zero, zero,
                                          zero) != dnnl_success) {
        b->ok = 0;
        return;
    }
    dnnl_primitive_desc_t fpd = pd_of(b, &pdsc, b->attr, NULL);
    if (!b->ok)
        return;
    p->feat = memory(b, &fmd, DNNL_MEMORY_NONE);
    dnnl_memory_t pooled = memory_in(b, md_of(fpd, dnnl_query_dst_md), &d->pooled);
    make_step(b, &p->pool, fpd, 1);
    arg(&p->pool, DNNL_ARG_SRC, memory(b, last, src));
    arg(&p->pool, DNNL_ARG_DST, pooled);
    reorder(b, &p->pool_out, pooled, p->feat);
    if (p->training) {
        if (dnnl_pooling_v2_backward_desc_init(&bdsc, dnnl_pooling_avg, last, &pany, k, k,
                                               zero, zero, zero) != dnnl_success)
            b->ok = 0;
        dnnl_primitive_desc_t bpd = pd_of(b, &bdsc, b->attr, fpd);
        p->dfeat = memory(b, &fmd, DNNL_MEMORY_NONE);
        dnnl_memory_t dpooled =
            b->ok ? memory_in(b, md_of(bpd, dnnl_query_diff_dst_md), &d->pooled) : NULL;
        reorder(b, &p->pool_in, p->dfeat, dpooled);
        make_step(b, &p->pool_bwd, bpd, 0);
        arg(&p->pool_bwd, DNNL_ARG_DIFF_DST, dpooled);
        arg(&p->pool_bwd, DNNL_ARG_DIFF_SRC,
            memory_in(b, last, &d->dbuf[CNN_CONVS & 1]));
    }
    dnnl_primitive_desc_destroy(fpd);
}

static void plan_free(plan *p)
{
    step *all[] = {&p->in, &p->pool, &p->pool_out, &p->pool_in, &p->pool_bwd};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        if (all[i]->p)
            dnnl_primitive_destroy(all[i]->p);
    for (int l = 0; l < CNN_CONVS; l++) {
        step *ls[] = {&p->weights[l], &p->weights_bwd[l], &p->conv[l], &p->norm[l],
                      &p->norm_bwd[l], &p->data_bwd[l], &p->weights_grad[l], &p->grad_out[l]};
        for (size_t i = 0; i < sizeof ls / sizeof *ls; i++)
            if (ls[i]->p)
                dnnl_primitive_destroy(ls[i]->p);
    }
    for (int i = 0; i < p->nmem; i++)
        dnnl_memory_destroy(p->mem[i]);
    memset(p, 0, sizeof *p);
}

/* 0; -1 when oneDNN cannot make it or memory runs out; 1 when *grow must first grow to
 * *grow_bytes. */
static int build_plan(cnn_dnnl *d, plan *p, const cnn *c, int n, int training, buffer **grow,
                      size_t *grow_bytes)
{
    memset(p, 0, sizeof *p);
    p->n = n;
    p->training = training;
    builder b = {d, p, NULL, 1, NULL, 0};
    if (dnnl_primitive_attr_create(&b.attr) != dnnl_success ||
        dnnl_primitive_attr_set_scratchpad_mode(b.attr, dnnl_scratchpad_mode_user) !=
            dnnl_success)
        b.ok = 0;
    int S = c->size;
    /* the input as cnn.c lays it out: channel-major, [3][n][S][S] */
    dnnl_dims_t xd = {n, 3, S, S}, xs = {(dnnl_dim_t)S * S, (dnnl_dim_t)n * S * S, S, 1};
    dnnl_memory_desc_t xmd, any, mds[CNN_CONVS];
    if (dnnl_memory_desc_init_by_strides(&xmd, 4, xd, dnnl_f32, xs) != dnnl_success)
        b.ok = 0;
    /* int8: the image quantized (s8) on its way into the first convolution's layout */
    desc_of(&b, &any, 4, xd, d->int8 ? dnnl_s8 : dnnl_f32, dnnl_format_tag_any);
    dnnl_memory_t srcs[CNN_CONVS] = {0};
    for (int l = 0; l < CNN_CONVS && b.ok; l++) {
        const dnnl_memory_desc_t *src = l ? &mds[l - 1] : &any;
        dnnl_primitive_desc_t fpd = build_conv(&b, c, l, src, &mds[l]);
        if (!b.ok) {
            if (fpd)
                dnnl_primitive_desc_destroy(fpd);
            break;
        }
        step *conv = &p->conv[l];
        dnnl_memory_desc_t src_md = *md_of(fpd, dnnl_query_src_md);
        if (l == 0) {
            p->x = memory(&b, &xmd, DNNL_MEMORY_NONE);
            srcs[0] = memory_in(&b, &src_md, &d->xin);
            reorder_scaled(&b, &p->in, p->x, srcs[0], d->int8 ? 1 / c->q->act[0] : 1);
        } else if (p->training) {
            srcs[l] = memory_in(&b, &src_md, &d->act[l - 1]);
        } else {
            srcs[l] = memory_in(&b, &src_md, &d->dbuf[(l - 1) & 1]);
        }
        arg(conv, DNNL_ARG_SRC, srcs[l]);
        if (p->training) {
            build_norm(&b, l, &mds[l], c->conv[l].cout);
            build_conv_bwd(&b, c, l, fpd, srcs[l], &src_md, &mds[l]);
        }
        dnnl_primitive_desc_destroy(fpd);
    }
    if (b.ok)
        build_pool(&b, c, &mds[CNN_CONVS - 1],
                   p->training ? d->act[CNN_CONVS - 1].p : d->dbuf[(CNN_CONVS - 1) & 1].p);
    if (b.attr)
        dnnl_primitive_attr_destroy(b.attr);
    if (!b.ok)
        plan_free(p);
    *grow = b.grow;
    *grow_bytes = b.grow_bytes;
    return b.ok ? 0 : b.grow ? 1 : -1;
}

/* The plan for n images, for training or inference, made (in place of the least recently
 * used) when missing. */
static plan *plan_for(cnn_dnnl *d, const cnn *c, int n, int training)
{
    plan *oldest = &d->plans[0];
    if (n < 1 || n > d->cap || (training && !d->training))
        return NULL;
    d->calls++;
    for (int i = 0; i < PLANS; i++) {
        plan *p = &d->plans[i];
        if (p->n == n && p->training == training) {
            p->used = d->calls;
            return p;
        }
        if (p->used < oldest->used)
            oldest = p;
    }
    if (oldest == d->folded_plan)
        d->folded_plan = NULL;
    plan_free(oldest);
    buffer *grow;
    size_t bytes;
    int r;
    /* a buffer sized by an earlier plan may be too small for this one (its layouts can
     * change with the batch size): the plans over it go, and it grows */
    for (int tries = 0; (r = build_plan(d, oldest, c, n, training, &grow, &bytes)) == 1 &&
                        tries < 8;
         tries++) {
        for (int i = 0; i < PLANS; i++)
            plan_free(&d->plans[i]);
        d->folded_plan = NULL;
        mem_free(grow->raw);
        if (!buffer_alloc(grow, bytes))
            return NULL;
    }
    if (r)
        return NULL;
    oldest->used = d->calls;
    return oldest;
}

/* ---- the work area -------------------------------------------------------------------- */

void cnn_dnnl_free(cnn_dnnl *d)
{
    if (!d)
        return;
    for (int i = 0; i < PLANS; i++)
        plan_free(&d->plans[i]);
    buffer *bufs[] = {&d->scratch, &d->xin,     &d->pooled,  &d->dw,   &d->dgamma,
                      &d->dbeta,   &d->dbuf[0], &d->dbuf[1], &d->wfold};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        mem_free(bufs[i]->raw);
    for (int l = 0; l < CNN_CONVS; l++) {
        buffer *ls[] = {&d->pre[l], &d->act[l], &d->ws[l], &d->mean[l], &d->var[l],
                        &d->wfwd[l], &d->wbwd[l], &d->bias[l], &d->winf[l]};
        for (size_t i = 0; i < sizeof ls / sizeof *ls; i++)
            mem_free(ls[i]->raw);
    }
    if (d->stream)
        dnnl_stream_destroy(d->stream);
    if (d->engine)
        dnnl_engine_destroy(d->engine);
    mem_free(d);
}

static size_t round16(int n) { return (size_t)(n + 15) / 16 * 16; }

/* The largest layer's weights, plain or (blocked) with both channel counts padded to 16,
 * so that one buffer serves every layer's folding and gradient (the first layer, which
 * sizes buffers, is the smallest). */
static size_t largest_weights(const cnn *c, int blocked)
{
    size_t most = 0;
    for (int l = 0; l < CNN_CONVS; l++) {
        const conv_shape *s = &c->conv[l];
        size_t w = (blocked ? round16(s->cout) * round16(s->cin)
                            : (size_t)s->cout * s->cin) * s->k * s->k;
        most = w > most ? w : most;
    }
    return most;
}

/* dbuf also serves as the alternating activations of inference: as large as the largest
 * layer's output, which is not the first layer's in the blocked layout when the stem has
 * few channels; so both are made for the largest of each layer's blocked output. */
static size_t largest_output(const cnn *c, int cap)
{
    size_t most = 0;
    for (int l = 0; l < CNN_CONVS; l++) {
        const conv_shape *s = &c->conv[l];
        size_t f = (size_t)cap * round16(s->cout) * s->ho * s->wo;
        most = f > most ? f : most;
    }
    return most;
}

/* oneDNN takes the OpenMP thread count when it makes a primitive and when it runs one: the
 * work area's, set for each call and the caller's given back after (returned here). */
static int enter(const cnn_dnnl *d)
{
    int was = omp_get_max_threads();
    omp_set_num_threads(d->threads);
    return was;
}

cnn_dnnl *cnn_dnnl_new(const cnn *c, int cap, int threads, int training, int winograd,
                       int fast_only, int int8)
{
    if (int8 && (training || !c->q))
        return NULL;
    cnn_dnnl *d = mem_calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->cap = cap;
    d->threads = threads;
    d->training = training;
    d->winograd = winograd;
    d->fast_only = fast_only;
    d->int8 = int8;
    size_t wbytes = largest_weights(c, 0) * sizeof(float),
           dwbytes = largest_weights(c, 1) * sizeof(float),
           obytes = largest_output(c, cap) * sizeof(float),
           cbytes = (size_t)c->feat * sizeof(float), /* the last layer has the most channels */
           pbytes = round16(c->feat) * sizeof(float);
    /* the input in any layout oneDNN may pick, its 3 channels padded to a block of 16 */
    size_t xbytes = (size_t)cap * 16 * (size_t)c->size * c->size * sizeof(float);
    int ok = buffer_alloc(&d->xin, xbytes) && buffer_alloc(&d->wfold, wbytes) &&
             buffer_alloc(&d->dw, dwbytes) && buffer_alloc(&d->dgamma, cbytes) &&
             buffer_alloc(&d->dbeta, cbytes) && buffer_alloc(&d->pooled, cap * pbytes) &&
             buffer_alloc(&d->dbuf[0], obytes) && buffer_alloc(&d->dbuf[1], obytes);
    if (ok && (dnnl_engine_create(&d->engine, dnnl_cpu, 0) != dnnl_success ||
               dnnl_stream_create(&d->stream, d->engine, dnnl_stream_default_flags) !=
                   dnnl_success))
        ok = 0;
    if (ok) {
        int was = enter(d);
        ok = plan_for(d, c, cap, training) != NULL;
        omp_set_num_threads(was);
    }
    if (!ok) {
        cnn_dnnl_free(d);
        return NULL;
    }
    /* the first plan decides the path; a later batch size (a short last batch, one
     * image) that oneDNN serves only with its reference code runs slowly, not fails */
    d->fast_only = 0;
    return d;
}

double cnn_dnnl_bytes(const cnn *c, int cap, int training)
{
    double out = (double)largest_output(c, cap), acts = 0, weights = 0;
    for (int l = 0; l < CNN_CONVS; l++) {
        const conv_shape *s = &c->conv[l];
        acts += (double)cap * round16(s->cout) * s->ho * s->wo;
        weights += (double)(round16(s->cout) * round16(s->cin)) * s->k * s->k;
    }
    /* training: pre and act per layer and a byte of workspace per value, the weights for
     * the forward and the backward pass; both: the folded weights, dbuf, wfold, xin */
    double floats = (training ? 2.25 * acts + 2 * weights : 0) + weights + 2 * out +
                    (double)(largest_weights(c, 0) + largest_weights(c, 1)) +
                    16.0 * cap * c->size * c->size;
    return 4 * floats;
}

/* ---- running ----------------------------------------------------------------------------- */

static int run(cnn_dnnl *d, const step *s)
{
    return dnnl_primitive_execute(s->p, d->stream, s->nargs, s->args) == dnnl_success ? 0 : -1;
}

/* The plan's memories over the caller's arrays for this call; 0, or -1. */
static int point(dnnl_memory_t m, const void *p)
{
    return !m || dnnl_memory_set_data_handle(m, (void *)p) == dnnl_success ? 0 : -1;
}

static plan *start(cnn_dnnl *d, const cnn *c, const float *x, int n, float *feat,
                   int training)
{
    plan *p = plan_for(d, c, n, training);
    return p && !point(p->x, x) && !point(p->feat, feat) ? p : NULL;
}


static int forward_train(cnn_dnnl *d, cnn *c, const float *x, int n, float *feat)
{
    plan *p = start(d, c, x, n, feat, 1);
    if (!p || run(d, &p->in))
        return -1;
    for (int l = 0; l < CNN_CONVS; l++)
        if (point(p->wplain[l], c->params + c->w_off[l]) ||
            point(p->gamma[l], c->params + c->gamma_off[l]) ||
            point(p->beta[l], c->params + c->beta_off[l]) || run(d, &p->weights[l]) ||
            run(d, &p->conv[l]) || run(d, &p->norm[l]) ||
            (p->weights_bwd[l].p && run(d, &p->weights_bwd[l])))
            return -1;
    if (run(d, &p->pool) || run(d, &p->pool_out))
        return -1;
    /* the running statistics as PyTorch's (the variance unbiased), once the step went */
    for (int l = 0; l < CNN_CONVS; l++) {
        const conv_shape *s = &c->conv[l];
        double M = (double)n * s->ho * s->wo;
        const float *mean = d->mean[l].p, *var = d->var[l].p;
        float *rm = c->stats + c->mean_off[l], *rv = c->stats + c->var_off[l];
        for (int ch = 0; ch < s->cout; ch++) {
            double unbiased = M > 1 ? var[ch] * M / (M - 1) : var[ch];
            rm[ch] = (1 - CNN_BN_MOMENTUM) * rm[ch] + CNN_BN_MOMENTUM * mean[ch];
            rv[ch] = (1 - CNN_BN_MOMENTUM) * rv[ch] + CNN_BN_MOMENTUM * (float)unbiased;
        }
    }
    return 0;
}

static void add(float *to, const float *from, size_t n)
{
    for (size_t i = 0; i < n; i++)
        to[i] += from[i];
}

static int backward(cnn_dnnl *d, const cnn *c, const float *dfeat, int n, float *grads)
{
    plan *p = start(d, c, NULL, n, NULL, 1);
    if (!p || point(p->dfeat, dfeat) || run(d, &p->pool_in) || run(d, &p->pool_bwd))
        return -1;
    for (int l = CNN_CONVS - 1; l >= 0; l--) {
        const conv_shape *s = &c->conv[l];
        if (run(d, &p->norm_bwd[l]) || run(d, &p->weights_grad[l]) ||
            run(d, &p->grad_out[l]) || (l && run(d, &p->data_bwd[l])))
            return -1;
        add(grads + c->w_off[l], d->wfold.p, (size_t)s->cout * s->cin * s->k * s->k);
        add(grads + c->gamma_off[l], d->dgamma.p, (size_t)s->cout);
        add(grads + c->beta_off[l], d->dbeta.p, (size_t)s->cout);
    }
    return 0;
}

/* An int8 network's codes into each convolution's layout (oneDNN adds what its kernels need
 * for an s8 input), and the biases in the units of the s32 sums they join. */
static int load_int8(cnn_dnnl *d, plan *p, const cnn *c)
{
    const cnn_int8 *q = c->q;
    for (int l = 0; l < CNN_CONVS; l++) {
        float *bias = d->bias[l].p;
        for (int ch = 0; ch < c->conv[l].cout; ch++) {
            size_t at = c->chan_off[l] + (size_t)ch;
            bias[ch] = q->bias[at] / (q->act[l] * q->scale[at]);
        }
        if (point(p->wplain[l], q->codes + q->code_off[l]) || run(d, &p->weights[l]))
            return -1;
    }
    return 0;
}

/* Batch norm's fixed affine map folded into each convolution: weights scaled per output
 * channel, the shift as a bias; then into each convolution's layout. */
static int fold(cnn_dnnl *d, plan *p, const cnn *c)
{
    if (d->int8)
        return load_int8(d, p, c);
    for (int l = 0; l < CNN_CONVS; l++) {
        const conv_shape *s = &c->conv[l];
        size_t per = (size_t)s->cin * s->k * s->k;
        float *w = d->wfold.p, *bias = d->bias[l].p;
        const float *from = c->params + c->w_off[l];
        for (int ch = 0; ch < s->cout; ch++) {
            float scale;
            cnn_bn_affine(c, l, ch, &scale, &bias[ch]);
            for (size_t i = 0; i < per; i++)
                w[ch * per + i] = from[ch * per + i] * scale;
        }
        if (point(p->wplain[l], w) || run(d, &p->weights[l]))
            return -1;
    }
    return 0;
}

static int forward_infer(cnn_dnnl *d, const cnn *c, const float *x, int n, float *feat)
{
    plan *p = start(d, c, x, n, feat, 0);
    if (!p)
        return -1;
    /* winf is shared by the plans, whose layouts may differ with the batch size */
    if (d->training || d->folded != c || d->folded_plan != p) {
        d->folded = NULL;
        if (fold(d, p, c))
            return -1;
        d->folded = c;
        d->folded_plan = p;
    }
    if (run(d, &p->in))
        return -1;
    for (int l = 0; l < CNN_CONVS; l++)
        if (run(d, &p->conv[l]))
            return -1;
    return run(d, &p->pool) || run(d, &p->pool_out) ? -1 : 0;
}

int cnn_dnnl_forward_train(cnn_dnnl *d, cnn *c, const float *x, int n, float *feat)
{
    int was = enter(d), r = forward_train(d, c, x, n, feat);
    omp_set_num_threads(was);
    return r;
}

int cnn_dnnl_backward(cnn_dnnl *d, const cnn *c, const float *dfeat, int n, float *grads)
{
    int was = enter(d), r = backward(d, c, dfeat, n, grads);
    omp_set_num_threads(was);
    return r;
}

int cnn_dnnl_forward_infer(cnn_dnnl *d, const cnn *c, const float *x, int n, float *feat)
{
    int was = enter(d), r = forward_infer(d, c, x, n, feat);
    omp_set_num_threads(was);
    return r;
}
