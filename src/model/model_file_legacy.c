/* Model files of format versions 1 to 6, before the file was cut into sections: one run of
 * fields in a fixed order, read into today's model (an encoder and its label head).
 *
 * Version 2 added the modality (u32, after the header) and image models; version 3 the
 * fusion head of text+image models (version-2 fused models add the two log-probabilities:
 * a head of weights 1); version 4 the text encoder, last: u32 kind (0 the bag), then for a
 * sequence encoder its sizes, vocabulary and parameters; version 5 the sequence encoder's
 * subword rows (version-4 ones have none); version 6 the --max-depth the labels were cut at
 * (u32 after the temperature; 0: whole paths). A sequence model still carried an empty bag
 * (no rows, zero biases), which is dropped.
 *
 * Three changes were made without a version bump, so a version does not tell them apart:
 * before d99ec33 version 1 had no hierarchy flag (5 u32 settings, not 6) and its models
 * weighed character n-grams as much as words (0.6 as much since), before 782eb3f
 * version 2 had no temperature, and before 7d13485 version 1 was summed by another rule
 * (model_legacy_early_checksum_ok). Files of the earlier layout are read with r->early. */
#include <math.h>
#include <string.h>

#include "core/mem.h"
#include "model/model_file.h"

/* A sequence encoder's sizes: D, layers, heads, F, T, nwords, nbuckets, and from version 5
 * nsub */
enum { SEQ_SIZES = 8, SEQ_SIZES_V4 = 7 };

/* The bag's rows and the parameter block of old files: W[R][K], b[K] without embeddings,
 * else E[R][D], O[D][K], b[K]; split into the bag's embeddings and the label head. */
static int get_bag(model_reader *r, shelf_model *m, const feat_config *feat, uint32_t dim)
{
    bag_encoder *b = bag_encoder_new(feat, (int)dim);
    if (!b)
        return mr_oom(r);
    m->text = &b->base;
    b->char_norm_one = r->version == 1 && r->early; /* d99ec33 lightened them to 0.6 */
    if (bag_read_rows(b, r))
        return -1;
    if (model_build_taxonomy(m))
        return mr_oom(r);
    const uint64_t K = (uint64_t)model_num_nodes(m), R = b->nrows, D = dim;
    uint64_t n = mr_u64(r), want, x, y;
    int overflow = D ? __builtin_mul_overflow(R, D, &x) | __builtin_mul_overflow(D, K, &y) |
                           __builtin_add_overflow(x, y, &want) |
                           __builtin_add_overflow(want, K, &want)
                     : __builtin_mul_overflow(R, K, &x) | __builtin_add_overflow(x, K, &want);
    if (r->failed || overflow || n != want || mr_claim(r, "the text model's parameters", n, 4))
        return mr_fail(r, NULL);
    if (label_head_alloc(&m->text_head, D ? D : R, (int)K))
        return mr_oom(r);
    if (D && mr_get(r, b->emb, R * D * 4))
        return -1;
    return mr_get(r, m->text_head.params, m->text_head.nparams * 4);
}

/* The image part: the CNN and its classifier, as format 7's first image section kept them. */
static int get_image(model_reader *r, shelf_model *m)
{
    if (cnn_encoder_load_with_classifier(r, &m->image, &m->image_head, model_num_labels(m)))
        return -1;
    return model_build_taxonomy(m) ? mr_oom(r) : 0;
}

/* The fusion head of a fused model (version 3); a version-2 one adds the two encoders'
 * log-probabilities, as its CNN was trained to. */
static int get_fusion(model_reader *r, shelf_model *m, uint32_t version)
{
    return model_read_fusion(r, m, version >= 3 ? mr_u32(r) : 1, version >= 3);
}

/* The text encoder of a version-4 or later text model: nothing more for the bag; a
 * sequence encoder's sizes checked as training checks them, its words ascending. */
static int get_seq(model_reader *r, shelf_model *m)
{
    uint32_t kind = mr_u32(r), u[SEQ_SIZES] = {0};
    if (r->failed || kind == 0)
        return r->failed ? -1 : 0;
    if (kind > SEQ_TRANSFORMER ||
        mr_get(r, u, (r->version >= 5 ? SEQ_SIZES : SEQ_SIZES_V4) * 4))
        return mr_fail(r, NULL);
    encoder_free(m->text); /* the empty bag that sequence models carried */
    m->text = NULL;
    label_head_free(&m->text_head);
    return model_read_seq(r, m, (seq_kind)kind, u);
}

