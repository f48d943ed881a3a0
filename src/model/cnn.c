#include "model/cnn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/rng.h"
#include "model/cnn_dnnl.h"
#include "model/cnn_int8.h"
#include "nn/activation.h"
#include "nn/batchnorm.h"
#include "nn/blas_threads.h"
#include "nn/pool.h"
/* Images per sgemm: enough columns (HO*WO per image) for sgemm to run near its peak. */
enum { CHUNK_COLUMNS = 1024 };

int cnn_shape(cnn *c, int size, int width)
{
    memset(c, 0, sizeof *c);
    if (size < CNN_MIN_SIZE || size > CNN_MAX_SIZE || width < 1 || width > CNN_MAX_WIDTH)
        return -1;
    c->size = size;
    c->width = width;
    int h = size, ch = width;
    if (conv_shape_init(&c->conv[0], 3, width, 3, 1, 1, h, h))
        return -1;
    for (int s = 0; s < 3; s++) {
        conv_shape *down = &c->conv[1 + 2 * s], *same = &c->conv[2 + 2 * s];
        if (conv_shape_init(down, ch, 2 * ch, 3, 2, 1, h, h))
            return -1;
        h = down->ho;
        ch *= 2;
        if (conv_shape_init(same, ch, ch, 3, 1, 1, h, h))
            return -1;
    }
    c->feat = ch;
    size_t off = 0, soff = 0;
    for (int l = 0; l < CNN_CONVS; l++) {
        const conv_shape *s = &c->conv[l];
        c->w_off[l] = off;
        off += (size_t)s->cout * s->cin * s->k * s->k;
        c->gamma_off[l] = off;
        off += (size_t)s->cout;
        c->beta_off[l] = off;
        off += (size_t)s->cout;
        c->chan_off[l] = c->nchans;
        c->nchans += (size_t)s->cout;
        c->mean_off[l] = soff;
        soff += (size_t)s->cout;
        c->var_off[l] = soff;
        soff += (size_t)s->cout;
    }
    c->nparams = off;
    c->nstats = soff;
    return 0;
}

int cnn_init(cnn *c, int size, int width)
{
    if (cnn_shape(c, size, width))
        return -1;
    c->params = mem_calloc(c->nparams, sizeof *c->params);
    c->stats = mem_calloc(c->nstats, sizeof *c->stats);
    if (!c->params || !c->stats) {
        cnn_free(c);
        return -1;
    }
    return 0;
}

static void fill_uniform(float *p, size_t n, float bound, rng *r)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (2 * rng_float(r) - 1) * bound;
}

void cnn_reset(cnn *c, rng *r)
{
    for (int l = 0; l < CNN_CONVS; l++) {
        const conv_shape *s = &c->conv[l];
        size_t fan_in = (size_t)s->cin * s->k * s->k;
        fill_uniform(c->params + c->w_off[l], fan_in * s->cout, 1 / sqrtf((float)fan_in), r);
        for (int i = 0; i < s->cout; i++) {
            c->params[c->gamma_off[l] + i] = 1;
            c->params[c->beta_off[l] + i] = 0;
            c->stats[c->mean_off[l] + i] = 0;
            c->stats[c->var_off[l] + i] = 1;
        }
    }
}

void cnn_reset_linear(float *w, float *b, int in, int out, rng *r)
{
    float bound = 1 / sqrtf((float)in);
    fill_uniform(w, (size_t)in * out, bound, r);
    fill_uniform(b, (size_t)out, bound, r);
}

void cnn_free(cnn *c)
{
    cnn_int8_free(c);
    mem_free(c->params);
    mem_free(c->stats);
    c->params = c->stats = NULL;
}

/* Floats of one image's output of convolution l. */
static size_t plane_floats(const conv_shape *s) { return (size_t)s->cout * s->ho * s->wo; }

