/* The model file: everything needed to featurize and predict, in one checksummed file.
 *
 *   "SHELFMDL"  u32 version  u32 reserved  u64 total file size
 *   sections (model_io.h): u32 tag, u32 reserved, u64 length, payload
 *   u64 checksum of every byte before it
 *
 * Each part of a model writes and reads its own section; a reader skips the sections it
 * does not know, so a part added later does not break older readers. Sections a later one
 * depends on come first (the read options and labels before the encoders and heads).
 * Versions 1-6 had no sections (model_file_legacy.c).
 *
 * Numbers are in the machine's byte order (little-endian on every machine shelf is built
 * for so far). Written to a temporary file beside the target, fsynced and renamed over it,
 * so a crash leaves either the old file or the new one. */
#include "model/model_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "core/mem.h"
#include "io/outfile.h"
#include "model/cnn_encoder.h"
#include "model/seq_text_encoder.h"

#define MODEL_MAGIC "SHELFMDL"
enum { MODEL_VERSION = 7, FIRST_SECTIONED = 7, HEADER_SIZE = 24 };


/* ---- the parts' sections --------------------------------------------------------------- */

static void put_model_kind(model_writer *w, const void *ctx)
{
    const shelf_model *m = ctx;
    mw_u32(w, (uint32_t)m->modality);
    mw_u32(w, (uint32_t)m->hierarchical);
}

static void put_read(model_writer *w, const void *ctx)
{
    const shelf_read_options *r = &((const shelf_model *)ctx)->read;
    const char *s[] = {r->text_columns, r->label_column, r->id_column, r->label_sep,
                       r->image_column};
    for (size_t i = 0; i < sizeof s / sizeof *s; i++)
        mw_str(w, s[i]);
    mw_u32(w, (uint32_t)r->format);
    mw_u32(w, (uint32_t)(r->max_depth > 0 ? r->max_depth : 0));
}

static void put_labels(model_writer *w, const void *ctx)
{
    const shelf_model *m = ctx;
    mw_u32(w, (uint32_t)m->labels.n);
    for (size_t i = 0; i < m->labels.n; i++)
        mw_str(w, m->labels.keys[i]);
}

static void put_info(model_writer *w, const void *ctx)
{
    const model_info *in = &((const shelf_model *)ctx)->info;
    mw_str(w, in->train_path);
    mw_u64(w, (uint64_t)in->train_rows);
    mw_u64(w, (uint64_t)in->valid_rows);
    mw_u32(w, (uint32_t)in->epochs);
    mw_u32(w, (uint32_t)in->epochs_planned);
    mw_u32(w, (uint32_t)in->threads);
    mw_f32(w, in->lr);
    mw_u64(w, in->seed);
    mw_f64(w, in->valid_accuracy);
    mw_u64(w, (uint64_t)in->skipped_images);
    /* no wall-clock times, so that the same command, seed and one thread write the same
       bytes */
}

static void put_curve(model_writer *w, const void *ctx)
{
    const model_info *in = &((const shelf_model *)ctx)->info;
    mw_u32(w, (uint32_t)in->ncurve);
    for (int e = 0; e < in->ncurve; e++) {
        mw_f32(w, in->curve[e].loss);
        mw_f32(w, in->curve[e].valid_accuracy);
    }
}

static void put_threshold(model_writer *w, const void *ctx)
{
    const shelf_model *m = ctx;
    mw_f32(w, MODEL_AUTO_PRECISION);
    mw_f32(w, m->auto_threshold);
    mw_f32(w, m->auto_coverage);
    mw_f32(w, m->auto_precision);
}

static void put_calibration(model_writer *w, const void *ctx)
{
    mw_f32(w, ((const shelf_model *)ctx)->temperature);
}

static void put_adjustment(model_writer *w, const void *ctx)
{
    const shelf_model *m = ctx;
    mw_f32(w, m->adjust_tau);
    mw_floats(w, m->log_prior, (size_t)model_num_labels(m));
}

static void put_seen(model_writer *w, const void *ctx)
{
    const shelf_model *m = ctx;
    mw_u64(w, m->nseen);
    mw_put(w, m->seen, m->nseen * 8);
}

static void put_text_encoder(model_writer *w, const void *ctx)
{
    const encoder *e = ((const shelf_model *)ctx)->text;
    mw_u32(w, (uint32_t)e->ops->kind);
    e->ops->save(e, w);
}

