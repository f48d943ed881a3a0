/* The model file: everything needed to featurize and predict, in one checksummed file.
 *
 *   "SHELFMDL"  u32 version  u32 reserved  u64 total file size
 *   sections, in a fixed order (see put_model / get_model)
 *   u64 checksum of every byte before it
 *
 * Numbers are in the machine's byte order (little-endian on every machine shelf is built
 * for so far). Written to a temporary file beside the target, fsynced and
 * renamed over it, so a crash leaves either the old file or the new one. */
#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "core/mem.h"
#include "io/outfile.h"
#include "model/model.h"

#define MODEL_MAGIC "SHELFMDL"
/* Version 2 added the modality (u32, after the header) and image models; version 3 the
 * fusion head of text+image models (version-2 fused models add the two log-probabilities:
 * a head of weights 1); version 4 the text encoder, last: u32 kind (0 the bag), then for a
 * sequence encoder its sizes, vocabulary and parameters (see put_seq); version 5 the
 * sequence encoder's subword rows (version-4 ones have none); version 6 the --max-depth
 * the labels were cut at (u32 after the temperature; 0: whole paths), which eval applies to
 * its test labels too. */
enum { MODEL_VERSION = 6, HEADER_SIZE = 24, MODEL_MAX_DEPTH = 1 << 16 };
/* A sequence encoder's sizes: D, layers, heads, F, T, nwords, nbuckets, and from version 5
 * nsub */
enum { SEQ_SIZES = 8, SEQ_SIZES_V4 = 7 };
/* Image models: size, width, augment, batch, optimizer, schedule; weight decay, mean[3], std[3] */
enum { IMAGE_SETTINGS_SIZE = 6 * 4 + 7 * 4 };

/* A 64-bit checksum over 8-byte words, fast enough for models of hundreds of MB. */
typedef struct sum64 { uint64_t h; unsigned char tail[8]; size_t ntail; } sum64;

static void sum_word(sum64 *s, uint64_t w)
{
    s->h = (s->h ^ w) * 0x100000001b3ULL;
    s->h ^= s->h >> 29;
}

static void sum_update(sum64 *s, const void *data, size_t n)
{
    const unsigned char *p = data;
    while (n && s->ntail) { /* complete a word begun by the previous call */
        size_t take = 8 - s->ntail < n ? 8 - s->ntail : n;
        memcpy(s->tail + s->ntail, p, take);
        s->ntail += take, p += take, n -= take;
        if (s->ntail == 8) {
            uint64_t w;
            memcpy(&w, s->tail, 8);
            sum_word(s, w);
            s->ntail = 0;
        }
    }
    if (s->ntail) /* still not a whole word: all of data went into the tail */
        return;
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        sum_word(s, w);
    }
    memcpy(s->tail, p, n);
    s->ntail = n;
}

static uint64_t sum_final(const sum64 *s)
{
    sum64 t = *s;
    for (size_t i = 0; i < t.ntail; i++)
        sum_word(&t, t.tail[i] + ((uint64_t)(i + 1) << 56));
    return t.h ^ 0x9e3779b97f4a7c15ULL;
}

/* ---- writing --------------------------------------------------------------------------- */

typedef struct writer { FILE *f; sum64 sum; uint64_t size; int failed; } writer;

static void put(writer *w, const void *p, size_t n)
{
    if (w->failed || n == 0)
        return;
    if (fwrite(p, 1, n, w->f) != n)
        w->failed = 1;
    sum_update(&w->sum, p, n);
    w->size += n;
}
static void put_u32(writer *w, uint32_t v) { put(w, &v, 4); }
static void put_u64(writer *w, uint64_t v) { put(w, &v, 8); }
static void put_f64(writer *w, double v) { put(w, &v, 8); }
static void put_str(writer *w, const char *s)
{
    put_u32(w, s ? (uint32_t)strlen(s) + 1 : 0); /* 0: absent, else length + 1 */
    if (s)
        put(w, s, strlen(s));
}

