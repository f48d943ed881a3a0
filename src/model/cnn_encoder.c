#include "model/cnn_encoder.h"

#include <limits.h>
#include <math.h>
#include <string.h>

#include "core/background.h"
#include "core/buf.h"
#include "core/comm.h"
#include "core/error.h"
#include "core/mem.h"
#include "image/augment.h"
#include "model/cnn_int8.h"
#include "shelf.h"

/* What the network's input is filled from (see run_fill). */
typedef struct fill_job {
    const image_settings *is;
    float *x;
    const unsigned char *pix;
    const uint32_t *rows, *index; /* training: image index[rows[i]] (index NULL: rows[i]) */
    uint64_t noise;               /* training: image i's augmentation is seeded noise + i */
    int size, n;
} fill_job;

struct encoder_work {
    cnn_work cw;
    thread_pool *pool;
    thread_pool *own_pool; /* made by the interface's work_new */
    unsigned char *missing;
    int n; /* the last training batch's images */
    /* training: the upcoming batch, filled into spare by a helper thread while the current
     * one computes (NULL helper: filled when its turn comes) */
    background *helper;
    float *spare;
    fill_job ahead;       /* the job the helper runs or ran; ahead.n 0: none */
    uint32_t *ahead_rows; /* its rows, copied: the caller's array may go before the job ends */
};

static size_t cnn_enc_width(const encoder *e) { return (size_t)as_const_cnn(e)->net.feat; }

static void cnn_enc_work_free(encoder_work *w)
{
    if (!w)
        return;
    background_free(w->helper); /* waits for a batch being prepared */
    mem_free(w->spare);
    mem_free(w->ahead_rows);
    cnn_work_free(&w->cw);
    pool_free(w->own_pool);
    mem_free(w->missing);
    mem_free(w);
}

encoder_work *cnn_encoder_work_new(const encoder *e, size_t batch, int training,
                                   thread_pool *pool)
{
    encoder_work *w = mem_calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->pool = pool;
    if (!batch || batch > INT_MAX || !(w->missing = mem_calloc(batch, 1)) ||
        cnn_work_init(&w->cw, &as_const_cnn(e)->net, (int)batch, pool_threads(pool),
                      training, CNN_PATH_AUTO)) {
        cnn_enc_work_free(w);
        return NULL;
    }
    int S = as_const_cnn(e)->net.size;
    /* without the helper, each batch is filled in its turn */
    if (training && (w->spare = mem_alloc(3 * batch * (size_t)S * (size_t)S * sizeof(float))) &&
        (w->ahead_rows = mem_alloc(batch * sizeof *w->ahead_rows)) &&
        !(w->helper = background_new())) {
        mem_free(w->spare);
        mem_free(w->ahead_rows);
        w->spare = NULL;
        w->ahead_rows = NULL;
    }
    return w;
}

static encoder_work *cnn_enc_work_new(const encoder *e, size_t batch, int training)
{
    thread_pool *pool = pool_new(1);
    encoder_work *w = pool ? cnn_encoder_work_new(e, batch, training, pool) : NULL;
    if (!w) {
        pool_free(pool);
        return NULL;
    }
    w->own_pool = pool;
    return w;
}

/* What the CNN trains on: the decoded images, read in place. */
typedef struct cnn_training {
    const unsigned char *pix; /* S x S x 3 bytes an image */
    const uint32_t *rows;     /* NULL, or product i is image rows[i] */
} cnn_training;

/* The images, normalized (and, in training, augmented) into the network's input. */
static void run_fill(void *arg, int tid, int nthreads)
{
    fill_job *j = arg;
    size_t i0, i1, bytes = (size_t)j->size * j->size * 3, plane = (size_t)j->size * j->size;
    pool_split((size_t)j->n, tid, nthreads, &i0, &i1);
    for (size_t i = i0; i < i1; i++) {
        size_t at = i;
        rng r; /* seeded per image: the same run on any number of threads */
        if (j->rows) {
            at = j->index ? j->index[j->rows[i]] : j->rows[i];
            rng_seed(&r, j->noise + i);
        }
        augment_to_tensor(j->pix + at * bytes, j->size, j->rows ? j->is->augment : 0,
                          j->rows ? &r : NULL, j->is->mean, j->is->std, j->x + i * plane,
                          (long)(plane * (size_t)j->n));
    }
}