static void put_text_encoder_int8(model_writer *w, const void *ctx)
{
    seq_text_encoder_save_int8(((const shelf_model *)ctx)->text, w);
}

static void put_text_head(model_writer *w, const void *ctx)
{
    label_head_save(&((const shelf_model *)ctx)->text_head, w);
}

static void put_image_encoder(model_writer *w, const void *ctx)
{
    const encoder *e = ((const shelf_model *)ctx)->image;
    mw_u32(w, (uint32_t)e->ops->kind);
    e->ops->save(e, w);
}

static void put_image_encoder_int8(model_writer *w, const void *ctx)
{
    cnn_encoder_save_int8(((const shelf_model *)ctx)->image, w);
}

static void put_text_head_int8(model_writer *w, const void *ctx)
{
    label_head_save_int8(&((const shelf_model *)ctx)->text_head, w);
}

static void put_image_head(model_writer *w, const void *ctx)
{
    label_head_save(&((const shelf_model *)ctx)->image_head, w);
}

/* The fusion head: its kind and branches, the gate, the biases, what the choice measured. */
static void put_fusion(model_writer *w, const void *ctx)
{
    const fusion_head *h = &((const shelf_model *)ctx)->head;
    mw_u32(w, (uint32_t)h->kind);
    mw_u32(w, (uint32_t)h->ngroups);
    mw_put(w, h->group, (size_t)h->nlabels * 4);
    mw_put(w, h->w_text, (size_t)h->ngroups * 4);
    mw_put(w, h->w_image, (size_t)h->ngroups * 4);
    mw_put(w, h->mean, sizeof h->mean);
    mw_put(w, h->scale, sizeof h->scale);
    mw_put(w, h->gate, sizeof h->gate);
    mw_put(w, h->bias, (size_t)h->nlabels * 4);
    mw_put(w, h->tried, sizeof h->tried);
    mw_u32(w, (uint32_t)h->folds);
    mw_u32(w, (uint32_t)h->rows);
}

static void put_sections(model_writer *w, const shelf_model *m);

static void put_member(model_writer *w, const void *ctx)
{
    put_sections(w, ctx);
}

/* The weights, then each member whole, in a section of its own. */
static void put_ensemble(model_writer *w, const void *ctx)
{
    const shelf_model *m = ctx;
    mw_u32(w, (uint32_t)m->nmembers);
    for (int j = 0; j < m->nmembers; j++)
        mw_f32(w, m->member_w[j]);
    for (int j = 0; j < m->nmembers; j++)
        mw_section(w, SECTION_MEMBER, put_member, m->member[j]);
}

static void put_state(model_writer *w, const void *ctx)
{
    const train_state *s = ((const shelf_model *)ctx)->state;
    const uint32_t u[3] = {(uint32_t)s->epochs_done, (uint32_t)s->best_epoch,
                           (uint32_t)s->bad_epochs};
    mw_put(w, u, sizeof u);
    mw_put(w, &s->best_acc, sizeof s->best_acc);
    mw_u64(w, s->steps);
    mw_u64(w, s->catalog);
    mw_u64(w, s->options);
    mw_u64(w, s->best ? s->nbest : 0);
    if (s->best)
        mw_floats(w, s->best, s->nbest);
    mw_u64(w, s->extra ? s->nextra : 0);
    if (s->extra)
        mw_floats(w, s->extra, s->nextra);
}

static void put_search(model_writer *w, const void *ctx)
{
    mw_str(w, ((const shelf_model *)ctx)->search_log);
}