static uint64_t file_size(const shelf_model *m)
{
    uint64_t n = HEADER_SIZE + 8, strs = 0;
    const char *s[] = {m->info.train_path, m->read.text_columns, m->read.label_column,
                       m->read.id_column, m->read.label_sep, m->read.image_column};
    for (size_t i = 0; i < 6; i++)
        strs += 4 + (s[i] ? strlen(s[i]) : 0);
    for (size_t i = 0; i < m->labels.n; i++)
        strs += 4 + strlen(m->labels.keys[i]);
    n += 4 /* modality */ + strs + 6 * 4 + 4 /* format */ + 8 + 8 + 3 * 4 + 4 + 8 + 8 + 8 +
         8 + 8 /* skipped images, fit seconds */ + 4 /* temperature */ + 4 /* max depth */ +
         4 /* nlabels */;
    if (model_has_image(m))
        n += IMAGE_SETTINGS_SIZE + 8 + m->net.nparams * 4 + 8 + m->net.nstats * 4;
    if (model_has_text(m))
        n += 4 + (uint64_t)m->nrows * 8 + 8 + m->nparams * 4 + 8 + m->nseen * 8;
    if (m->modality == SHELF_MODALITY_BOTH)
        n += 4 + (uint64_t)m->head.nlabels * 4 + (uint64_t)m->head.ngroups * 8;
    if (model_has_text(m))
        n += 4;
    if (model_has_text(m) && m->seq)
        n += SEQ_SIZES * 4 + (uint64_t)m->seq->nwords * 8 + 8 + m->seq->nparams * 4;
    return n;
}

static void put_image(writer *w, const shelf_model *m)
{
    const image_settings *is = &m->img;
    const uint32_t u[6] = {(uint32_t)m->net.size, (uint32_t)m->net.width, (uint32_t)is->augment,
                           (uint32_t)is->batch, (uint32_t)is->optimizer, (uint32_t)is->schedule};
    put(w, u, sizeof u);
    put(w, &is->weight_decay, 4);
    put(w, is->mean, 12);
    put(w, is->std, 12);
    put_u64(w, m->net.nparams);
    put(w, m->net.params, m->net.nparams * 4);
    put_u64(w, m->net.nstats);
    put(w, m->net.stats, m->net.nstats * 4);
}

/* The text encoder: its kind, and a sequence encoder's sizes, words and parameters. */
static void put_seq(writer *w, const shelf_model *m)
{
    const seq_encoder *e = m->seq;
    put_u32(w, e ? (uint32_t)e->kind : 0);
    if (!e)
        return;
    const uint32_t u[SEQ_SIZES] = {(uint32_t)e->D, (uint32_t)e->layers, (uint32_t)e->heads,
                                   (uint32_t)e->F, (uint32_t)e->T, e->nwords, e->nbuckets,
                                   e->nsub};
    put(w, u, sizeof u);
    put(w, e->words, (size_t)e->nwords * 8);
    put_u64(w, e->nparams);
    put(w, e->params, e->nparams * 4);
}

static void put_model(writer *w, const shelf_model *m)
{
    put(w, MODEL_MAGIC, 8);
    put_u32(w, MODEL_VERSION);
    put_u32(w, 0);
    put_u64(w, file_size(m));
    put_u32(w, (uint32_t)m->modality);
    const uint32_t feat[6] = {(uint32_t)m->feat.ngrams, (uint32_t)m->feat.minn,
                              (uint32_t)m->feat.maxn, m->feat.buckets, (uint32_t)m->dim,
                              (uint32_t)m->hierarchical};
    put(w, feat, sizeof feat);
    put_str(w, m->info.train_path);
    put_str(w, m->read.text_columns);
    put_str(w, m->read.label_column);
    put_str(w, m->read.id_column);
    put_str(w, m->read.label_sep);
    put_str(w, m->read.image_column);
    put_u32(w, (uint32_t)m->read.format);
    const model_info *in = &m->info;
    put_u64(w, (uint64_t)in->train_rows);
    put_u64(w, (uint64_t)in->valid_rows);
    put_u32(w, (uint32_t)in->epochs);
    put_u32(w, (uint32_t)in->epochs_planned);
    put_u32(w, (uint32_t)in->threads);
    put(w, &in->lr, 4);
    put_u64(w, in->seed);
    put_f64(w, 0); /* training seconds: wall-clock times are not kept, so that the same
                      command, seed and one thread write the same bytes (0: unknown) */
    put_f64(w, in->valid_accuracy);
    put_u64(w, (uint64_t)in->skipped_images);
    put_f64(w, 0); /* seconds in training steps: as above */
    put(w, &m->temperature, 4);
    put_u32(w, (uint32_t)(m->read.max_depth > 0 ? m->read.max_depth : 0));
    put_u32(w, (uint32_t)m->labels.n);
    for (size_t i = 0; i < m->labels.n; i++)
        put_str(w, m->labels.keys[i]);
    if (model_has_text(m)) {
        put_u32(w, m->nrows);
        put(w, m->rows.buckets, (size_t)m->nrows * 4); /* each row's bucket, ascending */
        put(w, m->idf, (size_t)m->nrows * 4);
        put_u64(w, m->nparams);
        put(w, m->params, m->nparams * 4);
        put_u64(w, m->nseen);
        put(w, m->seen, m->nseen * 8);
    }
    if (model_has_image(m))
        put_image(w, m);
    if (m->modality == SHELF_MODALITY_BOTH) {
        const fusion_head *h = &m->head;
        put_u32(w, (uint32_t)h->ngroups);
        put(w, h->group, (size_t)h->nlabels * 4);
        put(w, h->w_text, (size_t)h->ngroups * 4);
        put(w, h->w_image, (size_t)h->ngroups * 4);
    }
    if (model_has_text(m))
        put_seq(w, m);
    put_u64(w, sum_final(&w->sum));
}

