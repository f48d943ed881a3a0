/* Speed of the CNN's convolutions next to OpenBLAS's own sgemm, on 1 and 2 threads, and of
 * the whole training step on each of the CNN's paths (im2col, oneDNN direct, oneDNN with
 * Winograd).
 *
 * Build and run (from the repository root; bench/image.sh runs it):
 *   make build/bench/conv_speed && build/bench/conv_speed [reps]
 *
 * Measures (a) sgemm GFLOP/s on 512x2048x1024 and (b) the reference CNN's seven
 * convolutions, forward and backward, at batch 64, 64x64 input, width 32, counting
 * 2 COUT CIN K K HO WO flops per image forward, twice that backward (weight and input
 * gradients; the stem computes no input gradient). Two threads each take half of the
 * batch's images with their own scratch and weight gradients, BLAS at one thread each; they
 * run all their layers without waiting for each other (a trainer meets at each batch norm).
 * Tries several chunk rules, chunk = max(1, cols / (HO WO)); the details go to stderr and
 * one JSON line to stdout. */
#include <cblas.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/rng.h"
#include "core/threadpool.h"
#include "model/cnn.h"
#include "nn/conv2d.h"

enum { BATCH = 64, LAYERS = 7, MAX_THREADS = 2 };

/* cin, cout, k, stride, pad, h (square input) */
static const int net[LAYERS][6] = {
    {3, 32, 3, 1, 1, 64},    {32, 64, 3, 2, 1, 64},   {64, 64, 3, 1, 1, 32},
    {64, 128, 3, 2, 1, 32},  {128, 128, 3, 1, 1, 16}, {128, 256, 3, 2, 1, 16},
    {256, 256, 3, 1, 1, 8},
};

typedef struct layer {
    conv_shape s;
    float *in, *out, *dout, *din, *W;
} layer;

typedef struct worker {
    layer *layers;
    int n0, n1, cols;
    float *scratch, *dW[LAYERS];
} worker;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static float *random_floats(size_t n, rng *r)
{
    float *p = malloc(n * sizeof *p);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++)
        p[i] = rng_float(r) * 2 - 1;
    return p;
}

static int chunk_for(const conv_shape *s, int cols)
{
    int c = cols / (s->ho * s->wo);
    return c < 1 ? 1 : c;
}

static double net_flops(const layer *L)
{
    double f = 0;
    for (int l = 0; l < LAYERS; l++) {
        const conv_shape *s = &L[l].s;
        double fwd = 2.0 * s->cout * s->cin * s->k * s->k * s->ho * s->wo;
        f += fwd * (l == 0 ? 2 : 3);
    }
    return f * BATCH;
}

static void *run_worker(void *arg)
{
    worker *w = arg;
    for (int l = 0; l < LAYERS; l++) {
        layer *L = &w->layers[l];
        conv2d_forward(&L->s, L->out, L->in, L->W, NULL, BATCH, w->n0, w->n1,
                       chunk_for(&L->s, w->cols), w->scratch);
    }
    for (int l = LAYERS - 1; l >= 0; l--) {
        layer *L = &w->layers[l];
        conv2d_backward(&L->s, l == 0 ? NULL : L->din, w->dW[l], NULL, L->dout, L->in, L->W,
                        BATCH, w->n0, w->n1, chunk_for(&L->s, w->cols), w->scratch);
    }
    return NULL;
}

/* Seconds for one forward and backward pass of the batch on `threads` threads. */
static double time_net(worker *w, int threads, int cols)
{
    pthread_t tid[MAX_THREADS];
    double t = now();
    for (int i = 0; i < threads; i++) {
        w[i].cols = cols;
        w[i].n0 = BATCH * i / threads;
        w[i].n1 = BATCH * (i + 1) / threads;
    }
    if (threads == 1) {
        run_worker(&w[0]);
    } else {
        for (int i = 0; i < threads; i++)
            pthread_create(&tid[i], NULL, run_worker, &w[i]);
        for (int i = 0; i < threads; i++)
            pthread_join(tid[i], NULL);
    }
    return now() - t;
}