/* The helper thread's job: a whole batch, alone. */
static void run_fill_alone(void *arg) { run_fill(arg, 0, 1); }

static int cnn_enc_forward(const encoder *e, encoder_work *w, const encoder_batch *b,
                           encoder_features *out)
{
    const cnn_encoder *c = as_const_cnn(e);
    if (b->n) {
        fill_job j = {&c->img, w->cw.x, b->pixels, NULL, NULL, 0, c->net.size, (int)b->n};
        pool_run(w->pool, run_fill, &j);
        if (cnn_forward_infer(&c->net, &w->cw, w->pool, (int)b->n))
            return -1;
    }
    for (size_t i = 0; i < b->n; i++)
        w->missing[i] = b->usable && !b->usable[i];
    *out = (encoder_features){.n = b->n, .width = (size_t)c->net.feat, .dense = w->cw.feat,
                              .missing = w->missing};
    return 0;
}

/* Mean and standard deviation per channel of pixel / 255 over the training images, as the
 * peers compute them (population deviation). */
static int channel_stats(const encoder_batch *all, int size, const shelf_comm *comm,
                         float mean[3], float std[3])
{
    double s[7] = {0}, *ss = s + 3; /* then the count: every rank's, in a distributed run */
    size_t px = (size_t)size * size;
    for (size_t i = 0; i < all->n; i++) {
        const unsigned char *p = all->pixels + (all->rows ? all->rows[i] : i) * px * 3;
        long a[3] = {0}, aa[3] = {0};
        for (size_t j = 0; j < px; j++)
            for (int c = 0; c < 3; c++) {
                long v = p[j * 3 + c];
                a[c] += v;
                aa[c] += v * v;
            }
        for (int c = 0; c < 3; c++) {
            s[c] += (double)a[c];
            ss[c] += (double)aa[c];
        }
    }
    s[6] = (double)all->n * (double)px;
    if (comm_sum(comm, s, 7, SHELF_COMM_DOUBLE))
        return -1;
    const double count = s[6];
    for (int c = 0; c < 3; c++) {
        double mu = s[c] / count, var = ss[c] / count - mu * mu;
        mean[c] = (float)(mu / 255);
        std[c] = var > 1e-6 ? (float)(sqrt(var) / 255) : 1.0f;
    }
    return 0;
}

/* The channels' statistics, the settings training keeps for shelf info, the weights'
 * random start as PyTorch's. */
static shelf_status cnn_enc_train_begin(encoder *e, const encoder_setup *s, shelf_error *err)
{
    cnn_encoder *c = as_cnn(e);
    const shelf_train_options *o = s->opts;
    image_settings *is = &c->img;
    cnn_reset(&c->net, s->r);
    if (channel_stats(s->all, c->net.size, s->opts->comm, is->mean, is->std))
        return err_set(err, SHELF_EIO, "the ranks could not combine their images' statistics");
    is->augment = o->augment;
    is->batch = o->batch;
    is->optimizer = o->optimizer;
    is->schedule = o->schedule;
    is->weight_decay = o->weight_decay;
    if (!(c->training = mem_calloc(1, sizeof *c->training)))
        return err_set(err, SHELF_ENOMEM, "out of memory");
    *c->training = (cnn_training){.pix = s->all->pixels, .rows = s->all->rows};
    return SHELF_OK;
}

static void cnn_enc_train_end(encoder *e)
{
    mem_free(as_cnn(e)->training);
    as_cnn(e)->training = NULL;
}