shelf_status shelf_model_save(const shelf_model *m, const char *path, shelf_error *err)
{
    outfile o;
    shelf_status s = outfile_open(&o, path, err);
    if (s != SHELF_OK)
        return s;
    writer w = {o.f, {0, {0}, 0}, 0, 0};
    put_model(&w, m);
    return outfile_close(&o, 1, err);
}

/* ---- reading --------------------------------------------------------------------------- */

typedef struct reader {
    FILE *f;
    sum64 sum;
    uint64_t left; /* bytes of the file not read yet, checksum excluded */
    int failed;
    int oom;       /* failed for want of memory, not because of the file */
    char why[160]; /* what was wrong, when known */
} reader;

/* An allocation failed: the load ends in SHELF_ENOMEM, not "corrupted". Returns -1. */
static int out_of_memory(reader *r)
{
    r->oom = 1;
    r->failed = 1;
    return -1;
}

/* Whether the file still holds count items of size bytes: every size a file claims is
 * checked so before it drives an allocation, or a small crafted file could make each load
 * allocate gigabytes. 0, or -1 with the reader failed and the claim in r->why. */
static int claim(reader *r, const char *what, uint64_t count, uint64_t size)
{
    if (!r->failed && count <= r->left / size)
        return 0;
    if (!r->failed)
        snprintf(r->why, sizeof r->why, "%s claims %.0f bytes but the file has %llu left",
                 what, (double)count * (double)size, (unsigned long long)r->left);
    r->failed = 1;
    return -1;
}

static int get(reader *r, void *p, size_t n)
{
    if (r->failed || n > r->left || fread(p, 1, n, r->f) != n) {
        r->failed = 1;
        memset(p, 0, n);
        return -1;
    }
    sum_update(&r->sum, p, n);
    r->left -= n;
    return 0;
}
static uint32_t get_u32(reader *r) { uint32_t v = 0; get(r, &v, 4); return v; }
static uint64_t get_u64(reader *r) { uint64_t v = 0; get(r, &v, 8); return v; }
static double get_f64(reader *r) { double v = 0; get(r, &v, 8); return v; }

/* A string of at most the bytes left; NULL when absent (or on failure, with r->failed). */
static char *get_str(reader *r)
{
    uint32_t n = get_u32(r);
    if (n == 0 || r->failed)
        return NULL;
    if (claim(r, "a string", n - 1, 1))
        return NULL;
    char *s = mem_alloc(n);
    if (!s) {
        out_of_memory(r);
        return NULL;
    }
    if (get(r, s, n - 1)) {
        mem_free(s);
        return NULL;
    }
    s[n - 1] = '\0';
    return s;
}

/* mem_alloc(count * size) after checking that the file holds that many bytes. */
static void *get_array(reader *r, const char *what, uint64_t count, size_t size)
{
    if (claim(r, what, count, size))
        return NULL;
    void *p = mem_alloc(count ? count * size : 1);
    if (!p)
        out_of_memory(r);
    else if (get(r, p, count * size)) {
        mem_free(p);
        p = NULL;
    }
    return p;
}

static int get_labels(reader *r, shelf_model *m)
{
    uint32_t n = get_u32(r);
    claim(r, "the label list", n, 4);
    for (uint32_t i = 0; i < n && !r->failed; i++) {
        char *s = get_str(r); /* NULL: absent, or out of memory (get_str says which) */
        long id = s ? strmap_intern(&m->labels, s) : -2;
        if (id == -1)
            out_of_memory(r);
        else if (id != (long)i)
            r->failed = 1;
        mem_free(s);
    }
    return r->failed ? -1 : 0;
}

