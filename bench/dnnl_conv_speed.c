/* Issue 15's groundwork: the speed of oneDNN's convolutions (Debian's libdnnl-dev, the
 * library PyTorch uses) on the reference CNN's seven layers at batch 64, 64x64, width 32:
 * forward (training), backward to the data and to the weights, each layer's best of REPS.
 *
 *   gcc -D_GNU_SOURCE -O2 -std=c11 bench/dnnl_conv_speed.c -o /tmp/dnnl_conv_speed -ldnnl
 *   OMP_NUM_THREADS=2 /tmp/dnnl_conv_speed [REPS] [d|w|a] [any|nhwc|cnhw]
 *
 * d: direct, w: Winograd for the stride-1 layers past the stem, a: oneDNN's choice.
 * Activation layout: any (oneDNN's blocked nChw16c), nhwc, or cnhw (shelf's today: oneDNN
 * has no fast kernel for it and falls back to its reference code, about 3000 times slower).
 * Not built by make: a probe of single layers, kept for the layouts compared in
 * docs/benchmarks.md; build/bench/conv_speed times the CNN's own paths. */
#include <dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum { BATCH = 64, LAYERS = 7 };
static const int net[LAYERS][6] = {
    {3, 32, 3, 1, 1, 64},    {32, 64, 3, 2, 1, 64},   {64, 64, 3, 1, 1, 32},
    {64, 128, 3, 2, 1, 32},  {128, 128, 3, 1, 1, 16}, {128, 256, 3, 2, 1, 16},
    {256, 256, 3, 1, 1, 8},
};
#define CHECK(x) do { dnnl_status_t st_ = (x); if (st_ != dnnl_success) { fprintf(stderr, "%s: %d line %d\n", #x, st_, __LINE__); exit(1);} } while (0)
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }

