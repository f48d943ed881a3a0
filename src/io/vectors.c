/* Writing vectors (shelf.h's shelf_vector_writer): npy, fvecs or JSONL, each file through
 * outfile.h (a temporary file beside the target, fsynced and renamed at commit). */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "core/error.h"
#include "core/fmt_float.h"
#include "core/mem.h"
#include "io/json_write.h"
#include "io/outfile.h"
#include "shelf.h"

/* npy's header: magic, version 1.0, its length, the dictionary padded with spaces to a
 * multiple of 64 bytes in all, room for any row count so that commit rewrites it in place. */
enum { NPY_HEADER = 128 };

struct shelf_vector_writer {
    shelf_vector_format fmt;
    size_t dim, rows;
    outfile vec, ids;
    int to_file, with_ids;
    FILE *f; /* the vectors' stream: vec's, or standard output */
};

static const char *const format_names[] = {"npy", "fvecs", "jsonl"};

shelf_status shelf_vector_format_parse(const char *name, shelf_vector_format *out,
                                       shelf_error *err)
{
    for (int i = 0; name && i < 3; i++)
        if (!strcasecmp(name, format_names[i])) {
            *out = (shelf_vector_format)i;
            return SHELF_OK;
        }
    return err_set(err, SHELF_EINVAL, "unknown vector format '%s': npy, fvecs or jsonl",
                   name ? name : "");
}

shelf_vector_format shelf_vector_format_of(const char *path)
{
    const char *dot = path ? strrchr(path, '.') : NULL;
    if (dot && !strcasecmp(dot, ".npy"))
        return SHELF_VECTORS_NPY;
    if (dot && !strcasecmp(dot, ".fvecs"))
        return SHELF_VECTORS_FVECS;
    return SHELF_VECTORS_JSONL;
}

static void npy_header(FILE *f, size_t rows, size_t dim)
{
    char h[NPY_HEADER];
    memset(h, ' ', sizeof h);
    memcpy(h, "\x93NUMPY\x01\x00", 8);
    h[8] = (char)((NPY_HEADER - 10) & 0xff);
    h[9] = (char)((NPY_HEADER - 10) >> 8);
    int n = snprintf(h + 10, NPY_HEADER - 10,
                     "{'descr': '<f4', 'fortran_order': False, 'shape': (%zu, %zu), }", rows,
                     dim);
    h[10 + n] = ' '; /* snprintf's NUL */
    h[NPY_HEADER - 1] = '\n';
    fwrite(h, 1, sizeof h, f);
}

shelf_status shelf_vector_writer_open(const char *path, const char *ids_path,
                                      shelf_vector_format fmt, size_t dim,
                                      shelf_vector_writer **out, shelf_error *err)
{
    if (!out || dim == 0 || dim > (1u << 24) || (unsigned)fmt > SHELF_VECTORS_JSONL)
        return err_set(err, SHELF_EINVAL, "shelf_vector_writer_open: bad arguments");
    *out = NULL;
    if (!path && fmt != SHELF_VECTORS_JSONL)
        return err_set(err, SHELF_EINVAL, "%s vectors need a file, not standard output",
                       format_names[fmt]);
    if (ids_path && path && !strcmp(ids_path, path))
        return err_set(err, SHELF_EINVAL, "%s: the ids and the vectors need files of their "
                       "own", path);
    shelf_vector_writer *w = mem_calloc(1, sizeof *w);
    if (!w)
        return err_set(err, SHELF_ENOMEM, "out of memory");
    w->fmt = fmt;
    w->dim = dim;
    shelf_status st = SHELF_OK;
    if (path && (st = outfile_open(&w->vec, path, err)) == SHELF_OK)
        w->to_file = 1;
    if (st == SHELF_OK && ids_path && fmt != SHELF_VECTORS_JSONL &&
        (st = outfile_open(&w->ids, ids_path, err)) == SHELF_OK)
        w->with_ids = 1;
    if (st != SHELF_OK) {
        shelf_vector_writer_discard(w);
        return st;
    }
    w->f = w->to_file ? w->vec.f : stdout;
    if (fmt == SHELF_VECTORS_NPY)
        npy_header(w->f, 0, dim);
    *out = w;
    return SHELF_OK;
}