static int get_rows(reader *r, shelf_model *m)
{
    m->nrows = get_u32(r);
    uint32_t *buckets = get_array(r, "the feature rows", m->nrows, 4);
    if (!buckets)
        return -1;
    if (bucket_map_init(&m->rows, m->nrows)) {
        mem_free(buckets);
        return out_of_memory(r);
    }
    for (uint32_t i = 0; i < m->nrows; i++) /* the writer stores them in increasing order */
        if (buckets[i] >= m->feat.buckets || bucket_map_add(&m->rows, buckets[i]))
            goto fail;
    mem_free(buckets);
    m->idf = get_array(r, "the IDF weights", m->nrows, 4);
    return m->idf ? 0 : -1;
fail:
    mem_free(buckets);
    r->failed = 1;
    return -1;
}

static int get_params(reader *r, shelf_model *m)
{
    if (model_build_taxonomy(m))
        return out_of_memory(r);
    uint64_t n = get_u64(r), K = (uint64_t)model_num_nodes(m), R = m->nrows;
    uint64_t D = (uint64_t)m->dim, want, a, b;
    int overflow = D ? __builtin_mul_overflow(R, D, &a) | __builtin_mul_overflow(D, K, &b) |
                           __builtin_add_overflow(a, b, &want) |
                           __builtin_add_overflow(want, K, &want)
                     : __builtin_mul_overflow(R, K, &a) | __builtin_add_overflow(a, K, &want);
    if (r->failed || overflow || n != want || claim(r, "the text model's parameters", n, 4)) {
        r->failed = 1;
        return -1;
    }
    if (model_alloc_params(m))
        return out_of_memory(r);
    if (get(r, m->params, m->nparams * 4))
        return -1;
    m->nseen = get_u64(r);
    m->seen = get_array(r, "the training texts' hashes", m->nseen, 8);
    for (size_t i = 1; m->seen && i < m->nseen; i++)
        if (m->seen[i] <= m->seen[i - 1])
            r->failed = 1; /* kept sorted for bsearch */
    return m->seen && !r->failed ? 0 : -1;
}

/* The image section: settings, then the network's tensors, their sizes checked against
 * the shapes the settings give. */
static int get_image(reader *r, shelf_model *m)
{
    image_settings *is = &m->img;
    uint32_t u[6];
    get(r, u, sizeof u);
    get(r, &is->weight_decay, 4);
    get(r, is->mean, 12);
    get(r, is->std, 12);
    is->augment = (int)u[2];
    is->batch = (int)u[3];
    is->optimizer = (int)u[4];
    is->schedule = (int)u[5];
    cnn shape;
    if (r->failed || u[0] > CNN_MAX_SIZE || u[1] > CNN_MAX_WIDTH ||
        cnn_shape(&shape, (int)u[0], (int)u[1], (int)m->labels.n) ||
        claim(r, "the image network", (uint64_t)shape.nparams + shape.nstats, 4)) {
        r->failed = 1;
        return -1;
    }
    if (cnn_init(&m->net, (int)u[0], (int)u[1], (int)m->labels.n) || model_build_taxonomy(m))
        return out_of_memory(r);
    for (int c = 0; c < 3; c++)
        if (!(is->std[c] > 0) || !isfinite(is->mean[c]))
            r->failed = 1;
    if (get_u64(r) != m->net.nparams || get(r, m->net.params, m->net.nparams * 4) ||
        get_u64(r) != m->net.nstats || get(r, m->net.stats, m->net.nstats * 4))
        r->failed = 1;
    for (int l = 0; l < CNN_CONVS && !r->failed; l++) /* variances are sqrt'ed at prediction */
        for (int i = 0; i < m->net.conv[l].cout; i++)
            if (!(m->net.stats[m->net.var_off[l] + i] >= 0) ||
                !isfinite(m->net.stats[m->net.var_off[l] + i]))
                r->failed = 1;
    return r->failed ? -1 : 0;
}

/* The fusion head of a fused model (version 3); a version-2 one adds the two encoders'
 * log-probabilities, as its CNN was trained to. */