static void put_sections(model_writer *w, const shelf_model *m)
{
    mw_section(w, SECTION_MODEL, put_model_kind, m);
    mw_section(w, SECTION_READ, put_read, m);
    mw_section(w, SECTION_LABELS, put_labels, m);
    mw_section(w, SECTION_INFO, put_info, m);
    if (m->info.ncurve)
        mw_section(w, SECTION_CURVE, put_curve, m);
    mw_section(w, SECTION_CALIBRATION, put_calibration, m);
    if (m->auto_threshold > 0)
        mw_section(w, SECTION_THRESHOLD, put_threshold, m);
    if (m->log_prior)
        mw_section(w, SECTION_ADJUST, put_adjustment, m);
    if (m->nseen)
        mw_section(w, SECTION_SEEN, put_seen, m);
    if (m->text) {
        if (model_text_int8(m))
            mw_section(w, SECTION_TEXT_ENCODER_INT8, put_text_encoder_int8, m);
        else
            mw_section(w, SECTION_TEXT_ENCODER, put_text_encoder, m);
        if (m->text_head.q)
            mw_section(w, SECTION_TEXT_HEAD_INT8, put_text_head_int8, m);
        else
            mw_section(w, SECTION_TEXT_HEAD, put_text_head, m);
    }
    if (m->image) {
        if (model_image_int8(m))
            mw_section(w, SECTION_IMAGE_ENCODER_INT8, put_image_encoder_int8, m);
        else
            mw_section(w, SECTION_IMAGE_ENCODER, put_image_encoder, m);
        mw_section(w, SECTION_IMAGE_HEAD, put_image_head, m);
    }
    if (m->modality == SHELF_MODALITY_BOTH && fusion_head_ready(&m->head)) /* else a
                                                         checkpoint taken before its fit */
        mw_section(w, SECTION_FUSION_HEAD, put_fusion, m);
    if (m->nmembers)
        mw_section(w, SECTION_ENSEMBLE, put_ensemble, m);
    if (m->search_log)
        mw_section(w, SECTION_SEARCH, put_search, m);
    if (m->state)
        mw_section(w, SECTION_STATE, put_state, m);
}

static void put_file(model_writer *w, const shelf_model *m, uint64_t size)
{
    mw_put(w, MODEL_MAGIC, 8);
    mw_u32(w, MODEL_VERSION);
    mw_u32(w, 0);
    mw_u64(w, size);
    put_sections(w, m);
    mw_u64(w, sum64_final(&w->sum));
}

shelf_status shelf_model_save(const shelf_model *m, const char *path, shelf_error *err)
{
    if (m && m->modality == SHELF_MODALITY_BOTH && !fusion_head_ready(&m->head) && !m->state)
        return err_set(err, SHELF_EINVAL, "%s: a fused model without its fusion head (only a "
                       "checkpoint may be written so)", path);
    model_writer count = {0}; /* the size in the header, from a pass that only counts */
    put_file(&count, m, 0);
    outfile o;
    shelf_status s = outfile_open(&o, path, err);
    if (s != SHELF_OK)
        return s;
    model_writer w = {.f = o.f};
    put_file(&w, m, count.size);
    return outfile_close(&o, 1, err);
}

/* ---- loading ----------------------------------------------------------------------------- */

/* The magic and the size; the version is only read here, and judged after the checksum,
 * so that a damaged version byte says "corrupted", not "upgrade shelf". */
static shelf_status check_header(model_reader *r, const char *path, uint64_t actual,
                                 uint32_t *version_out, shelf_error *err)
{
    char magic[8];
    if (actual < HEADER_SIZE + 8 || mr_get(r, magic, 8) || memcmp(magic, MODEL_MAGIC, 8) != 0)
        return err_set(err, SHELF_EMODEL, "%s: not a shelf model file", path);
    *version_out = mr_u32(r);
    mr_u32(r);
    uint64_t size = mr_u64(r);
    if (size != actual)
        return err_set(err, SHELF_EMODEL,
                       "%s: model file is %s: it should be %llu bytes, it is %llu", path,
                       actual < size ? "truncated" : "damaged (extra bytes)",
                       (unsigned long long)size, (unsigned long long)actual);
    return SHELF_OK;
}

static shelf_status check_version(uint32_t version, const char *path, shelf_error *err)
{
    if (version > MODEL_VERSION)
        return err_set(err, SHELF_EVERSION,
                       "%s: model file format version %u is newer than this shelf reads "
                       "(version %d); upgrade shelf to use it", path, version, MODEL_VERSION);
    if (version == 0)
        return err_set(err, SHELF_EMODEL, "%s: bad model file format version 0", path);
    return SHELF_OK;
}

uint64_t model_checksum(const void *data, size_t n)
{
    sum64 s = {0, {0}, 0};
    sum64_update(&s, data, n);
    return sum64_final(&s);
}

/* Opens path for reading if it is a regular file. The open does not block (a FIFO would
 * wait forever for a writer, in `shelf info` as in a server's reload); blocking reads are
 * restored once the file is known to be regular. */
