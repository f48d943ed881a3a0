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
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "core/mem.h"
#include "io/outfile.h"
#include "model/seq_text_encoder.h"

#define MODEL_MAGIC "SHELFMDL"
enum { MODEL_VERSION = 7, FIRST_SECTIONED = 7, HEADER_SIZE = 24, MODEL_MAX_DEPTH = 1 << 16 };

#define TAG(a, b, c, d) ((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)
enum {
    SECTION_MODEL = TAG('M', 'O', 'D', 'L'),     /* modality, hierarchy */
    SECTION_READ = TAG('R', 'E', 'A', 'D'),      /* how to read a catalog */
    SECTION_LABELS = TAG('L', 'A', 'B', 'L'),
    SECTION_INFO = TAG('I', 'N', 'F', 'O'),      /* what training recorded */
    SECTION_CALIBRATION = TAG('C', 'A', 'L', 'B'),
    SECTION_SEEN = TAG('S', 'E', 'E', 'N'),      /* the training texts' hashes */
    SECTION_TEXT_ENCODER = TAG('E', 'N', 'C', 'T'),
    SECTION_TEXT_HEAD = TAG('H', 'E', 'D', 'T'),
    SECTION_SEQ = TAG('S', 'E', 'Q', 'T'),       /* read only: a sequence encoder with its
                                                    head, as format 7 first wrote it */
    SECTION_IMAGE_ENCODER = TAG('E', 'N', 'C', 'I'),
    SECTION_IMAGE_HEAD = TAG('H', 'E', 'D', 'I'),
    SECTION_CNN = TAG('C', 'N', 'N', 'I'),       /* read only: the CNN with its classifier,
                                                    as format 7 first wrote it */
    SECTION_FUSION = TAG('F', 'U', 'S', 'E')
};

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

