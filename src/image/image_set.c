#include "image/image_set.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/mem.h"
#include "image/decode.h"
#include "image/path.h"
#include "image/resize.h"

/* Decodes one image file and resizes it to size x size RGB into out. */
static shelf_status image_load_square(const char *path, int size, unsigned char *out,
                                      shelf_error *err)
{
    image im = {0};
    shelf_status st = image_decode_file(path, size, IMAGE_DEFAULT_MAX_PIXELS, &im, err);
    if (st != SHELF_OK)
        return st;
    image_resize(im.rgb, im.w, im.h, out, size, size);
    image_free(&im);
    return SHELF_OK;
}

/* The same from image bytes in memory. */
static shelf_status image_load_square_mem(const unsigned char *data, size_t n, int size,
                                          unsigned char *out, shelf_error *err)
{
    image im = {0};
    shelf_status st = image_decode_mem(data, n, size, IMAGE_DEFAULT_MAX_PIXELS, &im, err);
    if (st != SHELF_OK)
        return st;
    image_resize(im.rgb, im.w, im.h, out, size, size);
    image_free(&im);
    return SHELF_OK;
}

typedef struct load_job {
    image_set *s;
    const char *data_path;
    const char *const *refs;
    const long *lines;
    const shelf_product *products;
    /* per thread: its first bad product, and its first whose image is there but broken */
    long first_bad[64], first_broken[64], missing[64];
    shelf_error first_err[64], broken_err[64];
    int out_of_memory[64];
} load_job;

/* "FILE:LINE: IMAGE-PATH: what is wrong" for product i, into out. */
static void describe(const load_job *j, size_t i, const char *ref, const char *why,
                     shelf_error *out)
{
    if (*ref && j->lines[i] <= 0) /* a file named on the command line */
        snprintf(out->message, SHELF_ERROR_MAX, "%.400s: %.500s", ref, why);
    else if (*ref)
        snprintf(out->message, SHELF_ERROR_MAX, "%.300s:%ld: %.300s: %.300s", j->data_path,
                 j->lines[i], ref, why);
    else
        snprintf(out->message, SHELF_ERROR_MAX, "%.400s:%ld: the product has no image",
                 j->data_path, j->lines[i]);
}

static void run_load(void *arg, int tid, int nthreads)
{
    load_job *j = arg;
    image_set *s = j->s;
    size_t i0, i1, bytes = (size_t)s->size * s->size * 3;
    pool_split(s->n, tid, nthreads, &i0, &i1);
    j->first_bad[tid] = j->first_broken[tid] = -1;
    j->missing[tid] = 0;
    for (size_t i = i0; i < i1; i++) {
        char path[PATH_MAX];
        shelf_error e = {0};
        unsigned char *out = s->pix + i * bytes;
        const char *ref = j->refs[i] ? j->refs[i] : "";
        shelf_status st = SHELF_OK;
        const shelf_product *p = j->products ? &j->products[i] : NULL;
        if (p && p->image_data)
            st = image_load_square_mem(p->image_data, p->image_size, s->size, out, &e);
        else if (!*ref)
            st = err_set(&e, SHELF_EDATA, "no image");
        else if (image_resolve_path(j->data_path, ref, path, sizeof path))
            st = err_set(&e, SHELF_EDATA, "image path too long");
        else
            st = image_load_square(path, s->size, out, &e);
        s->ok[i] = st == SHELF_OK;
        if (st == SHELF_OK)
            continue;
        if (st == SHELF_ENOMEM) /* not the image's fault: the whole load fails */
            j->out_of_memory[tid] = 1;
        memset(out, 0, bytes);
        j->missing[tid] += !*ref;
        shelf_error told;
        describe(j, i, ref, e.message, &told);
        if (!(s->why[i] = mem_strdup(told.message)))
            j->out_of_memory[tid] = 1;
        if (j->first_bad[tid] < 0) {
            j->first_bad[tid] = (long)i;
            j->first_err[tid] = told;
        }
        if (*ref && j->first_broken[tid] < 0) {
            j->first_broken[tid] = (long)i;
            j->broken_err[tid] = told;
        }
    }
}

shelf_status image_set_load(image_set *s, const char *data_path, const char *const *refs,
                            const long *lines, const shelf_product *products, size_t n,
                            int size, thread_pool *pool, shelf_error *err)
{
    memset(s, 0, sizeof *s);
    s->size = size;
    s->n = n;
    s->first_bad = -1;
    s->pix = mem_alloc(n ? n * size * size * 3 : 1);
    s->ok = mem_alloc(n ? n : 1);
    s->why = mem_calloc(n ? n : 1, sizeof *s->why);
    load_job *j = mem_alloc(sizeof *j);
    if (!s->pix || !s->ok || !s->why || !j) {
        mem_free(j);
        image_set_free(s);
        return err_set(err, SHELF_ENOMEM, "out of memory for %zu images", n);
    }
    *j = (load_job){.s = s, .data_path = data_path, .refs = refs, .lines = lines,
                     .products = products};
    pool_run(pool, run_load, j);
    for (int t = 0; t < pool_threads(pool); t++)
        if (j->out_of_memory[t]) {
            mem_free(j);
            image_set_free(s);
            return err_set(err, SHELF_ENOMEM, "out of memory decoding images");
        }
    for (size_t i = 0; i < n; i++)
        s->bad += !s->ok[i];
    for (int t = 0; t < pool_threads(pool); t++)
        s->missing += j->missing[t];
    for (int t = 0; t < pool_threads(pool); t++) /* threads hold rows in order */
        if (j->first_bad[t] >= 0) {
            s->first_bad = j->first_bad[t];
            memcpy(s->first_error, j->first_err[t].message, SHELF_ERROR_MAX);
            break;
        }
    for (int t = 0; t < pool_threads(pool); t++)
        if (j->first_broken[t] >= 0) {
            memcpy(s->first_broken, j->broken_err[t].message, SHELF_ERROR_MAX);
            break;
        }
    mem_free(j);
    return SHELF_OK;
}

void image_set_free(image_set *s)
{
    for (size_t i = 0; s->why && i < s->n; i++)
        mem_free(s->why[i]);
    mem_free(s->why);
    mem_free(s->pix);
    mem_free(s->ok);
    s->pix = s->ok = NULL;
    s->why = NULL;
}