shelf_status model_open(const char *path, const char *what, FILE **out, struct stat *st,
                        shelf_error *err)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return err_set(err, SHELF_EIO, "%s: cannot open %s: %s", path, what, strerror(errno));
    int flags = fstat(fd, st) == 0 && S_ISREG(st->st_mode) ? fcntl(fd, F_GETFL) : -1;
    *out = flags >= 0 && fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) == 0 ? fdopen(fd, "rb") : NULL;
    if (*out)
        return SHELF_OK;
    close(fd);
    return err_set(err, SHELF_EMODEL, "%s: not a regular file", path);
}

/* The model after the header into *out; 0, or -1 with r failed. */
static int parse_model(model_reader *r, shelf_model **out)
{
    shelf_model *m = model_new();
    if (!m)
        return mr_oom(r);
    if (r->version >= FIRST_SECTIONED)
        model_read_sections(r, m);
    else
        model_read_legacy(r, m);
    if (!r->failed && r->left != 0)
        mr_fail(r, "bytes after the last part");
    if (r->failed) {
        shelf_model_free(m);
        return -1;
    }
    *out = m;
    return 0;
}

/* The model after the header; SHELF_OK, or the error. A version-1 or 2 file that its
 * version's layout does not fit (for its contents, not for want of memory) is read again
 * in the layout before the change made to that version without a bump (r->early): the
 * checksum held, so the file is as a writer wrote it, and the one layout that fits is its
 * writer's. The later layout never fits an early file: version 2 reads the label count as
 * the temperature (a float far below 0.01 for any count under 10^9), version 1 the
 * training path's length as the hierarchy flag (more than 1 for any path), and the rest 4
 * bytes off. A file that fits neither is refused with the error of its version's layout. */
static shelf_status read_model(model_reader *r, const char *path, shelf_model **out,
                               shelf_error *err)
{
    model_reader start = *r;
    int failed = parse_model(r, out);
    if (failed && !r->oom && !r->early && (r->version == 1 || r->version == 2)) {
        model_reader later = *r;
        *r = start;
        r->early = 1;
        failed = fseek(r->f, HEADER_SIZE, SEEK_SET) != 0 || parse_model(r, out);
        if (failed && !r->oom)
            *r = later; /* the error of the layout the version names */
    }
    if (!failed)
        return SHELF_OK;
    if (r->oom)
        return err_set(err, SHELF_ENOMEM, "%s: out of memory loading the model", path);
    return err_set(err, SHELF_EMODEL, "%s: model file is corrupted (%s)", path,
                   r->why[0] ? r->why : "inconsistent contents");
}

shelf_status shelf_model_load(const char *path, shelf_model **out, shelf_error *err)
{
    struct stat st;
    FILE *f = NULL;
    shelf_status s = model_open(path, "model", &f, &st, err);
    if (s != SHELF_OK)
        return s;
    model_reader r = {.f = f, .left = (uint64_t)st.st_size - 8};
    if (st.st_size < HEADER_SIZE + 8)
        r.left = 0;
    s = check_header(&r, path, (uint64_t)st.st_size, &r.version, err);
    uint64_t fingerprint = 0;
    int sum = s == SHELF_OK ? mr_checksum_ok(f, (uint64_t)st.st_size, &fingerprint) : 1;
    if (sum == 0 && r.version == 1) { /* or summed by the rule before 7d13485 */
        sum = model_legacy_early_checksum_ok(f, (uint64_t)st.st_size);
        r.early = sum == 1;
    }
    if (sum < 0)
        s = err_set(err, SHELF_ENOMEM, "out of memory");
    else if (!sum)
        s = err_set(err, SHELF_EMODEL, "%s: model file is corrupted (checksum mismatch)", path);
    if (s == SHELF_OK)
        s = check_version(r.version, path, err);
    if (s == SHELF_OK && fseek(f, HEADER_SIZE, SEEK_SET) != 0)
        s = err_set(err, SHELF_EIO, "%s: cannot read the model: %s", path, strerror(errno));
    if (s == SHELF_OK)
        s = read_model(&r, path, out, err);
    if (s == SHELF_OK)
        (*out)->fingerprint = fingerprint;
    fclose(f);
    return s;
}

uint64_t shelf_model_fingerprint(const shelf_model *m)
{
    if (!m)
        return 0;
    if (m->fingerprint)
        return m->fingerprint;
    model_writer count = {0}, hash = {.hash_only = 1}; /* the file's checksum, unwritten */
    put_file(&count, m, 0);
    put_file(&hash, m, count.size);
    return sum64_final(&hash.sum);
}