/* Prints each layer's forward and backward GFLOP/s on one thread, best of reps. */
static void profile_layers(worker *w, int reps)
{
    for (int l = 0; l < LAYERS; l++) {
        layer *L = &w->layers[l];
        const conv_shape *s = &L->s;
        const int chunk = chunk_for(s, w->cols);
        double fwd = 2.0 * s->cout * s->cin * s->k * s->k * s->ho * s->wo * BATCH;
        double tf = 1e30, tb = 1e30;
        for (int r = 0; r < reps; r++) {
            double t0 = now();
            conv2d_forward(s, L->out, L->in, L->W, NULL, BATCH, 0, BATCH, chunk, w->scratch);
            double t1 = now();
            conv2d_backward(s, l == 0 ? NULL : L->din, w->dW[l], NULL, L->dout, L->in, L->W,
                            BATCH, 0, BATCH, chunk, w->scratch);
            double t2 = now();
            tf = t1 - t0 < tf ? t1 - t0 : tf;
            tb = t2 - t1 < tb ? t2 - t1 : tb;
        }
        fprintf(stderr, "  layer %d (%3d->%3d k%d s%d, out %2dx%-2d, chunk %2d): "
                        "forward %5.1f, backward %5.1f GFLOP/s, %5.1f ms\n",
                l, s->cin, s->cout, s->k, s->stride, s->ho, s->wo, chunk, fwd / tf * 1e-9,
                fwd * (l == 0 ? 1 : 2) / tb * 1e-9, (tf + tb) * 1e3);
    }
}

/* The whole network's training step (forward with batch norm and ReLU, backward) through
 * model/cnn.h on a path, 2 threads: the best of reps, in GFLOP/s of its convolutions
 * (the flops counted as above); 0 when the path is not available here. */
static double step_gflops(cnn_path path, int reps, double flops)
{
    cnn c;
    cnn_work w;
    rng r;
    rng_seed(&r, 3);
    thread_pool *pool = pool_new(MAX_THREADS);
    if (!pool || cnn_init(&c, 64, 32))
        return 0;
    cnn_reset(&c, &r);
    float *grads = calloc(c.nparams, sizeof *grads);
    double best = 1e30;
    if (grads && !cnn_work_init(&w, &c, BATCH, MAX_THREADS, 1, path)) {
        for (size_t i = 0; i < (size_t)3 * BATCH * 64 * 64; i++)
            w.x[i] = 2 * rng_float(&r) - 1;
        for (size_t i = 0; i < (size_t)BATCH * c.feat; i++)
            w.dfeat[i] = (2 * rng_float(&r) - 1) / BATCH;
        for (int i = 0; i < reps + 1; i++) { /* the first warms up */
            double t = now();
            if (cnn_forward_train(&c, &w, pool, BATCH) ||
                cnn_backward(&c, &w, pool, BATCH, grads))
                break;
            t = now() - t;
            best = i && t < best ? t : best;
        }
        cnn_work_free(&w);
    }
    free(grads);
    cnn_free(&c);
    pool_free(pool);
    return best < 1e30 ? flops / best * 1e-9 : 0;
}