static int get_head(reader *r, shelf_model *m, uint32_t version)
{
    int K = model_num_labels(m);
    fusion_head *h = &m->head;
    uint32_t G = version >= 3 ? get_u32(r) : 1;
    if (G == 0 || G > (uint32_t)K) {
        r->failed = 1;
        return -1;
    }
    int32_t *zero = mem_calloc((size_t)K + 1, sizeof *zero);
    int failed = !zero || fusion_head_init(h, K, (int)G, zero);
    mem_free(zero);
    if (failed)
        return out_of_memory(r);
    if (version >= 3 && (get(r, h->group, (size_t)K * 4) || get(r, h->w_text, G * 4) ||
                         get(r, h->w_image, G * 4)))
        r->failed = 1;
    for (int c = 0; c < K && !r->failed; c++)
        if (h->group[c] < 0 || h->group[c] >= (int32_t)G)
            r->failed = 1;
    for (uint32_t g = 0; g < G && !r->failed; g++)
        if (!isfinite(h->w_text[g]) || !isfinite(h->w_image[g]))
            r->failed = 1;
    return r->failed ? -1 : 0;
}

/* The text encoder of a version-4 or later text model: nothing more for the bag; a
 * sequence encoder's sizes checked as training checks them, its words ascending. */
static int get_seq(reader *r, shelf_model *m, uint32_t version)
{
    uint32_t kind = get_u32(r), u[SEQ_SIZES] = {0};
    if (r->failed || kind == 0)
        return r->failed ? -1 : 0;
    if (kind > SEQ_TRANSFORMER || get(r, u, (version >= 5 ? SEQ_SIZES : SEQ_SIZES_V4) * 4)) {
        r->failed = 1;
        return -1;
    }
    seq_encoder *e = mem_calloc(1, sizeof *e);
    if (!e)
        return out_of_memory(r);
    m->seq = e;
    *e = (seq_encoder){.kind = (seq_kind)kind, .D = (int)u[0], .layers = (int)u[1],
                       .heads = (int)u[2], .F = (int)u[3], .T = (int)u[4], .nwords = u[5],
                       .nbuckets = u[6], .nsub = u[7], .K = model_num_nodes(m)};
    if (u[0] > 4096 || u[1] > SEQ_MAX_LAYERS || u[2] > 4096 || u[3] > 16384 ||
        u[5] > SEQ_MAX_WORDS || u[6] > SEQ_MAX_WORDS || u[7] > SEQ_MAX_WORDS ||
        seq_encoder_size(e) || claim(r, "the sequence encoder", (uint64_t)e->nwords * 2 +
                                     e->nparams, 4) ||
        !(e->words = get_array(r, "the sequence encoder's words", e->nwords, 8))) {
        r->failed = 1;
        return -1;
    }
    if (seq_encoder_alloc(e))
        return out_of_memory(r);
    if (get_u64(r) != e->nparams || get(r, e->params, e->nparams * 4)) {
        r->failed = 1;
        return -1;
    }
    for (uint32_t i = 1; i < e->nwords; i++)
        if (e->words[i] <= e->words[i - 1])
            r->failed = 1;
    return r->failed ? -1 : 0;
}

static void get_settings(reader *r, shelf_model *m, uint32_t version)
{
    if (version >= 2) {
        m->modality = (shelf_modality)get_u32(r);
        if (m->modality > SHELF_MODALITY_BOTH)
            r->failed = 1;
    }
    uint32_t feat[6];
    get(r, feat, sizeof feat);
    if (model_has_text(m) &&
        (feat[0] > MODEL_MAX_NGRAMS || feat[1] > MODEL_MAX_CHARN || feat[2] > MODEL_MAX_CHARN ||
         feat[3] == 0 || feat[3] > MODEL_MAX_BUCKETS || feat[4] > MODEL_MAX_DIM || feat[5] > 1))
        r->failed = 1;
    m->hierarchical = feat[5] != 0;
    m->feat = (feat_config){(int)feat[0], (int)feat[1], (int)feat[2], feat[3]};
    m->dim = (int)feat[4];
    m->info.train_path = get_str(r);
    for (int i = 0; i < (version >= 2 ? 5 : 4); i++)
        m->read_strings[i] = get_str(r);
    m->read.text_columns = m->read_strings[0];
    m->read.label_column = m->read_strings[1];
    m->read.id_column = m->read_strings[2];
    m->read.label_sep = m->read_strings[3];
    m->read.image_column = m->read_strings[4];
    m->read.format = (shelf_format)get_u32(r);
    model_info *in = &m->info;
    in->train_rows = (long)get_u64(r);
    in->valid_rows = (long)get_u64(r);
    in->epochs = (int)get_u32(r);
    in->epochs_planned = (int)get_u32(r);
    in->threads = (int)get_u32(r);
    get(r, &in->lr, 4);
    in->seed = get_u64(r);
    in->train_seconds = get_f64(r);
    in->valid_accuracy = get_f64(r);
    if (version >= 2) {
        in->skipped_images = (long)get_u64(r);
        in->fit_seconds = get_f64(r);
        get(r, &m->temperature, 4);
        if (!(m->temperature >= 0.01f && m->temperature <= 100))
            r->failed = 1;
    }
    if (version >= 6) {
        uint32_t depth = get_u32(r);
        if (depth > MODEL_MAX_DEPTH)
            r->failed = 1;
        m->read.max_depth = (int)depth;
    }
    if (m->read.format > SHELF_FORMAT_FASTTEXT)
        r->failed = 1;
}

