/* Exact against approximate search on many vectors (bench/embed.sh, issue 19): a million
 * vectors made from real embeddings (an .npy file that shelf embed wrote) each repeated with
 * a little noise and L2-normalized again, queries made the same way from other products;
 * the build time of each index, its memory, queries per second on `threads` threads, and
 * the HNSW graph's recall@10 against exact search. One JSON line on standard output.
 *
 * usage: ann_speed MODEL BASE.npy QUERIES.npy ROWS NQUERIES THREADS NOISE */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shelf.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The resident memory of this process, in MB. */
static double rss_mb(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f && fscanf(f, "%ld %ld", &pages, &resident) != 2)
        resident = 0;
    if (f)
        fclose(f);
    return (double)resident * 4096.0 / 1e6;
}

/* An .npy of float32 rows: its rows and columns, and the data (malloc'ed). */
static float *read_npy(const char *path, size_t *rows, size_t *cols)
{
    FILE *f = fopen(path, "rb");
    unsigned char head[10];
    if (!f || fread(head, 1, 10, f) != 10 || memcmp(head, "\x93NUMPY", 6)) {
        fprintf(stderr, "%s: not an .npy file\n", path);
        exit(1);
    }
    size_t hlen = head[8] | (size_t)head[9] << 8;
    char *h = calloc(hlen + 1, 1);
    if (fread(h, 1, hlen, f) != hlen || !strstr(h, "'<f4'") ||
        sscanf(strstr(h, "'shape': (") + 10, "%zu, %zu", rows, cols) != 2) {
        fprintf(stderr, "%s: not float32 rows\n", path);
        exit(1);
    }
    free(h);
    float *v = malloc(*rows * *cols * sizeof *v);
    if (!v || fread(v, sizeof *v, *rows * *cols, f) != *rows * *cols) {
        fprintf(stderr, "%s: short\n", path);
        exit(1);
    }
    fclose(f);
    return v;
}

/* xorshift and Box-Muller: the noise, seeded. */
static uint64_t state = 88172645463325252ull;
static double uniform(void)
{
    state ^= state << 13, state ^= state >> 7, state ^= state << 17;
    return ((double)(state >> 11) + 0.5) / 9007199254740992.0;
}
static float gauss(void)
{
    return (float)(sqrt(-2 * log(uniform())) * cos(6.283185307179586 * uniform()));
}

/* n rows, row i a noisy copy of src row i % nsrc, renormalized. */
static float *noisy(const float *src, size_t nsrc, size_t dim, size_t n, float sigma)
{
    float *v = malloc(n * dim * sizeof *v);
    if (!v)
        exit(1);
    for (size_t i = 0; i < n; i++) {
        const float *s = src + (i % nsrc) * dim;
        float *d = v + i * dim;
        double ss = 0;
        for (size_t j = 0; j < dim; j++) {
            d[j] = s[j] + sigma * gauss();
            ss += (double)d[j] * d[j];
        }
        for (size_t j = 0; j < dim; j++)
            d[j] = (float)(d[j] / sqrt(ss));
    }
    return v;
}

int main(int argc, char **argv)
{
    if (argc != 8) {
        fprintf(stderr, "usage: ann_speed MODEL BASE.npy QUERIES.npy ROWS NQUERIES THREADS "
                "NOISE\n");
        return 2;
    }
    size_t rows = strtoull(argv[4], NULL, 10), nq = strtoull(argv[5], NULL, 10);
    int threads = atoi(argv[6]);
    float sigma = strtof(argv[7], NULL);
    shelf_error err = {0};
    shelf_model *m = NULL;
    if (shelf_model_load(argv[1], &m, &err) != SHELF_OK) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    size_t nb, nqs, dim, dq;
    float *base = read_npy(argv[2], &nb, &dim), *qsrc = read_npy(argv[3], &nqs, &dq);
    if (dim != shelf_embedding_dim(m) || dq != dim) {
        fprintf(stderr, "the vectors are not the model's\n");
        return 1;
    }
    /* noise of sigma per dimension: a copy's cosine to its source is about
       1 / sqrt(1 + sigma^2 dim) */
    float *v = noisy(base, nb, dim, rows, sigma / sqrtf((float)dim));
    float *q = noisy(qsrc, nqs, dim, nq, sigma / sqrtf((float)dim));
    free(base);
    free(qsrc);
    const char **ids = malloc(rows * sizeof *ids);
    for (size_t i = 0; i < rows; i++)
        ids[i] = "";
    double mem0 = rss_mb();
    shelf_index *x = NULL;
    double t0 = now();
    if (shelf_index_new(m, &x, &err) != SHELF_OK ||
        shelf_index_add(x, ids, NULL, 1, v, rows, &err) != SHELF_OK) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    double t_exact = now() - t0, mem_exact = rss_mb() - mem0;
    free(v);
    long *re = malloc(nq * 10 * sizeof *re), *ra = malloc(nq * 10 * sizeof *ra);
    float *se = malloc(nq * 10 * sizeof *se), *sa = malloc(nq * 10 * sizeof *sa);
    t0 = now();
    if (shelf_index_search(x, q, nq, 10, NULL, 1, threads, re, se, &err) != SHELF_OK) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    double qps_exact = (double)nq / (now() - t0);
    double mem1 = rss_mb();
    t0 = now();
    if (shelf_index_build(x, SHELF_INDEX_HNSW, threads, &err) != SHELF_OK) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    double t_build = now() - t0, mem_graph = rss_mb() - mem1;
    t0 = now();
    if (shelf_index_search(x, q, nq, 10, NULL, 0, threads, ra, sa, &err) != SHELF_OK) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    double qps_approx = (double)nq / (now() - t0);
    size_t hit = 0;
    for (size_t i = 0; i < nq; i++)
        for (int a = 0; a < 10; a++)
            for (int e = 0; e < 10; e++)
                hit += ra[i * 10 + a] == re[i * 10 + e];
    printf("{\"rows\":%zu,\"dim\":%zu,\"queries\":%zu,\"threads\":%d,\"noise\":%g,"
           "\"exact_load_s\":%.2f,\"exact_mb\":%.0f,\"exact_qps\":%.1f,"
           "\"hnsw_build_s\":%.1f,\"hnsw_extra_mb\":%.0f,\"hnsw_qps\":%.1f,"
           "\"recall_at_10\":%.4f,\"speedup\":%.1f}\n",
           rows, dim, nq, threads, (double)sigma, t_exact, mem_exact, qps_exact, t_build,
           mem_graph, qps_approx, (double)hit / (double)(nq * 10), qps_approx / qps_exact);
    shelf_index_free(x);
    shelf_model_free(m);
    free(q);
    free((void *)ids);
    free(re);
    free(ra);
    free(se);
    free(sa);
    return 0;
}