/* The rows' images, augmented, through the network with batch statistics. */
static int cnn_enc_forward_train(encoder *e, encoder_work *w, const encoder_batch *b,
                                 encoder_features *out)
{
    cnn_encoder *c = as_cnn(e);
    const cnn_training *t = c->training;
    if (b->n > (size_t)w->cw.cap)
        return -1;
    w->n = (int)b->n;
    fill_job j = {&c->img, w->cw.x, t->pix, b->rows, t->rows, b->noise, c->net.size, w->n};
    if (w->helper) {
        background_wait(w->helper);
        const fill_job *a = &w->ahead;
        if (a->n == w->n && a->noise == b->noise &&
            !memcmp(a->rows, b->rows, b->n * sizeof *b->rows)) {
            float *x = w->cw.x; /* prepared while the last batch computed */
            w->cw.x = w->spare;
            w->spare = x;
        } else {
            pool_run(w->pool, run_fill, &j);
        }
        w->ahead.n = 0;
        const encoder_batch *u = b->upcoming;
        if (u && u->n && u->n <= (size_t)w->cw.cap) {
            memcpy(w->ahead_rows, u->rows, u->n * sizeof *u->rows);
            w->ahead = (fill_job){&c->img, w->spare, t->pix, w->ahead_rows, t->rows, u->noise,
                                  c->net.size, (int)u->n};
            background_start(w->helper, run_fill_alone, &w->ahead);
        }
    } else {
        pool_run(w->pool, run_fill, &j);
    }
    if (cnn_forward_train(&c->net, &w->cw, w->pool, w->n))
        return -1;
    memset(w->missing, 0, b->n);
    *out = (encoder_features){.n = b->n, .width = (size_t)c->net.feat, .dense = w->cw.feat,
                              .missing = w->missing, .grad = w->cw.dfeat};
    return 0;
}

static int cnn_enc_backward(encoder *e, encoder_work *w, const encoder_update *u)
{
    return cnn_backward(&as_const_cnn(e)->net, &w->cw, w->pool, w->n, u->grads);
}

static float *cnn_enc_params(encoder *e, size_t *n)
{
    cnn *net = &as_cnn(e)->net;
    *n = net->nparams;
    return net->params;
}

static int cnn_enc_state(encoder *e, float **blocks, size_t *sizes, int max)
{
    cnn *net = &((cnn_encoder *)e)->net;
    if (max < 2)
        return 0;
    blocks[0] = net->params, sizes[0] = net->nparams;
    blocks[1] = net->stats, sizes[1] = net->nstats;
    return 2;
}

static void save_settings(const cnn_encoder *c, model_writer *w)
{
    const image_settings *is = &c->img;
    const uint32_t u[6] = {(uint32_t)c->net.size, (uint32_t)c->net.width, (uint32_t)is->augment,
                           (uint32_t)is->batch, (uint32_t)is->optimizer, (uint32_t)is->schedule};
    mw_put(w, u, sizeof u);
    mw_f32(w, is->weight_decay);
    mw_put(w, is->mean, 12);
    mw_put(w, is->std, 12);
}

static void cnn_enc_save(const encoder *e, model_writer *w)
{
    const cnn_encoder *c = as_const_cnn(e);
    save_settings(c, w);
    mw_floats(w, c->net.params, c->net.nparams);
    mw_floats(w, c->net.stats, c->net.nstats);
}

void cnn_encoder_save_int8(const encoder *e, model_writer *w)
{
    const cnn_encoder *c = as_const_cnn(e);
    const cnn_int8 *q = c->net.q;
    save_settings(c, w);
    mw_put(w, q->act, sizeof q->act);
    mw_floats(w, q->scale, c->net.nchans);
    mw_floats(w, q->bias, c->net.nchans);
    mw_u64(w, q->ncodes);
    mw_put(w, q->codes, q->ncodes);
}

static void cnn_enc_describe(const encoder *e, buf *b, int labels, int nodes)
{
    (void)labels, (void)nodes; /* the image head's line follows the encoder's */
    const cnn_encoder *c = as_const_cnn(e);
    const image_settings *is = &c->img;
    char aug[64];
    augment_format(is->augment, aug, sizeof aug);
    if (c->net.q)
        buf_printf(b, "model             image CNN, input %dx%d, width %d, int8: %zu weights "
                   "(%.1f MB), a scale per channel, batch norm folded\n", c->net.size,
                   c->net.size, c->net.width, c->net.q->ncodes, (double)c->net.q->ncodes / 1e6);
    else
        buf_printf(b, "model             image CNN, input %dx%d, width %d, %zu parameters "
                   "(%.1f MB)\n", c->net.size, c->net.size, c->net.width, c->net.nparams,
                   (double)c->net.nparams * 4 / 1e6);
    buf_printf(b, "optimizer         %s, weight decay %g, schedule %s, batch %d, "
               "augmentation %s\n", is->optimizer == SHELF_OPTIMIZER_SGD ? "sgd" : "adamw",
               (double)is->weight_decay,
               is->schedule == SHELF_SCHEDULE_ONECYCLE ? "onecycle"
               : is->schedule == SHELF_SCHEDULE_COSINE ? "cosine" : "constant",
               is->batch, aug);
    buf_printf(b, "normalization     mean %.4f %.4f %.4f, std %.4f %.4f %.4f\n",
               (double)is->mean[0], (double)is->mean[1], (double)is->mean[2],
               (double)is->std[0], (double)is->std[1], (double)is->std[2]);
}

