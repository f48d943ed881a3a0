/* A catalog in parts for the ranks of mpirun: rank 0 splits it (byte ranges that start on
 * a record, shelf_catalog_split) and sends each rank its part. shelf train's ranks each
 * learn from theirs; shelf predict's each predict theirs into a part file beside --out,
 * and rank 0 joins the parts in order into --out: the same file, byte for byte, as one
 * process writes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parallel.h"
#include "parts.h"

/* What rank 0 sends every rank: whether the split worked (and why not), and the parts. */
typedef struct split_msg {
    int ok;
    char why[SHELF_ERROR_MAX];
} split_msg;

int parts_split(const char *cmd, const char *data, const shelf_read_options *ro,
                shelf_catalog_part *mine)
{
    const int n = par_size(), me = par_rank();
    shelf_catalog_part *all = calloc((size_t)n, sizeof *all);
    split_msg msg = {0};
    shelf_error err = {0};
    if (!all)
        snprintf(msg.why, sizeof msg.why, "out of memory");
    else if (me == 0)
        msg.ok = shelf_catalog_split(data, ro, n, all, &err) == SHELF_OK;
    if (me == 0 && !msg.ok && all)
        snprintf(msg.why, sizeof msg.why, "%s", err.message);
    par_bcast(&msg, sizeof msg, 0);
    int ok = par_all_ok(msg.ok && all != NULL);
    if (ok)
        par_bcast(all, (size_t)n * sizeof *all, 0);
    if (ok)
        *mine = all[me];
    else if (me == 0)
        fprintf(stderr, "shelf %s: %s\n", cmd, msg.why);
    free(all);
    return ok ? 0 : -1;
}

void parts_path(const char *out, int rank, char *path, size_t size)
{
    snprintf(path, size, "%s.part%d", out, rank);
}

/* Appends the file at path to f. 0, or -1 after printing why. */
static int append(FILE *f, const char *path)
{
    FILE *in = fopen(path, "rb");
    if (!in) {
        fprintf(stderr, "shelf predict: %s: cannot open: %s\n", path, strerror(errno));
        return -1;
    }
    char chunk[1 << 16];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, in)) > 0)
        if (fwrite(chunk, 1, got, f) != got)
            break;
    int bad = ferror(in);
    fclose(in);
    if (bad)
        fprintf(stderr, "shelf predict: %s: read error\n", path);
    return bad ? -1 : 0;
}

int parts_join(const char *out)
{
    shelf_outfile *o = NULL;
    shelf_error err = {0};
    char path[4096];
    int rc = shelf_outfile_open(out, &o, &err) == SHELF_OK ? 0 : -1;
    for (int r = 0; rc == 0 && r < par_size(); r++) {
        parts_path(out, r, path, sizeof path);
        rc = append(shelf_outfile_stream(o), path);
    }
    if (rc == 0 && shelf_outfile_commit(o, &err) != SHELF_OK)
        rc = -1;
    else if (rc)
        shelf_outfile_discard(o);
    if (rc && err.message[0])
        fprintf(stderr, "shelf predict: %s\n", err.message);
    return rc;
}

void parts_sum_stats(shelf_read_stats *st, long *extra, int nextra)
{
    long v[4 + 8] = {st->rows, st->skipped, st->utf8_replaced, st->empty_text};
    for (int i = 0; i < nextra && i < 8; i++)
        v[4 + i] = extra[i];
    par_sum_longs(v, 4 + nextra);
    /* the first skipped row of the run: the lowest rank's that skipped one */
    int first = par_min_int(st->skipped ? par_rank() : par_size());
    if (first < par_size())
        par_bcast(st->first_skip, sizeof st->first_skip, first);
    st->rows = v[0], st->skipped = v[1], st->utf8_replaced = v[2], st->empty_text = v[3];
    for (int i = 0; i < nextra && i < 8; i++)
        extra[i] = v[4 + i];
}