/* An id on a line of its own: line breaks and backslashes escaped. */
static void id_line(FILE *f, const char *id)
{
    for (const char *c = id ? id : ""; *c; c++) {
        if (*c == '\n' || *c == '\r' || *c == '\\') {
            fputc('\\', f);
            fputc(*c == '\n' ? 'n' : *c == '\r' ? 'r' : '\\', f);
        } else {
            fputc(*c, f);
        }
    }
    fputc('\n', f);
}

static void jsonl_row(FILE *f, const char *id, const float *v, size_t dim)
{
    fputs("{\"id\":", f);
    json_string(f, id);
    fputs(",\"vector\":[", f);
    for (size_t d = 0; d < dim; d++) {
        char num[FMT_G6_MAX];
        size_t len = fmt_g6(num, isfinite(v[d]) ? v[d] : 0.0f);
        if (d)
            fputc(',', f);
        fwrite(num, 1, len, f);
    }
    fputs("]}\n", f);
}

shelf_status shelf_vector_writer_add(shelf_vector_writer *w, const char *const *ids,
                                     const float *vecs, size_t n, shelf_error *err)
{
    if (!w || (n && !vecs))
        return err_set(err, SHELF_EINVAL, "shelf_vector_writer_add: bad arguments");
    for (size_t i = 0; i < n; i++) {
        const float *v = vecs + i * w->dim;
        const char *id = ids ? ids[i] : NULL;
        if (w->fmt == SHELF_VECTORS_JSONL) {
            jsonl_row(w->f, id, v, w->dim);
            continue;
        }
        if (w->fmt == SHELF_VECTORS_FVECS) {
            int32_t d = (int32_t)w->dim;
            fwrite(&d, sizeof d, 1, w->f);
        }
        fwrite(v, sizeof *v, w->dim, w->f);
        if (w->with_ids)
            id_line(w->ids.f, id);
    }
    w->rows += n;
    return SHELF_OK;
}

shelf_status shelf_vector_writer_commit(shelf_vector_writer *w, shelf_error *err)
{
    if (!w)
        return err_set(err, SHELF_EINVAL, "shelf_vector_writer_commit: no writer");
    shelf_status st = SHELF_OK;
    if (w->fmt == SHELF_VECTORS_NPY) { /* the row count, now known */
        if (fseek(w->f, 0, SEEK_SET) == 0)
            npy_header(w->f, w->rows, w->dim);
        else
            st = err_set(err, SHELF_EIO, "%s: cannot write the header", w->vec.path);
    }
    if (w->to_file && st == SHELF_OK) /* before the ids' rename: a failed write shows */
        st = shelf_outfile_flush(w->f, w->vec.path, err);
    if (w->with_ids) { /* the ids first: the vectors appear only with them */
        shelf_status s = outfile_close(&w->ids, st == SHELF_OK, err);
        st = st == SHELF_OK ? s : st;
        w->with_ids = 0;
    }
    if (w->to_file) {
        shelf_status s = outfile_close(&w->vec, st == SHELF_OK, err);
        st = st == SHELF_OK ? s : st;
        w->to_file = 0;
    } else if (st == SHELF_OK) {
        st = shelf_outfile_flush(stdout, "standard output", err);
    }
    mem_free(w);
    return st;
}

void shelf_vector_writer_discard(shelf_vector_writer *w)
{
    if (!w)
        return;
    if (w->to_file)
        outfile_close(&w->vec, 0, NULL);
    if (w->with_ids)
        outfile_close(&w->ids, 0, NULL);
    mem_free(w);
}