static void put_calibration(model_writer *w, const void *ctx)
{
    mw_f32(w, ((const shelf_model *)ctx)->temperature);
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

static void put_image_head(model_writer *w, const void *ctx)
{
    label_head_save(&((const shelf_model *)ctx)->image_head, w);
}

static void put_fusion(model_writer *w, const void *ctx)
{
    const fusion_head *h = &((const shelf_model *)ctx)->head;
    mw_u32(w, (uint32_t)h->ngroups);
    mw_put(w, h->group, (size_t)h->nlabels * 4);
    mw_put(w, h->w_text, (size_t)h->ngroups * 4);
    mw_put(w, h->w_image, (size_t)h->ngroups * 4);
}

static void put_sections(model_writer *w, const shelf_model *m)
{
    mw_section(w, SECTION_MODEL, put_model_kind, m);
    mw_section(w, SECTION_READ, put_read, m);
    mw_section(w, SECTION_LABELS, put_labels, m);
    mw_section(w, SECTION_INFO, put_info, m);
    mw_section(w, SECTION_CALIBRATION, put_calibration, m);
    if (m->nseen)
        mw_section(w, SECTION_SEEN, put_seen, m);
    if (m->text) {
        mw_section(w, SECTION_TEXT_ENCODER, put_text_encoder, m);
        mw_section(w, SECTION_TEXT_HEAD, put_text_head, m);
    }
    if (m->image) {
        mw_section(w, SECTION_IMAGE_ENCODER, put_image_encoder, m);
        mw_section(w, SECTION_IMAGE_HEAD, put_image_head, m);
    }
    if (m->modality == SHELF_MODALITY_BOTH)
        mw_section(w, SECTION_FUSION, put_fusion, m);
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

/* ---- reading: what both formats share -------------------------------------------------- */

int model_read_labels(model_reader *r, shelf_model *m)
{
    uint32_t n = mr_u32(r);
    mr_claim(r, "the label list", n, 4);
    for (uint32_t i = 0; i < n && !r->failed; i++) {
        char *s = mr_str(r);
        long id = s ? strmap_intern(&m->labels, s) : -1;
        mem_free(s);
        if (s && id < 0)
            return mr_oom(r);
        if (id != (long)i)
            return mr_fail(r, "a label is missing or repeated");
    }
    return r->failed ? -1 : 0;
}

void model_point_read_strings(shelf_model *m)
{
    m->read.text_columns = m->read_strings[0];
    m->read.label_column = m->read_strings[1];
    m->read.id_column = m->read_strings[2];
    m->read.label_sep = m->read_strings[3];
    m->read.image_column = m->read_strings[4];
}

int model_check_settings(model_reader *r, shelf_model *m)
{
    if (!(m->temperature >= 0.01f && m->temperature <= 100) ||
        m->read.format > SHELF_FORMAT_FASTTEXT || m->read.max_depth < 0 ||
        m->read.max_depth > MODEL_MAX_DEPTH)
        return mr_fail(r, NULL);
    return 0;
}

int model_read_seq(model_reader *r, shelf_model *m, seq_kind kind, const uint32_t *sizes)
{
    seq_text_encoder *t = NULL;
    int rc = seq_text_encoder_read_sizes(r, kind, sizes, &t);
    m->text = t ? &t->base : NULL;
    if (rc)
        return -1;
    /* the encoder's parameters, then its label head: head_w [N][width], head_b [N] */
    label_head *h = &m->text_head;
    const size_t in = (size_t)seq_width(&t->seq), N = (size_t)model_num_nodes(m);
    h->by_output = 1;
    if (mr_claim(r, "the sequence encoder's label head", in * N + N, 4))
        return -1;
    if (label_head_alloc(h, in, (int)N))
        return mr_oom(r);
    if (mr_u64(r) != t->seq.nparams + h->nparams)
        return mr_fail(r, "the sequence encoder's parameters do not fit its sizes");
    if (mr_get(r, t->seq.params, t->seq.nparams * 4))
        return -1;
    return mr_get(r, h->params, h->nparams * 4);
}

/* ---- reading the sections ---------------------------------------------------------------- */

/* Which sections were read, for those that need an earlier one. */
typedef struct load_state {
    int have_model, have_read, have_labels;
} load_state;

static int get_model_kind(model_reader *r, shelf_model *m)
{
    uint32_t modality = mr_u32(r), hierarchical = mr_u32(r);
    if (modality > SHELF_MODALITY_BOTH || hierarchical > 1)
        return mr_fail(r, NULL);
    m->modality = (shelf_modality)modality;
    m->hierarchical = (int)hierarchical;
    return r->failed ? -1 : 0;
}

static int get_read(model_reader *r, shelf_model *m)
{
    for (int i = 0; i < 5; i++)
        m->read_strings[i] = mr_str(r);
    model_point_read_strings(m);
    m->read.format = (shelf_format)mr_u32(r);
    m->read.max_depth = (int)mr_u32(r);
    return r->failed ? -1 : model_check_settings(r, m);
}

static int get_info(model_reader *r, shelf_model *m)
{
    model_info *in = &m->info;
    in->train_path = mr_str(r);
    in->train_rows = (long)mr_u64(r);
    in->valid_rows = (long)mr_u64(r);
    in->epochs = (int)mr_u32(r);
    in->epochs_planned = (int)mr_u32(r);
    in->threads = (int)mr_u32(r);
    in->lr = mr_f32(r);
    in->seed = mr_u64(r);
    in->valid_accuracy = mr_f64(r);
    in->skipped_images = (long)mr_u64(r);
    return r->failed ? -1 : 0;
}

int model_read_seen(model_reader *r, shelf_model *m)
{
    m->nseen = mr_u64(r);
    m->seen = mr_array(r, "the training texts' hashes", m->nseen, 8);
    for (size_t i = 1; m->seen && i < m->nseen; i++)
        if (m->seen[i] <= m->seen[i - 1])
            return mr_fail(r, NULL); /* kept sorted for bsearch */
    return m->seen ? 0 : -1;
}

/* The loaders of the encoders a text section may hold, by kind. */
static int get_text_encoder(model_reader *r, shelf_model *m)
{
    uint32_t kind = mr_u32(r);
    if (m->text)
        return mr_fail(r, "two text encoders");
    if (kind == ENCODER_BAG)
        return bag_encoder_load(r, &m->text);
    if (kind == ENCODER_GRU || kind == ENCODER_TRANSFORMER)
        return seq_text_encoder_load(r, (encoder_kind)kind, &m->text);
    return mr_fail(r, "an unknown text encoder");
}

static int get_text_head(model_reader *r, shelf_model *m)
{
    if (!m->text)
        return mr_fail(r, "a label head without its encoder");
    return label_head_load(&m->text_head, r, encoder_width(m->text), model_num_nodes(m),
                           m->text->ops->head_by_output);
}

static int get_seq(model_reader *r, shelf_model *m)
{
    uint32_t u[9];
    mr_get(r, u, sizeof u);
    if (r->failed || (u[0] != SEQ_GRU && u[0] != SEQ_TRANSFORMER) || m->text)
        return mr_fail(r, NULL);
    return model_read_seq(r, m, (seq_kind)u[0], u + 1);
}

/* The loaders of the encoders an image section may hold, by kind. */
static int get_image_encoder(model_reader *r, shelf_model *m)
{
    uint32_t kind = mr_u32(r);
    if (m->image)
        return mr_fail(r, "two image encoders");
    if (kind == ENCODER_CNN)
        return cnn_encoder_load(r, &m->image);
    return mr_fail(r, "an unknown image encoder");
}

static int get_image_head(model_reader *r, shelf_model *m)
{
    if (!m->image || m->image_head.params)
        return mr_fail(r, "an image head without its encoder");
    return label_head_load(&m->image_head, r, encoder_width(m->image), model_num_labels(m),
                           m->image->ops->head_by_output);
}

/* The CNN and its classifier as one section (files written before the image encoder). */
static int get_cnn(model_reader *r, shelf_model *m)
{
    if (m->image)
        return mr_fail(r, "two image encoders");
    return cnn_encoder_load_with_classifier(r, &m->image, &m->image_head, model_num_labels(m));
}

static int check_fusion(model_reader *r, const shelf_model *m)
{
    const fusion_head *h = &m->head;
    for (int c = 0; c < h->nlabels; c++)
        if (h->group[c] < 0 || h->group[c] >= h->ngroups)
            return mr_fail(r, NULL);
    for (int g = 0; g < h->ngroups; g++)
        if (!isfinite(h->w_text[g]) || !isfinite(h->w_image[g]))
            return mr_fail(r, NULL);
    return 0;
}

int model_read_fusion(model_reader *r, shelf_model *m, uint32_t G, int weights)
{
    int K = model_num_labels(m);
    if (r->failed || fusion_head_ready(&m->head) || G == 0 || G > (uint32_t)K)
        return mr_fail(r, NULL);
    int32_t *zero = mem_calloc((size_t)K + 1, sizeof *zero);
    if (!zero || fusion_head_init(&m->head, K, (int)G, zero)) {
        mem_free(zero);
        return mr_oom(r);
    }
    mem_free(zero);
    fusion_head *h = &m->head;
    if (weights && (mr_get(r, h->group, (size_t)K * 4) || mr_get(r, h->w_text, G * 4) ||
                    mr_get(r, h->w_image, G * 4)))
        return -1;
    return check_fusion(r, m);
}

/* One section into m; 1 when no part knows its tag. */
static int get_section(model_reader *r, uint32_t tag, shelf_model *m, load_state *ls)
{
    int labelled = ls->have_labels; /* the parts below need the labels and the taxonomy */
    switch (tag) {
    case SECTION_MODEL:
        return ls->have_model++ ? mr_fail(r, "two model sections") : get_model_kind(r, m);
    case SECTION_READ:
        return ls->have_read++ ? mr_fail(r, "two read sections") : get_read(r, m);
    case SECTION_LABELS:
        if (ls->have_labels++ || !ls->have_model || !ls->have_read)
            return mr_fail(r, "the labels out of place");
        if (model_read_labels(r, m))
            return -1;
        return model_build_taxonomy(m) ? mr_oom(r) : 0;
    case SECTION_INFO:
        return get_info(r, m);
    case SECTION_CALIBRATION:
        m->temperature = mr_f32(r);
        return r->failed ? -1 : model_check_settings(r, m);
    case SECTION_SEEN:
        return model_read_seen(r, m);
    case SECTION_TEXT_ENCODER:
        return labelled ? get_text_encoder(r, m) : mr_fail(r, "an encoder before the labels");
    case SECTION_TEXT_HEAD:
        return labelled ? get_text_head(r, m) : mr_fail(r, "a head before the labels");
    case SECTION_SEQ:
        return labelled ? get_seq(r, m) : mr_fail(r, "an encoder before the labels");
    case SECTION_IMAGE_ENCODER:
        return labelled ? get_image_encoder(r, m) : mr_fail(r, "an encoder before the labels");
    case SECTION_IMAGE_HEAD:
        return labelled ? get_image_head(r, m) : mr_fail(r, "a head before the labels");
    case SECTION_CNN:
        return labelled ? get_cnn(r, m) : mr_fail(r, "an encoder before the labels");
    case SECTION_FUSION:
        return labelled ? model_read_fusion(r, m, mr_u32(r), 1)
                        : mr_fail(r, "a fusion head before the labels");
    default:
        return 1;
    }
}

/* The sections, and whether they make a whole model of its modality. */
static int read_sections(model_reader *r, shelf_model *m)
{
    load_state ls = {0};
    uint32_t tag;
    model_reader section;
    while (!r->failed && mr_section(r, &tag, &section) == 0) {
        int rc = get_section(&section, tag, m, &ls);
        if (rc == 1 ? mr_section_skip(r, &section) : mr_section_end(r, &section))
            return -1;
    }
    if (r->failed)
        return -1;
    int text = m->text != NULL, image = m->image != NULL;
    if (!ls.have_labels || text != model_has_text(m) || image != model_has_image(m) ||
        (m->text && !m->text_head.params) || (m->image && !m->image_head.params) ||
        (m->modality == SHELF_MODALITY_BOTH) != fusion_head_ready(&m->head))
        return mr_fail(r, "a part of the model is missing");
    return 0;
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

/* Verifies the checksum of the whole file before anything in it is trusted, so that a
 * damaged file is refused before its sizes drive any allocation. 1 when it matches, 0 when
 * not, -1 out of memory. */
static int checksum_ok(FILE *f, uint64_t size)
{
    enum { CHUNK = 1 << 20 };
    unsigned char *chunk = mem_alloc(CHUNK);
    if (!chunk)
        return -1;
    sum64 s = {0, {0}, 0};
    uint64_t left = size - 8, have = 0;
    int ok = fseek(f, 0, SEEK_SET) == 0;
    while (ok && left) {
        size_t n = left < CHUNK ? (size_t)left : CHUNK;
        ok = fread(chunk, 1, n, f) == n;
        sum64_update(&s, chunk, n);
        left -= n;
    }
    ok = ok && fread(&have, 8, 1, f) == 1 && have == sum64_final(&s);
    mem_free(chunk);
    return ok;
}

/* Opens path for reading if it is a regular file. The open does not block (a FIFO would
 * wait forever for a writer, in `shelf info` as in a server's reload); blocking reads are
 * restored once the file is known to be regular. */
shelf_status model_open(const char *path, FILE **out, struct stat *st, shelf_error *err)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return err_set(err, SHELF_EIO, "%s: cannot open model: %s", path, strerror(errno));
    int flags = fstat(fd, st) == 0 && S_ISREG(st->st_mode) ? fcntl(fd, F_GETFL) : -1;
    *out = flags >= 0 && fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) == 0 ? fdopen(fd, "rb") : NULL;
    if (*out)
        return SHELF_OK;
    close(fd);
    return err_set(err, SHELF_EMODEL, "%s: not a regular file", path);
}

/* The model after the header; SHELF_OK, or the error. */
static shelf_status read_model(model_reader *r, const char *path, shelf_model **out,
                               shelf_error *err)
{
    shelf_model *m = model_new();
    if (!m)
        return err_set(err, SHELF_ENOMEM, "out of memory");
    if (r->version >= FIRST_SECTIONED)
        read_sections(r, m);
    else
        model_read_legacy(r, m);
    if (!r->failed && r->left != 0)
        mr_fail(r, "bytes after the last part");
    if (r->failed) {
        shelf_model_free(m);
        if (r->oom)
            return err_set(err, SHELF_ENOMEM, "%s: out of memory loading the model", path);
        return err_set(err, SHELF_EMODEL, "%s: model file is corrupted (%s)", path,
                       r->why[0] ? r->why : "inconsistent contents");
    }
    *out = m;
    return SHELF_OK;
}

shelf_status shelf_model_load(const char *path, shelf_model **out, shelf_error *err)
{
    struct stat st;
    FILE *f = NULL;
    shelf_status s = model_open(path, &f, &st, err);
    if (s != SHELF_OK)
        return s;
    model_reader r = {.f = f, .left = (uint64_t)st.st_size - 8};
    if (st.st_size < HEADER_SIZE + 8)
        r.left = 0;
    s = check_header(&r, path, (uint64_t)st.st_size, &r.version, err);
    int sum = s == SHELF_OK ? checksum_ok(f, (uint64_t)st.st_size) : 1;
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
    fclose(f);
    return s;
}
