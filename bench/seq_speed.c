/* Training speed of the sequence encoders' layers, to set next to PyTorch's for the same
 * model, batch and threads (bench/seq_speed.py prints the same lines).
 *
 * Build and run (from the repository root):
 *   make build/bench/seq_speed && build/bench/seq_speed [reps] [threads]
 *   bench/seq_speed.py [reps] [threads]
 *
 * Times one training step's forward and backward pass, with the gradients zeroed before and
 * summed over threads after, on a batch of 64 sequences of 64 steps (every sequence full)
 * of width 128: (a) a bidirectional GRU layer, hidden 128 per direction; (b) a pre-LayerNorm
 * Transformer block, 4 heads, feed-forward 512. Each thread of the pool takes a slice of the
 * batch with its own work area and gradient block, BLAS at one thread inside. Prints the
 * median of reps steps (after 3 warm-up steps) as tokens (batch times steps) per second. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/rng.h"
#include "core/threadpool.h"
#include "nn/gru.h"
#include "nn/transformer.h"

enum { B = 64, T = 64, D = 128, H = 128, HEADS = 4, FFN = 512, MAX_THREADS = 64 };

typedef enum { GRU, TRANSFORMER } kind;

/* One layer under test: shared inputs and parameters, and each thread's work area,
 * gradient block and input gradient (its slice of dx). */
typedef struct bench {
    kind kind;
    gru_shape gru;
    transformer_shape tf;
    int lens[B], width; /* width: of the output rows */
    size_t np;
    float *x, *out, *dout, *dx, *params;
    float *work[MAX_THREADS], *grads[MAX_THREADS];
} bench;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static float *random_floats(size_t n, rng *r, float scale)
{
    float *p = malloc(n * sizeof *p);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++)
        p[i] = (rng_float(r) * 2 - 1) * scale;
    return p;
}

static void bench_init(bench *b, kind k, int threads)
{
    rng r;
    rng_seed(&r, 1);
    memset(b, 0, sizeof *b);
    b->kind = k;
    b->gru = (gru_shape){.D = D, .H = H, .dirs = 2};
    b->tf = (transformer_shape){.D = D, .heads = HEADS, .F = FFN};
    b->width = k == GRU ? 2 * H : D;
    b->np = k == GRU ? gru_param_floats(&b->gru) : transformer_param_floats(&b->tf);
    for (int i = 0; i < B; i++)
        b->lens[i] = T;
    b->x = random_floats((size_t)B * T * D, &r, 1);
    b->dx = random_floats((size_t)B * T * D, &r, 1);
    b->out = random_floats((size_t)B * T * b->width, &r, 1);
    b->dout = random_floats((size_t)B * T * b->width, &r, 1);
    b->params = random_floats(b->np, &r, 0.088f); /* about 1 / sqrt(128) */
    if (k == TRANSFORMER) /* layer-norm gains 1, biases 0 */
        for (int j = 0; j < D; j++) {
            b->params[j] = 1;
            b->params[D + j] = 0;
        }
    for (int t = 0; t < threads; t++) {
        int n = (B + threads - 1) / threads;
        size_t w = k == GRU ? gru_work_floats(&b->gru, n, T)
                            : transformer_work_floats(&b->tf, n, T);
        b->work[t] = random_floats(w, &r, 0);
        b->grads[t] = random_floats(b->np, &r, 0);
    }
}

static void bench_free(bench *b, int threads)
{
    free(b->x);
    free(b->dx);
    free(b->out);
    free(b->dout);
    free(b->params);
    for (int t = 0; t < threads; t++) {
        free(b->work[t]);
        free(b->grads[t]);
    }
}

/* The thread's slice of the batch, forward and backward. */
static void run_step(void *ctx, int tid, int nthreads)
{
    bench *b = ctx;
    size_t b0, b1;
    pool_split(B, tid, nthreads, &b0, &b1);
    const int n = (int)(b1 - b0);
    const size_t in = b0 * T * D, out = b0 * T * (size_t)b->width;
    memset(b->grads[tid], 0, b->np * sizeof(float));
    if (n == 0)
        return;
    if (b->kind == GRU) {
        gru_forward(&b->gru, b->out + out, b->work[tid], b->x + in, b->lens + b0, b->params, n,
                    T);
        gru_backward(&b->gru, b->dx + in, b->grads[tid], b->work[tid], b->dout + out,
                     b->out + out, b->x + in, b->lens + b0, b->params, n, T);
    } else {
        transformer_forward(&b->tf, b->out + out, b->work[tid], b->x + in, b->lens + b0,
                            b->params, n, T);
        transformer_backward(&b->tf, b->dx + in, b->grads[tid], b->work[tid], b->dout + out,
                             b->x + in, b->lens + b0, b->params, n, T);
    }
}

/* Thread 0's gradient block becomes the sum of all threads'. */
static void run_reduce(void *ctx, int tid, int nthreads)
{
    bench *b = ctx;
    size_t i0, i1;
    pool_split(b->np, tid, nthreads, &i0, &i1);
    for (int t = 1; t < nthreads; t++)
        for (size_t i = i0; i < i1; i++)
            b->grads[0][i] += b->grads[t][i];
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void measure(kind k, thread_pool *pool, int reps)
{
    const int threads = pool_threads(pool);
    bench b;
    bench_init(&b, k, threads);
    double *times = malloc((size_t)reps * sizeof *times);
    if (!times)
        exit(1);
    for (int r = -3; r < reps; r++) {
        double t = now();
        pool_run(pool, run_step, &b);
        pool_run(pool, run_reduce, &b);
        if (r >= 0)
            times[r] = now() - t;
    }
    qsort(times, (size_t)reps, sizeof *times, compare_doubles);
    const double med = times[reps / 2];
    printf("%-11s threads %d  tokens/s %8.0f  ms/batch %7.2f  (best %.2f)\n",
           k == GRU ? "gru" : "transformer", threads, B * T / med, med * 1e3, times[0] * 1e3);
    free(times);
    bench_free(&b, threads);
}

int main(int argc, char **argv)
{
    const int reps = argc > 1 ? atoi(argv[1]) : 20;
    const int threads = argc > 2 ? atoi(argv[2]) : 2;
    if (reps < 1 || threads < 1 || threads > MAX_THREADS) {
        fprintf(stderr, "usage: seq_speed [reps] [threads, 1 to %d]\n", MAX_THREADS);
        return 2;
    }
    /* each pool thread calls sgemm on its own slice: BLAS must not start threads inside */
    openblas_set_num_threads(1);
    thread_pool *pool = pool_new(threads);
    if (!pool)
        return 1;
    printf("# batch %d, %d steps, width %d; GRU hidden %d x 2; Transformer %d heads, ffn %d\n",
           B, T, D, H, HEADS, FFN);
    measure(GRU, pool, reps);
    measure(TRANSFORMER, pool, reps);
    pool_free(pool);
    return 0;
}