static dnnl_memory_t mem_of(dnnl_primitive_desc_t pd, dnnl_query_t q, dnnl_engine_t eng)
{
    const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, q, 0);
    dnnl_memory_t m;
    CHECK(dnnl_memory_create(&m, md, eng, DNNL_MEMORY_ALLOCATE));
    void *h; dnnl_memory_get_data_handle(m, &h);
    size_t sz = dnnl_memory_desc_get_size(md);
    for (size_t i = 0; i < sz / 4; i++) ((float *)h)[i] = (float)((i * 37) % 101) / 101.0f - 0.5f;
    return m;
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 5;
    dnnl_format_tag_t act_tag = argc > 3 && argv[3][0] == 'c'   ? dnnl_bacd /* CNHW */
                                : argc > 3 && argv[3][0] == 'n' ? dnnl_acdb /* NHWC */
                                                                : dnnl_format_tag_any;
    dnnl_alg_kind_t alg = argc > 2 && argv[2][0] == 'w' ? dnnl_convolution_winograd
                        : argc > 2 && argv[2][0] == 'a' ? dnnl_convolution_auto : dnnl_convolution_direct;
    dnnl_engine_t eng; dnnl_stream_t s;
    CHECK(dnnl_engine_create(&eng, dnnl_cpu, 0));
    CHECK(dnnl_stream_create(&s, eng, dnnl_stream_default_flags));
    double flops_total = 0, t_total[3] = {0};
    for (int l = 0; l < LAYERS; l++) {
        int ci = net[l][0], co = net[l][1], k = net[l][2], st = net[l][3], pad = net[l][4], h = net[l][5];
        int ho = (h + 2 * pad - k) / st + 1;
        dnnl_dims_t sd = {BATCH, ci, h, h}, wd = {co, ci, k, k}, dd = {BATCH, co, ho, ho};
        dnnl_dims_t strides = {st, st}, pl = {pad, pad}, pr = {pad, pad};
        dnnl_memory_desc_t smd, wmd, dmd;
        CHECK(dnnl_memory_desc_init_by_tag(&smd, 4, sd, dnnl_f32, act_tag));
        CHECK(dnnl_memory_desc_init_by_tag(&wmd, 4, wd, dnnl_f32, dnnl_format_tag_any));
        CHECK(dnnl_memory_desc_init_by_tag(&dmd, 4, dd, dnnl_f32, act_tag));
        dnnl_alg_kind_t a = (st == 1 && ci >= 16) ? alg : dnnl_convolution_direct;
        dnnl_convolution_desc_t fd, bdd, bwd;
        CHECK(dnnl_convolution_forward_desc_init(&fd, dnnl_forward_training, a, &smd, &wmd, NULL, &dmd, strides, pl, pr));
        dnnl_primitive_desc_t fpd, bdpd, bwpd;
        if (dnnl_primitive_desc_create(&fpd, &fd, NULL, eng, NULL) != dnnl_success) {
            a = dnnl_convolution_direct;
            CHECK(dnnl_convolution_forward_desc_init(&fd, dnnl_forward_training, a, &smd, &wmd, NULL, &dmd, strides, pl, pr));
            CHECK(dnnl_primitive_desc_create(&fpd, &fd, NULL, eng, NULL));
        }
        CHECK(dnnl_convolution_backward_data_desc_init(&bdd, a, &smd, &wmd, &dmd, strides, pl, pr));
        CHECK(dnnl_primitive_desc_create(&bdpd, &bdd, NULL, eng, fpd));
        CHECK(dnnl_convolution_backward_weights_desc_init(&bwd, a, &smd, &wmd, NULL, &dmd, strides, pl, pr));
        CHECK(dnnl_primitive_desc_create(&bwpd, &bwd, NULL, eng, fpd));
        const char *impl; dnnl_primitive_desc_query(fpd, dnnl_query_impl_info_str, 0, &impl);
        const char *impl2; dnnl_primitive_desc_query(bdpd, dnnl_query_impl_info_str, 0, &impl2);
        const char *impl3; dnnl_primitive_desc_query(bwpd, dnnl_query_impl_info_str, 0, &impl3);
        dnnl_memory_t src = mem_of(fpd, dnnl_query_src_md, eng), w = mem_of(fpd, dnnl_query_weights_md, eng),
                      dst = mem_of(fpd, dnnl_query_dst_md, eng);
        dnnl_memory_t dsrc = mem_of(bdpd, dnnl_query_diff_src_md, eng), ddst = mem_of(bdpd, dnnl_query_diff_dst_md, eng);
        dnnl_memory_t dw = mem_of(bwpd, dnnl_query_diff_weights_md, eng), ddst2 = mem_of(bwpd, dnnl_query_diff_dst_md, eng),
                      src2 = mem_of(bwpd, dnnl_query_src_md, eng);
        dnnl_primitive_t fp, bdp, bwp;
        CHECK(dnnl_primitive_create(&fp, fpd)); CHECK(dnnl_primitive_create(&bdp, bdpd)); CHECK(dnnl_primitive_create(&bwp, bwpd));
        dnnl_exec_arg_t fa[] = {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DST, dst}};
        dnnl_exec_arg_t ba[] = {{DNNL_ARG_DIFF_SRC, dsrc}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DIFF_DST, ddst}};
        dnnl_exec_arg_t wa[] = {{DNNL_ARG_SRC, src2}, {DNNL_ARG_DIFF_WEIGHTS, dw}, {DNNL_ARG_DIFF_DST, ddst2}};
        double t[3] = {1e9, 1e9, 1e9};
        for (int r = 0; r < reps; r++) {
            double t0 = now(); CHECK(dnnl_primitive_execute(fp, s, 3, fa)); dnnl_stream_wait(s);
            double t1 = now(); if (l) { CHECK(dnnl_primitive_execute(bdp, s, 3, ba)); dnnl_stream_wait(s); }
            double t2 = now(); CHECK(dnnl_primitive_execute(bwp, s, 3, wa)); dnnl_stream_wait(s);
            double t3 = now();
            if (t1 - t0 < t[0]) t[0] = t1 - t0;
            if (t2 - t1 < t[1]) t[1] = t2 - t1;
            if (t3 - t2 < t[2]) t[2] = t3 - t2;
        }
        double fl = 2.0 * co * ci * k * k * ho * ho * BATCH;
        flops_total += fl * (l ? 3 : 2);
        for (int i = 0; i < 3; i++) t_total[i] += t[i];
        printf("layer %d %s: fwd %.2f ms (%.0f GF/s) bwd-data %.2f ms bwd-w %.2f ms  [%s | %s | %s]\n", l,
               a == dnnl_convolution_winograd ? "wino" : "direct", t[0] * 1e3, fl / t[0] / 1e9, t[1] * 1e3, t[2] * 1e3, impl, impl2, impl3);
    }
    double tt = t_total[0] + t_total[1] + t_total[2];
    printf("total: fwd %.1f ms, bwd-data %.1f ms, bwd-w %.1f ms; %.1f ms a batch of %d: %.0f GFLOP/s equivalent, %.0f images/s conv-only\n",
           t_total[0] * 1e3, t_total[1] * 1e3, t_total[2] * 1e3, tt * 1e3, BATCH, flops_total / tt / 1e9, BATCH / tt);
    return 0;
}