static void cnn_enc_free(encoder *e)
{
    cnn_enc_train_end(e);
    cnn_free(&as_cnn(e)->net);
    mem_free(e);
}

static const encoder_ops CNN_OPS = {
    .kind = ENCODER_CNN,
    .name = "cnn",
    .width = cnn_enc_width,
    .work_new = cnn_enc_work_new,
    .work_free = cnn_enc_work_free,
    .forward = cnn_enc_forward,
    .train_begin = cnn_enc_train_begin,
    .train_end = cnn_enc_train_end,
    .forward_train = cnn_enc_forward_train,
    .backward = cnn_enc_backward,
    .params = cnn_enc_params,
    .state = cnn_enc_state,
    .save = cnn_enc_save,
    .describe = cnn_enc_describe,
    .free = cnn_enc_free,
};

cnn_encoder *cnn_encoder_new(int size, int width)
{
    cnn_encoder *c = mem_calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->base.ops = &CNN_OPS;
    if (cnn_init(&c->net, size, width)) {
        mem_free(c);
        return NULL;
    }
    return c;
}

/* ---- reading ------------------------------------------------------------------------- */

/* The settings before the tensors; 0, or -1 with r failed. */
static int read_settings(model_reader *r, image_settings *is, uint32_t *size, uint32_t *width)
{
    uint32_t u[6];
    mr_get(r, u, sizeof u);
    float wd = mr_f32(r);
    *is = (image_settings){.augment = (int)u[2], .batch = (int)u[3], .optimizer = (int)u[4],
                           .schedule = (int)u[5], .weight_decay = wd};
    mr_get(r, is->mean, 12);
    mr_get(r, is->std, 12);
    *size = u[0];
    *width = u[1];
    return r->failed ? -1 : 0;
}

/* The batch-norm variances, which prediction takes the square root of. */
static int stats_ok(const cnn *net)
{
    for (int l = 0; l < CNN_CONVS; l++)
        for (int i = 0; i < net->conv[l].cout; i++) {
            float v = net->stats[net->var_off[l] + i];
            if (!(v >= 0) || !isfinite(v))
                return 0;
        }
    return 1;
}

/* head NULL: the network's parameters alone; else followed by the classifier's (nlabels
 * outputs) in the same block, read into head. */
/* The settings and the network's shape they give (sizes within bounds). 0, or -1 with r
 * failed. */
static int read_shape(model_reader *r, image_settings *is, cnn *shape)
{
    uint32_t size, width;
    if (read_settings(r, is, &size, &width) || size > CNN_MAX_SIZE || width > CNN_MAX_WIDTH ||
        cnn_shape(shape, (int)size, (int)width))
        return mr_fail(r, NULL);
    return 0;
}

/* The encoder of that shape and settings (its normalization checked) into *out, its
 * tensors still to read; NULL with r failed. */
static cnn_encoder *new_read_encoder(model_reader *r, const image_settings *is,
                                     const cnn *shape, encoder **out)
{
    for (int c = 0; c < 3; c++)
        if (!(is->std[c] > 0) || !isfinite(is->mean[c])) {
            mr_fail(r, "bad image normalization");
            return NULL;
        }
    cnn_encoder *c = cnn_encoder_new(shape->size, shape->width);
    if (!c) {
        mr_oom(r);
        return NULL;
    }
    *out = &c->base;
    c->img = *is;
    return c;
}