/* The oneDNN path's work area: its own buffers, and here the input and the features. */
static int dnnl_work_init(cnn_work *w, const cnn *c, int training, int winograd,
                          int fast_only, int int8)
{
    size_t n = (size_t)w->cap;
    if (!(w->dnnl = cnn_dnnl_new(c, w->cap, w->threads, training, winograd, fast_only, int8)))
        return -1;
    int ok = (w->x = mem_alloc(3 * n * c->size * c->size * sizeof(float))) &&
             (w->feat = mem_alloc(n * c->feat * sizeof(float))) &&
             (!training || (w->dfeat = mem_alloc(n * c->feat * sizeof(float))));
    if (!ok)
        cnn_work_free(w);
    return ok ? 0 : -1;
}

int cnn_work_init(cnn_work *w, const cnn *c, int batch, int threads, int training,
                  cnn_path path)
{
    memset(w, 0, sizeof *w);
    if (batch < 1 || threads < 1)
        return -1;
    w->cap = batch;
    w->threads = threads;
    w->training = training;
    /* oneDNN's kernels take channels in blocks of 16: for other widths it would run its
     * reference code for some steps, and a training and an inference work area of one
     * network must take the same path */
    cnn_path take = path == CNN_PATH_AUTO && cnn_dnnl_fast() && c->width % 16 == 0
                        ? CNN_PATH_DNNL
                        : path;
    /* an int8 network's inference on oneDNN's VNNI kernels; without them, or where oneDNN
     * cannot make them, on the float paths (the codes' values) */
    if (path == CNN_PATH_AUTO && c->q && !training && take == CNN_PATH_DNNL &&
        cnn_dnnl_int8_fast()) {
        if (!dnnl_work_init(w, c, 0, 0, 1, 1))
            return 0;
        *w = (cnn_work){.cap = batch, .threads = threads, .training = training};
    }
    if (take == CNN_PATH_DNNL || take == CNN_PATH_DNNL_DIRECT) {
        if (!dnnl_work_init(w, c, training, take == CNN_PATH_DNNL, path == CNN_PATH_AUTO, 0))
            return 0;
        if (path != CNN_PATH_AUTO)
            return -1;
        *w = (cnn_work){.cap = batch, .threads = threads, .training = training};
    }
    blas_threads_off(); /* the CNN splits every phase over its own threads */
    size_t n = (size_t)batch, biggest = 0;
    w->x = mem_alloc(3 * n * c->size * c->size * sizeof(float));
    int ok = w->x != NULL;
    for (int l = 0; l < CNN_CONVS; l++) {
        const conv_shape *s = &c->conv[l];
        size_t floats = plane_floats(s) * n;
        if (floats > biggest)
            biggest = floats;
        int per_thread = (batch + threads - 1) / threads;
        int chunk = CHUNK_COLUMNS / (s->ho * s->wo);
        w->chunk[l] = chunk < 1 ? 1 : chunk > per_thread ? per_thread : chunk;
        size_t scratch = conv_scratch_floats(s, w->chunk[l]);
        if (scratch > w->scratch_floats)
            w->scratch_floats = scratch;
        if (training) {
            ok = ok && (w->pre[l] = mem_alloc(floats * sizeof(float))) &&
                 (w->act[l] = mem_alloc(floats * sizeof(float)));
        }
    }
    if (!training) {
        ok = ok && (w->act[0] = mem_alloc(biggest * sizeof(float))) &&
             (w->act[1] = mem_alloc(biggest * sizeof(float)));
    } else {
        ok = ok && (w->dbuf[0] = mem_alloc(biggest * sizeof(float))) &&
             (w->dbuf[1] = mem_alloc(biggest * sizeof(float))) &&
             (w->save_mean = mem_alloc(c->nchans * sizeof(float))) &&
             (w->save_istd = mem_alloc(c->nchans * sizeof(float))) &&
             (w->dfeat = mem_alloc(n * c->feat * sizeof(float))) &&
             (w->grads = mem_alloc((size_t)threads * c->nparams * sizeof(float)));
    }
    ok = ok && (w->feat = mem_alloc(n * c->feat * sizeof(float))) &&
         (w->scratch = mem_alloc((size_t)threads * w->scratch_floats * sizeof(float)));
    if (!ok) {
        cnn_work_free(w);
        return -1;
    }
    return 0;
}