static void get_settings(model_reader *r, shelf_model *m, feat_config *feat, uint32_t *dim)
{
    if (r->version >= 2) {
        m->modality = (shelf_modality)mr_u32(r);
        if (m->modality > SHELF_MODALITY_BOTH)
            mr_fail(r, NULL);
    }
    uint32_t u[6] = {0};
    mr_get(r, u, (r->version == 1 && r->early ? 5 : 6) * 4);
    *feat = (feat_config){(int)u[0], (int)u[1], (int)u[2], u[3]};
    *dim = u[4];
    if (model_has_text(m) && (!bag_settings_ok(feat, u[4]) || u[5] > 1))
        mr_fail(r, NULL);
    m->hierarchical = u[5] != 0;
    m->info.train_path = mr_str(r);
    for (int i = 0; i < (r->version >= 2 ? 5 : 4); i++)
        m->read_strings[i] = mr_str(r);
    model_point_read_strings(m);
    m->read.format = (shelf_format)mr_u32(r);
    model_info *in = &m->info;
    in->train_rows = (long)mr_u64(r);
    in->valid_rows = (long)mr_u64(r);
    in->epochs = (int)mr_u32(r);
    in->epochs_planned = (int)mr_u32(r);
    in->threads = (int)mr_u32(r);
    in->lr = mr_f32(r);
    in->seed = mr_u64(r);
    in->train_seconds = mr_f64(r);
    in->valid_accuracy = mr_f64(r);
    if (r->version >= 2) {
        in->skipped_images = (long)mr_u64(r);
        in->fit_seconds = mr_f64(r);
        m->temperature = r->early ? 1 : mr_f32(r);
    }
    if (r->version >= 6)
        m->read.max_depth = (int)mr_u32(r);
    model_check_settings(r, m);
}

int model_read_legacy(model_reader *r, shelf_model *m)
{
    feat_config feat;
    uint32_t dim = 0;
    get_settings(r, m, &feat, &dim);
    if (r->failed || model_read_labels(r, m))
        return -1;
    if (model_has_text(m) && !get_bag(r, m, &feat, dim))
        model_read_seen(r, m);
    if (model_has_image(m) && !r->failed)
        get_image(r, m);
    if (m->modality == SHELF_MODALITY_BOTH && !r->failed)
        get_fusion(r, m, r->version);
    if (model_has_text(m) && r->version >= 4 && !r->failed)
        get_seq(r, m);
    return r->failed ? -1 : 0;
}

/* ---- the checksum of version-1 files written before 7d13485 ------------------------------ */

/* Their writer (ebece93's put_model) replayed over the file: each of its calls summed as it
 * summed them, for the rule drops bytes by call. Only lengths are read, each checked against
 * the bytes left, so a damaged file costs no allocation but the buffer. */
typedef struct early_sum {
    FILE *f;
    sum64 sum;
    uint64_t left; /* bytes before the stored checksum not summed yet */
    unsigned char *buf;
    int failed;
} early_sum;

enum { EARLY_CHUNK = 1 << 20 };

/* One write call of n bytes; out, when not NULL, gets them (n <= 8). */
static void early_put(early_sum *e, uint64_t n, void *out)
{
    if (e->failed || n > e->left) {
        e->failed = 1;
        return;
    }
    e->left -= n;
    for (int first = 1; n; first = 0) {
        size_t k = n < EARLY_CHUNK ? (size_t)n : EARLY_CHUNK;
        if (fread(e->buf, 1, k, e->f) != k) {
            e->failed = 1;
            return;
        }
        (first ? sum64_update_early : sum64_update)(&e->sum, e->buf, k);
        if (out && first)
            memcpy(out, e->buf, k);
        n -= k;
    }
}

static uint32_t early_u32(early_sum *e) { uint32_t v = 0; early_put(e, 4, &v); return v; }
static uint64_t early_u64(early_sum *e) { uint64_t v = 0; early_put(e, 8, &v); return v; }

/* put_str: u32 0 when absent, else length + 1 and the bytes (no call when empty) */
static void early_str(early_sum *e)
{
    uint32_t n = early_u32(e);
    if (n > 1)
        early_put(e, n - 1, NULL);
}

/* An array of count items of size bytes written in one call. */
static void early_array(early_sum *e, uint64_t count, uint64_t size)
{
    if (count > e->left / size)
        e->failed = 1;
    else
        early_put(e, count * size, NULL);
}

static void early_walk(early_sum *e)
{
    static const uint8_t settings[] = {8, 4, 4, 8, 20}; /* header, 5 u32 settings */
    static const uint8_t info[] = {4, 8, 8, 4, 4, 4, 4, 8, 8, 8}; /* format, training info */
    for (size_t i = 0; i < sizeof settings; i++)
        early_put(e, settings[i], NULL);
    for (int i = 0; i < 5; i++) /* the training path and the 4 read strings */
        early_str(e);
    for (size_t i = 0; i < sizeof info; i++)
        early_put(e, info[i], NULL);
    uint32_t nlabels = early_u32(e);
    for (uint32_t i = 0; i < nlabels && !e->failed; i++)
        early_str(e);
    uint32_t nrows = early_u32(e);
    for (uint32_t i = 0; i < nrows && !e->failed; i++) /* the rows' buckets, one by one */
        early_put(e, 4, NULL);
    early_array(e, nrows, 4); /* IDF weights */
    early_array(e, early_u64(e), 4); /* parameters */
    early_array(e, early_u64(e), 8); /* the training texts' hashes */
}

int model_legacy_early_checksum_ok(FILE *f, uint64_t size)
{
    early_sum e = {.f = f, .left = size - 8, .buf = mem_alloc(EARLY_CHUNK)};
    if (!e.buf)
        return -1;
    uint64_t have = 0;
    e.failed = fseek(f, 0, SEEK_SET) != 0;
    early_walk(&e);
    int ok = !e.failed && e.left == 0 && fread(&have, 8, 1, f) == 1 &&
             have == sum64_final(&e.sum);
    mem_free(e.buf);
    return ok;
}