static int read_cnn(model_reader *r, encoder **out, label_head *head, int nlabels)
{
    image_settings is;
    cnn shape;
    if (read_shape(r, &is, &shape) || (head && nlabels < 1))
        return mr_fail(r, NULL);
    uint64_t nfc = head ? (uint64_t)shape.feat * (uint64_t)nlabels + (uint64_t)nlabels : 0;
    if (mr_claim(r, "the image network", (uint64_t)shape.nparams + nfc + shape.nstats, 4))
        return -1;
    cnn_encoder *c = new_read_encoder(r, &is, &shape, out);
    if (!c)
        return -1;
    cnn *net = &c->net;
    if (!head) {
        if (mr_floats(r, "the image network", net->params, net->nparams))
            return -1;
    } else {
        if (mr_u64(r) != net->nparams + nfc)
            return mr_fail(r, "the image network");
        if (mr_get(r, net->params, net->nparams * 4))
            return -1;
        if (label_head_alloc(head, (size_t)net->feat, nlabels))
            return mr_oom(r);
        if (mr_get(r, head->params, head->nparams * 4))
            return -1;
    }
    if (mr_floats(r, "the image network", net->stats, net->nstats))
        return -1;
    return stats_ok(net) ? 0 : mr_fail(r, NULL);
}

int cnn_encoder_load(model_reader *r, encoder **out)
{
    return read_cnn(r, out, NULL, 0);
}

int cnn_encoder_load_int8(model_reader *r, encoder **out)
{
    image_settings is;
    cnn shape;
    if (read_shape(r, &is, &shape))
        return -1;
    /* its bytes: the activations' scales, two counted float arrays, the counted codes (the
     * weights: every parameter but batch norm's two per channel) */
    const uint64_t ncodes = (uint64_t)shape.nparams - 2 * (uint64_t)shape.nchans;
    if (mr_claim(r, "the int8 image network", 4 * CNN_CONVS + 24 + 8 * shape.nchans + ncodes,
                 1))
        return -1;
    cnn_encoder *c = new_read_encoder(r, &is, &shape, out);
    if (!c)
        return -1;
    cnn *net = &c->net;
    if (cnn_int8_alloc(net))
        return mr_oom(r);
    cnn_int8 *q = net->q;
    if (mr_get(r, q->act, sizeof q->act) ||
        mr_floats(r, "the int8 image network", q->scale, net->nchans) ||
        mr_floats(r, "the int8 image network", q->bias, net->nchans) ||
        mr_u64(r) != q->ncodes || mr_get(r, q->codes, q->ncodes))
        return mr_fail(r, "the int8 image network");
    if (cnn_int8_check(net))
        return mr_fail(r, "a scale or bias out of range in the int8 image network");
    cnn_int8_dequantize(net);
    return 0;
}

/* ---- int8 ------------------------------------------------------------------------------ */

/* The network's input bound: the normalized pixels' largest magnitude, reached at 0 or 255
 * (so no image is clipped). */
static float input_bound(const image_settings *is)
{
    float most = 0;
    for (int ch = 0; ch < 3; ch++)
        most = fmaxf(most, fmaxf(is->mean[ch], 1 - is->mean[ch]) / is->std[ch]);
    return most;
}

int cnn_encoder_quantize(cnn_encoder *c, const unsigned char *pix, size_t n, size_t batch,
                         int clip, thread_pool *pool)
{
    cnn_work w;
    if (c->net.q || !n || !batch || batch > INT_MAX ||
        cnn_work_init(&w, &c->net, (int)batch, pool_threads(pool), 0, CNN_PATH_GEMM))
        return -1;
    cnn_calib k = {.clip = clip};
    int r = (k.hist = mem_calloc((size_t)CNN_CONVS * CNN_CALIB_BINS, sizeof *k.hist)) ? 0 : -1;
    for (k.pass = 0; k.pass < 2 && !r; k.pass++)
        for (size_t from = 0; from < n && !r; from += batch) {
            size_t m = n - from < batch ? n - from : batch;
            fill_job j = {&c->img, w.x, pix + from * (size_t)c->net.size * c->net.size * 3,
                          NULL, NULL, 0, c->net.size, (int)m};
            pool_run(pool, run_fill, &j);
            r = cnn_forward_infer_seen(&c->net, &w, pool, (int)m, cnn_calib_see, &k);
        }
    float act_max[CNN_CONVS] = {input_bound(&c->img)};
    if (!r && k.nonfinite)
        r = -2;
    if (!r) {
        cnn_calib_clips(&k, act_max);
        r = cnn_quantize(&c->net, act_max);
    }
    mem_free(k.hist);
    cnn_work_free(&w);
    return r;
}

int cnn_encoder_load_with_classifier(model_reader *r, encoder **out, label_head *head,
                                     int nlabels)
{
    return read_cnn(r, out, head, nlabels);
}