double cnn_work_bytes(const cnn *c, int batch, int threads, int training)
{
    double acts = 0, biggest = 0, scratch = 0;
    int per_thread = (batch + threads - 1) / threads;
    for (int l = 0; l < CNN_CONVS; l++) {
        const conv_shape *s = &c->conv[l];
        double floats = (double)plane_floats(s) * batch;
        acts += floats;
        biggest = floats > biggest ? floats : biggest;
        int chunk = CHUNK_COLUMNS / (s->ho * s->wo);
        chunk = chunk < 1 ? 1 : chunk > per_thread ? per_thread : chunk;
        double sc = (double)conv_scratch_floats(s, chunk);
        scratch = sc > scratch ? sc : scratch;
    }
    double floats = training ? 2 * acts + 2 * biggest + (double)threads * (double)c->nparams
                             : 2 * biggest;
    double gemm = 4 * (floats + (double)threads * scratch),
           dnnl = cnn_dnnl_bytes(c, batch, training);
    return (gemm > dnnl ? gemm : dnnl) +
           4 * (3.0 * batch * c->size * c->size + 2.0 * batch * c->feat);
}

void cnn_work_free(cnn_work *w)
{
    cnn_dnnl_free(w->dnnl);
    mem_free(w->x);
    for (int l = 0; l < CNN_CONVS; l++) {
        mem_free(w->pre[l]);
        mem_free(w->act[l]);
    }
    mem_free(w->dbuf[0]);
    mem_free(w->dbuf[1]);
    mem_free(w->save_mean);
    mem_free(w->save_istd);
    mem_free(w->feat);
    mem_free(w->dfeat);
    mem_free(w->scratch);
    mem_free(w->grads);
    memset(w, 0, sizeof *w);
}

/* ---- the phases of a step, each run by every thread of the pool on its share ---------- */

typedef struct step {
    const cnn *c;
    cnn_work *w;
    float *stats;  /* running statistics to update (training) */
    float *out;    /* backward: the gradient is added here */
    int n, layer;
    float *bufs[2];  /* inference: the two alternating activation buffers */
} step;

static float *scratch_of(const step *st, int tid)
{
    return st->w->scratch + (size_t)tid * st->w->scratch_floats;
}

static float *grads_of(const step *st, int tid)
{
    return st->w->grads + (size_t)tid * st->c->nparams;
}

static void run_conv_forward(void *arg, int tid, int nthreads)
{
    step *st = arg;
    const cnn *c = st->c;
    cnn_work *w = st->w;
    int l = st->layer;
    size_t n0, n1;
    pool_split((size_t)st->n, tid, nthreads, &n0, &n1);
    if (n0 < n1)
        conv2d_forward(&c->conv[l], w->pre[l], l ? w->act[l - 1] : w->x,
                       c->params + c->w_off[l], NULL, st->n, (int)n0, (int)n1, w->chunk[l],
                       scratch_of(st, tid));
}

/* The channels [c0, c1) of the step's layer that thread tid takes, and M, the values per
 * channel in the batch; 0 when the thread takes none. */
static int channel_share(const step *st, int tid, int nthreads, long *M, size_t *c0,
                         size_t *c1)
{
    const conv_shape *s = &st->c->conv[st->layer];
    *M = (long)st->n * s->ho * s->wo;
    pool_split((size_t)s->cout, tid, nthreads, c0, c1);
    return *c0 < *c1;
}

static void run_bn_relu_forward(void *arg, int tid, int nthreads)
{
    step *st = arg;
    const cnn *c = st->c;
    cnn_work *w = st->w;
    int l = st->layer;
    long M;
    size_t c0, c1;
    if (!channel_share(st, tid, nthreads, &M, &c0, &c1))
        return;
    size_t base = c->chan_off[l];
    batchnorm_forward_train(w->act[l], w->pre[l], c->params + c->gamma_off[l],
                            c->params + c->beta_off[l], w->save_mean + base,
                            w->save_istd + base, st->stats + c->mean_off[l],
                            st->stats + c->var_off[l], M, (int)c0, (int)c1, CNN_BN_MOMENTUM,
                            CNN_BN_EPS);
    relu_forward(w->act[l] + c0 * M, w->act[l] + c0 * M, (c1 - c0) * M);
}