/* The magic and the size; the version is only read here, and judged after the checksum,
 * so that a damaged version byte says "corrupted", not "upgrade shelf". */
static shelf_status check_header(reader *r, const char *path, uint64_t actual,
                                 uint32_t *version_out, shelf_error *err)
{
    char magic[8];
    if (actual < HEADER_SIZE + 8 || get(r, magic, 8) || memcmp(magic, MODEL_MAGIC, 8) != 0)
        return err_set(err, SHELF_EMODEL, "%s: not a shelf model file", path);
    *version_out = get_u32(r);
    get_u32(r);
    uint64_t size = get_u64(r);
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
    sum_update(&s, data, n);
    return sum_final(&s);
}

/* Verifies the checksum of the whole file before anything in it is trusted, so that a
 * damaged file is refused before its sizes drive any allocation. 1 when it matches, 0 when
 * not, -1 when out of memory. */
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
        sum_update(&s, chunk, n);
        left -= n;
    }
    ok = ok && fread(&have, 8, 1, f) == 1 && have == sum_final(&s);
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

shelf_status shelf_model_load(const char *path, shelf_model **out, shelf_error *err)
{
    struct stat st;
    FILE *f = NULL;
    shelf_status s = model_open(path, &f, &st, err);
    if (s != SHELF_OK)
        return s;
    reader r = {.f = f, .left = (uint64_t)st.st_size - 8};
    if (st.st_size < HEADER_SIZE + 8)
        r.left = 0;
    uint32_t version = 0;
    s = check_header(&r, path, (uint64_t)st.st_size, &version, err);
    int sum_ok = s == SHELF_OK ? checksum_ok(f, (uint64_t)st.st_size) : 1;
    if (sum_ok < 0)
        s = err_set(err, SHELF_ENOMEM, "%s: out of memory reading the model", path);
    else if (!sum_ok)
        s = err_set(err, SHELF_EMODEL, "%s: model file is corrupted (checksum mismatch)", path);
    if (s == SHELF_OK)
        s = check_version(version, path, err);
    if (s == SHELF_OK && fseek(f, HEADER_SIZE, SEEK_SET) != 0)
        s = err_set(err, SHELF_EIO, "%s: cannot read the model: %s", path, strerror(errno));
    shelf_model *m = s == SHELF_OK ? model_new() : NULL;
    if (s == SHELF_OK && !m)
        s = err_set(err, SHELF_ENOMEM, "out of memory");
    if (s == SHELF_OK) {
        get_settings(&r, m, version);
        if (!r.failed && !get_labels(&r, m)) {
            if (model_has_text(m) && !get_rows(&r, m))
                get_params(&r, m);
            if (model_has_image(m) && !r.failed)
                get_image(&r, m);
            if (m->modality == SHELF_MODALITY_BOTH && !r.failed)
                get_head(&r, m, version);
            if (model_has_text(m) && version >= 4 && !r.failed)
                get_seq(&r, m, version);
        }
        uint64_t want = sum_final(&r.sum), have = 0;
        r.left += 8;
        if (r.oom)
            s = err_set(err, SHELF_ENOMEM, "%s: out of memory reading the model", path);
        else if (r.failed || r.left != 8 || get(&r, &have, 8) || have != want)
            s = err_set(err, SHELF_EMODEL, "%s: model file is corrupted (%s)", path,
                        r.why[0] ? r.why : r.failed ? "inconsistent contents"
                                                    : "checksum mismatch");
    }
    fclose(f);
    if (s != SHELF_OK) {
        shelf_model_free(m);
        return s;
    }
    *out = m;
    return SHELF_OK;
}