static double sgemm_gflops(int threads, int reps)
{
    enum { M = 512, N = 2048, K = 1024 };
    rng r;
    rng_seed(&r, 7);
    float *A = random_floats((size_t)M * K, &r), *B = random_floats((size_t)K * N, &r);
    float *C = random_floats((size_t)M * N, &r);
    openblas_set_num_threads(threads);
    double best = 1e30;
    for (int i = 0; i < reps + 1; i++) {
        double t = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, A, K, B, N, 0.0f,
                    C, N);
        t = now() - t;
        if (i > 0 && t < best) /* the first call warms up */
            best = t;
    }
    free(A);
    free(B);
    free(C);
    return 2.0 * M * N * K / best * 1e-9;
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 5;
    if (reps < 1)
        reps = 1;
    static const int rules[] = {256, 512, 1024, 2048, 4096, 8192};
    enum { NRULES = sizeof rules / sizeof rules[0] };
    const int max_cols = 8192;
    rng r;
    rng_seed(&r, 1);
    layer L[LAYERS];
    size_t scratch = 0;
    for (int l = 0; l < LAYERS; l++) {
        const int *p = net[l];
        if (conv_shape_init(&L[l].s, p[0], p[1], p[2], p[3], p[4], p[5], p[5])) {
            fprintf(stderr, "bad layer %d\n", l);
            return 1;
        }
        const conv_shape *s = &L[l].s;
        size_t nin = (size_t)s->cin * BATCH * s->h * s->w;
        size_t nout = (size_t)s->cout * BATCH * s->ho * s->wo;
        L[l].in = random_floats(nin, &r);
        L[l].din = random_floats(nin, &r);
        L[l].out = random_floats(nout, &r);
        L[l].dout = random_floats(nout, &r);
        L[l].W = random_floats((size_t)s->cout * s->cin * s->k * s->k, &r);
        size_t need = conv_scratch_floats(s, chunk_for(s, max_cols));
        if (need > scratch)
            scratch = need;
    }
    worker w[MAX_THREADS];
    for (int i = 0; i < MAX_THREADS; i++) {
        w[i].layers = L;
        w[i].scratch = random_floats(scratch, &r);
        for (int l = 0; l < LAYERS; l++)
            w[i].dW[l] = random_floats((size_t)L[l].s.cout * L[l].s.cin * L[l].s.k * L[l].s.k,
                                       &r);
    }
    const double flops = net_flops(L);
    fprintf(stderr, "network: %.2f GFLOP per batch of %d (forward + backward)\n", flops * 1e-9,
            BATCH);

    double g_sgemm[MAX_THREADS + 1], g_conv[MAX_THREADS + 1];
    int best_cols[MAX_THREADS + 1];
    for (int threads = 1; threads <= MAX_THREADS; threads++) {
        g_sgemm[threads] = sgemm_gflops(threads, reps);
        fprintf(stderr, "%d thread(s): sgemm 512x2048x1024 %.1f GFLOP/s\n", threads,
                g_sgemm[threads]);
        openblas_set_num_threads(1);
        time_net(w, threads, 2048); /* warm-up: page faults, BLAS buffers */
        /* the rules take turns, so that a slow moment of the machine hits them alike */
        double best[NRULES];
        for (int i = 0; i < NRULES; i++)
            best[i] = 1e30;
        for (int rep = 0; rep < reps; rep++)
            for (int i = 0; i < NRULES; i++) {
                double t = time_net(w, threads, rules[i]);
                best[i] = t < best[i] ? t : best[i];
            }
        g_conv[threads] = 0;
        for (int i = 0; i < NRULES; i++) {
            double g = flops / best[i] * 1e-9;
            fprintf(stderr, "%d thread(s): chunk = max(1, %4d / (HO WO)): conv %.1f GFLOP/s "
                            "(%.0f%% of sgemm)\n",
                    threads, rules[i], g, 100 * g / g_sgemm[threads]);
            if (g > g_conv[threads]) {
                g_conv[threads] = g;
                best_cols[threads] = rules[i];
            }
        }
    }
    w[0].cols = best_cols[1];
    fprintf(stderr, "1 thread, chunk = max(1, %d / (HO WO)), per layer:\n", best_cols[1]);
    openblas_set_num_threads(1);
    profile_layers(&w[0], reps);
    /* the training step as the CNN runs it, on each path (batch norm and ReLU included) */
    static const cnn_path paths[] = {CNN_PATH_GEMM, CNN_PATH_DNNL_DIRECT, CNN_PATH_DNNL};
    static const char *names[] = {"im2col", "onednn_direct", "onednn_winograd"};
    double g_step[3];
    for (int i = 0; i < 3; i++) {
        g_step[i] = step_gflops(paths[i], reps, flops);
        fprintf(stderr, "training step on the %s path, 2 threads: %.1f GFLOP/s of "
                        "convolutions (%.0f%% of sgemm)\n",
                names[i], g_step[i], 100 * g_step[i] / g_sgemm[2]);
    }
    printf("{\"sgemm_gflops_1t\": %.1f, \"conv_gflops_1t\": %.1f, \"ratio_1t\": %.3f, "
           "\"best_cols_1t\": %d, \"sgemm_gflops_2t\": %.1f, \"conv_gflops_2t\": %.1f, "
           "\"ratio_2t\": %.3f, \"best_cols_2t\": %d, \"step_gflops_2t\": {\"%s\": %.1f, "
           "\"%s\": %.1f, \"%s\": %.1f}}\n",
           g_sgemm[1], g_conv[1], g_conv[1] / g_sgemm[1], best_cols[1], g_sgemm[2], g_conv[2],
           g_conv[2] / g_sgemm[2], best_cols[2], names[0], g_step[0], names[1], g_step[1],
           names[2], g_step[2]);
    for (int i = 0; i < MAX_THREADS; i++) {
        free(w[i].scratch);
        for (int l = 0; l < LAYERS; l++)
            free(w[i].dW[l]);
    }
    for (int l = 0; l < LAYERS; l++) {
        free(L[l].in);
        free(L[l].din);
        free(L[l].out);
        free(L[l].dout);
        free(L[l].W);
    }
    return 0;
}