/* Global average pooling of the last layer's output into the features. */
static void pool_features(const cnn *c, cnn_work *w, const float *last, int n, size_t n0,
                          size_t n1)
{
    const conv_shape *s = &c->conv[CNN_CONVS - 1];
    if (n0 < n1)
        gap_forward(w->feat, last, c->feat, n, s->ho * s->wo, (int)n0, (int)n1);
}

static void run_pool_features(void *arg, int tid, int nthreads)
{
    step *st = arg;
    size_t n0, n1;
    pool_split((size_t)st->n, tid, nthreads, &n0, &n1);
    pool_features(st->c, st->w, st->w->act[CNN_CONVS - 1], st->n, n0, n1);
}

int cnn_forward_train(cnn *c, cnn_work *w, thread_pool *pool, int n)
{
    if (w->dnnl)
        return cnn_dnnl_forward_train(w->dnnl, c, w->x, n, w->feat);
    step st = {.c = c, .w = w, .stats = c->stats, .n = n};
    for (int l = 0; l < CNN_CONVS; l++) {
        st.layer = l;
        pool_run(pool, run_conv_forward, &st);
        pool_run(pool, run_bn_relu_forward, &st);
    }
    pool_run(pool, run_pool_features, &st);
    return 0;
}

/* Inference, one layer for the thread's images: batch norm is a fixed affine map per
 * channel, so it joins the convolution and the ReLU. The layers alternate between two
 * buffers whose layout changes with the layer's shape, hence a pool_run per layer: a thread
 * running ahead into the next layer would overwrite what another still reads. */
static void run_infer_layer(void *arg, int tid, int nthreads)
{
    step *st = arg;
    const cnn *c = st->c;
    cnn_work *w = st->w;
    int l = st->layer;
    size_t n0, n1;
    pool_split((size_t)st->n, tid, nthreads, &n0, &n1);
    if (n0 == n1)
        return;
    const conv_shape *s = &c->conv[l];
    float *out = st->bufs[l & 1];
    conv2d_forward(s, out, l ? st->bufs[(l - 1) & 1] : w->x, c->params + c->w_off[l], NULL,
                   st->n, (int)n0, (int)n1, w->chunk[l], scratch_of(st, tid));
    size_t hw = (size_t)s->ho * s->wo;
    for (int ch = 0; ch < s->cout; ch++) {
        float scale, shift;
        cnn_bn_affine(c, l, ch, &scale, &shift);
        float *p = out + ((size_t)ch * st->n + n0) * hw;
        for (size_t i = 0; i < (n1 - n0) * hw; i++) {
            float v = p[i] * scale + shift;
            p[i] = v > 0 ? v : 0;
        }
    }
    if (l == CNN_CONVS - 1)
        pool_features(c, w, out, st->n, n0, n1);
}

void cnn_bn_affine(const cnn *c, int l, int ch, float *scale, float *shift)
{
    if (c->q) {
        *scale = 1;
        *shift = c->q->bias[c->chan_off[l] + (size_t)ch];
        return;
    }
    *scale = c->params[c->gamma_off[l] + ch] / sqrtf(c->stats[c->var_off[l] + ch] + CNN_BN_EPS);
    *shift = c->params[c->beta_off[l] + ch] - c->stats[c->mean_off[l] + ch] * *scale;
}

int cnn_forward_infer_seen(const cnn *c, cnn_work *w, thread_pool *pool, int n,
                           void (*see)(void *user, int layer, const float *out, size_t count),
                           void *user)
{
    if (w->dnnl)
        return see ? -1 : cnn_dnnl_forward_infer(w->dnnl, c, w->x, n, w->feat);
    /* a training work area lends its gradient buffers */
    step st = {.c = c, .w = w, .n = n,
               .bufs = {w->training ? w->dbuf[0] : w->act[0],
                        w->training ? w->dbuf[1] : w->act[1]}};
    for (st.layer = 0; st.layer < CNN_CONVS; st.layer++) {
        pool_run(pool, run_infer_layer, &st);
        if (see)
            see(user, st.layer, st.bufs[st.layer & 1], (size_t)n * plane_floats(&c->conv[st.layer]));
    }
    return 0;
}

int cnn_forward_infer(const cnn *c, cnn_work *w, thread_pool *pool, int n)
{
    return cnn_forward_infer_seen(c, w, pool, n, NULL, NULL);
}

/* ---- backward ---------------------------------------------------------------------- */

/* The gradient of the last layer's output, from the features'; each thread's gradient
 * block starts at zero here. */
static void run_pool_backward(void *arg, int tid, int nthreads)
{
    step *st = arg;
    const cnn *c = st->c;
    cnn_work *w = st->w;
    memset(grads_of(st, tid), 0, c->nparams * sizeof(float));
    size_t n0, n1;
    pool_split((size_t)st->n, tid, nthreads, &n0, &n1);
    const conv_shape *s = &c->conv[CNN_CONVS - 1];
    if (n0 < n1)
        gap_backward(w->dbuf[CNN_CONVS & 1], w->dfeat, c->feat, st->n,
                     s->ho * s->wo, (int)n0, (int)n1);
}

static void run_bn_relu_backward(void *arg, int tid, int nthreads)
{
    step *st = arg;
    const cnn *c = st->c;
    cnn_work *w = st->w;
    int l = st->layer;
    long M;
    size_t c0, c1;
    if (!channel_share(st, tid, nthreads, &M, &c0, &c1))
        return;
    float *d = w->dbuf[(l + 1) & 1], *g = grads_of(st, tid);
    relu_backward(d + c0 * M, d + c0 * M, w->act[l] + c0 * M, (c1 - c0) * M);
    size_t base = c->chan_off[l];
    batchnorm_backward(d, g + c->gamma_off[l], g + c->beta_off[l], d, w->pre[l],
                       c->params + c->gamma_off[l], w->save_mean + base, w->save_istd + base,
                       M, (int)c0, (int)c1);
}

static void run_conv_backward(void *arg, int tid, int nthreads)
{
    step *st = arg;
    const cnn *c = st->c;
    cnn_work *w = st->w;
    int l = st->layer;
    size_t n0, n1;
    pool_split((size_t)st->n, tid, nthreads, &n0, &n1);
    if (n0 == n1)
        return;
    float *g = grads_of(st, tid);
    conv2d_backward(&c->conv[l], l ? w->dbuf[l & 1] : NULL, g + c->w_off[l], NULL,
                    w->dbuf[(l + 1) & 1], l ? w->act[l - 1] : w->x, c->params + c->w_off[l],
                    st->n, (int)n0, (int)n1, w->chunk[l], scratch_of(st, tid));
}

/* The sum of all threads' gradient blocks, in a fixed order so that a run is reproducible
 * for a given number of threads, added to the caller's. */
static void run_reduce(void *arg, int tid, int nthreads)
{
    step *st = arg;
    size_t i0, i1;
    pool_split(st->c->nparams, tid, nthreads, &i0, &i1);
    for (int t = 0; t < nthreads; t++) {
        const float *g = grads_of(st, t);
        for (size_t i = i0; i < i1; i++)
            st->out[i] += g[i];
    }
}

int cnn_backward(const cnn *c, cnn_work *w, thread_pool *pool, int n, float *grads)
{
    if (w->dnnl)
        return cnn_dnnl_backward(w->dnnl, c, w->dfeat, n, grads);
    step st = {.c = c, .w = w, .n = n, .out = grads};
    /* gradients of activation l live in dbuf[(l + 1) & 1]; pooling writes layer 6's */
    pool_run(pool, run_pool_backward, &st);
    for (int l = CNN_CONVS - 1; l >= 0; l--) {
        st.layer = l;
        pool_run(pool, run_bn_relu_backward, &st);
        pool_run(pool, run_conv_backward, &st);
    }
    pool_run(pool, run_reduce, &st);
    return 0;
}
