/* Reading the model file's sections (format 7 on; model_file.c has the layout), and the
 * parts that the formats before sections (model_file_legacy.c) read alike. Each part
 * checks that what it read is something training could have written. */
#include <math.h>
#include <string.h>

#include "core/mem.h"
#include "model/cnn_encoder.h"
#include "model/ensemble.h"
#include "model/model_file.h"
#include "model/seq_text_encoder.h"

enum { MODEL_MAX_DEPTH = 1 << 16 };

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
    int rc = seq_text_encoder_read_sizes(r, kind, sizes, 0, &t);
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
    int have_model, have_read, have_labels, have_info;
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

/* u32 epochs, then each one's loss and validation accuracy (-1, or in [0, 1]). */
static int get_curve(model_reader *r, shelf_model *m)
{
    model_info *in = &m->info;
    uint32_t n = mr_u32(r);
    if (r->failed || in->curve || n == 0)
        return mr_fail(r, NULL);
    if (!(in->curve = mr_array(r, "the training curve", n, sizeof *in->curve)))
        return -1;
    in->ncurve = (int)n;
    for (uint32_t e = 0; e < n; e++) {
        float loss = in->curve[e].loss, acc = in->curve[e].valid_accuracy;
        if (!isfinite(loss) || loss < 0 || !(acc == -1 || (acc >= 0 && acc <= 1)))
            return mr_fail(r, NULL);
    }
    return 0;
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

/* An encoder's section: u32 kind, then what its own save wrote; image says which side's
 * (the CNN's, or a text encoder's). */
static int get_encoder(model_reader *r, encoder **slot, int image)
{
    uint32_t kind = mr_u32(r);
    if (*slot)
        return mr_fail(r, "two encoders of one side");
    if (image != (kind == ENCODER_CNN))
        return mr_fail(r, "an encoder on the wrong side");
    switch (kind) {
    case ENCODER_BAG:
        return bag_encoder_load(r, slot);
    case ENCODER_GRU:
    case ENCODER_TRANSFORMER:
        return seq_text_encoder_load(r, (encoder_kind)kind, slot);
    case ENCODER_CNN:
        return cnn_encoder_load(r, slot);
    default:
        return mr_fail(r, "an unknown encoder");
    }
}

/* The label head of encoder e, to out scores. */
static int get_head(model_reader *r, const encoder *e, label_head *h, int out)
{
    if (!e || h->params)
        return mr_fail(r, "a label head without its encoder");
    return label_head_load(h, r, encoder_width(e), out, e->ops->head_by_output);
}

/* The int8 head that shelf quantize makes of the sparse bag's. */
static int get_head_int8(model_reader *r, shelf_model *m)
{
    const bag_encoder *b = model_bag(m);
    if (!b || b->dim || m->text_head.params)
        return mr_fail(r, "an int8 label head without a sparse bag before it");
    return label_head_load_int8(&m->text_head, r, b->nrows, model_num_nodes(m));
}

/* A checkpoint's training state (its best parameters as many as the model's). */
static int get_state(model_reader *r, shelf_model *m)
{
    if (m->state)
        return mr_fail(r, "two training states");
    train_state *s = m->state = mem_calloc(1, sizeof *s);
    if (!s)
        return mr_oom(r);
    uint32_t u[3];
    mr_get(r, u, sizeof u);
    mr_get(r, &s->best_acc, sizeof s->best_acc);
    s->steps = mr_u64(r);
    s->catalog = mr_u64(r);
    s->options = mr_u64(r);
    uint64_t nbest = mr_u64(r);
    s->epochs_done = (int)u[0], s->best_epoch = (int)u[1], s->bad_epochs = (int)u[2];
    if (r->failed || u[0] > 100000 || u[1] > u[0] || u[2] > u[0] ||
        !(s->best_acc >= -1 && s->best_acc <= 1) || mr_claim(r, "the best epoch", nbest, 4))
        return mr_fail(r, "a damaged training state");
    if (nbest) {
        if (!(s->best = mem_alloc((size_t)nbest * sizeof *s->best)))
            return mr_oom(r);
        s->nbest = (size_t)nbest;
        if (mr_floats(r, "the best epoch", s->best, s->nbest))
            return -1;
    }
    uint64_t nextra = mr_u64(r);
    if (r->failed || mr_claim(r, "the trainer's state", nextra, 4))
        return mr_fail(r, "a damaged training state");
    if (!nextra)
        return 0;
    if (!(s->extra = mem_alloc((size_t)nextra * sizeof *s->extra)))
        return mr_oom(r);
    s->nextra = (size_t)nextra;
    return mr_floats(r, "the trainer's state", s->extra, s->nextra);
}

static int get_seq(model_reader *r, shelf_model *m)
{
    uint32_t u[9];
    mr_get(r, u, sizeof u);
    if (r->failed || (u[0] != SEQ_GRU && u[0] != SEQ_TRANSFORMER) || m->text)
        return mr_fail(r, NULL);
    return model_read_seq(r, m, (seq_kind)u[0], u + 1);
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
    if (h->kind < 0 || h->kind >= FUSION_KINDS || h->folds < 0 || h->rows < 0)
        return mr_fail(r, NULL);
    for (int c = 0; c < h->nlabels; c++)
        if (h->group[c] < 0 || h->group[c] >= h->ngroups || !isfinite(h->bias[c]))
            return mr_fail(r, NULL);
    for (int g = 0; g < h->ngroups; g++)
        if (!isfinite(h->w_text[g]) || !isfinite(h->w_image[g]))
            return mr_fail(r, NULL);
    for (int j = 0; j < FUSION_SIGNALS; j++)
        if (!isfinite(h->mean[j]) || !isfinite(h->scale[j]))
            return mr_fail(r, NULL);
    for (int side = 0; side < 2; side++)
        for (int j = 0; j <= FUSION_SIGNALS; j++)
            if (!isfinite(h->gate[side][j]))
                return mr_fail(r, NULL);
    for (int k = 0; k < FUSION_KINDS; k++)
        if (!isfinite(h->tried[k].accuracy) || !isfinite(h->tried[k].macro_f1))
            return mr_fail(r, NULL);
    return 0;
}

/* A head of G branches (of kind branch, its other parts as fusion_head_init leaves them). */
static int new_head(model_reader *r, shelf_model *m, uint32_t G)
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
    return 0;
}

int model_read_fusion(model_reader *r, shelf_model *m, uint32_t G, int weights)
{
    if (new_head(r, m, G))
        return -1;
    fusion_head *h = &m->head;
    if (weights && (mr_get(r, h->group, (size_t)h->nlabels * 4) || mr_get(r, h->w_text, G * 4) ||
                    mr_get(r, h->w_image, G * 4)))
        return -1;
    return check_fusion(r, m);
}

int model_read_fusion_head(model_reader *r, shelf_model *m)
{
    uint32_t kind = mr_u32(r), G = mr_u32(r);
    if (r->failed || kind >= FUSION_KINDS || new_head(r, m, G))
        return mr_fail(r, NULL);
    fusion_head *h = &m->head;
    size_t K = (size_t)h->nlabels;
    h->kind = (fusion_kind)kind;
    if (mr_get(r, h->group, K * 4) || mr_get(r, h->w_text, G * 4) ||
        mr_get(r, h->w_image, G * 4) || mr_get(r, h->mean, sizeof h->mean) ||
        mr_get(r, h->scale, sizeof h->scale) || mr_get(r, h->gate, sizeof h->gate) ||
        mr_get(r, h->bias, K * 4) || mr_get(r, h->tried, sizeof h->tried))
        return -1;
    uint32_t folds = mr_u32(r), rows = mr_u32(r);
    if (r->failed || folds > 1000 || rows > INT32_MAX)
        return mr_fail(r, NULL);
    h->folds = (int)folds;
    h->rows = (int)rows;
    return check_fusion(r, m);
}

/* An ensemble: its weights, then each member, a text model over the same labels. */
static int get_ensemble(model_reader *r, shelf_model *m)
{
    uint32_t n = mr_u32(r);
    if (r->failed || r->member || m->nmembers || m->text || n < 2 || n > MODEL_MAX_MEMBERS)
        return mr_fail(r, "an ensemble out of place");
    float sum = 0;
    for (uint32_t j = 0; j < n; j++) {
        m->member_w[j] = mr_f32(r);
        if (r->failed || !(m->member_w[j] >= 0 && m->member_w[j] <= 1))
            return mr_fail(r, "an ensemble's weight out of range");
        sum += m->member_w[j];
    }
    if (!(fabsf(sum - 1) < 1e-3f))
        return mr_fail(r, "an ensemble's weights do not sum to 1");
    for (uint32_t j = 0; j < n; j++) {
        uint32_t tag;
        model_reader section;
        if (mr_section(r, &tag, &section) || tag != SECTION_MEMBER)
            return mr_fail(r, "an ensemble's member is missing");
        shelf_model *x = model_new();
        if (!x)
            return mr_oom(r);
        m->member[m->nmembers++] = x; /* freed with m */
        section.member = 1;
        model_read_sections(&section, x);
        if (mr_section_end(r, &section))
            return -1;
        if (x->modality != SHELF_MODALITY_TEXT || !ensemble_labels_match(m, x))
            return mr_fail(r, "an ensemble's member is not a text model of its labels");
    }
    return 0;
}

/* One section into m; 1 when no part knows its tag. */
static int get_section(model_reader *r, uint32_t tag, shelf_model *m, load_state *ls)
{
    const int parts = tag == SECTION_TEXT_ENCODER || tag == SECTION_TEXT_HEAD ||
                      tag == SECTION_TEXT_HEAD_INT8 || tag == SECTION_TEXT_ENCODER_INT8 ||
                      tag == SECTION_SEQ || tag == SECTION_IMAGE_ENCODER ||
                      tag == SECTION_IMAGE_ENCODER_INT8 ||
                      tag == SECTION_IMAGE_HEAD || tag == SECTION_CNN || tag == SECTION_FUSION ||
                      tag == SECTION_FUSION_HEAD || tag == SECTION_ENSEMBLE;
    if (parts && !ls->have_labels) /* encoders and heads are sized by the labels */
        return mr_fail(r, "a part of the model before its labels");
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
    case SECTION_INFO: /* its strings would be read over the first's */
        return ls->have_info++ ? mr_fail(r, "two info sections") : get_info(r, m);
    case SECTION_CURVE:
        return get_curve(r, m);
    case SECTION_THRESHOLD: {
        float target = mr_f32(r), t = mr_f32(r), c = mr_f32(r), q = mr_f32(r);
        if (r->failed || target != MODEL_AUTO_PRECISION || !(t > 0 && t < 1) ||
            !(c >= 0 && c <= 1) || !(q >= 0 && q <= 1))
            return mr_fail(r, NULL);
        m->auto_threshold = t;
        m->auto_coverage = c;
        m->auto_precision = q;
        return 0;
    }
    case SECTION_ADJUST: {
        const size_t K = (size_t)model_num_labels(m);
        if (m->log_prior)
            return mr_fail(r, "two logit adjustments");
        m->adjust_tau = mr_f32(r);
        if (r->failed || !(m->adjust_tau >= 0 && m->adjust_tau <= 4) ||
            mr_claim(r, "the logit adjustment", K, 4))
            return mr_fail(r, NULL);
        if (!(m->log_prior = mem_alloc((K ? K : 1) * sizeof *m->log_prior)))
            return mr_oom(r);
        if (mr_floats(r, "the logit adjustment", m->log_prior, K))
            return -1;
        for (size_t c = 0; c < K; c++)
            if (!(m->log_prior[c] <= 0 && m->log_prior[c] > -100))
                return mr_fail(r, "a label's share of the training products out of range");
        return 0;
    }
    case SECTION_CALIBRATION:
        m->temperature = mr_f32(r);
        return r->failed ? -1 : model_check_settings(r, m);
    case SECTION_SEEN:
        return m->seen ? mr_fail(r, "two sets of training texts' hashes")
                       : model_read_seen(r, m);
    case SECTION_TEXT_ENCODER:
        return get_encoder(r, &m->text, 0);
    case SECTION_TEXT_HEAD:
        return get_head(r, m->text, &m->text_head, model_num_nodes(m));
    case SECTION_TEXT_HEAD_INT8:
        return get_head_int8(r, m);
    case SECTION_TEXT_ENCODER_INT8:
        if (m->text)
            return mr_fail(r, "two encoders of one side");
        return seq_text_encoder_load_int8(r, &m->text);
    case SECTION_SEQ:
        return get_seq(r, m);
    case SECTION_IMAGE_ENCODER:
        return get_encoder(r, &m->image, 1);
    case SECTION_IMAGE_ENCODER_INT8:
        if (m->image)
            return mr_fail(r, "two encoders of one side");
        return cnn_encoder_load_int8(r, &m->image);
    case SECTION_IMAGE_HEAD:
        return get_head(r, m->image, &m->image_head, model_num_labels(m));
    case SECTION_CNN:
        return get_cnn(r, m);
    case SECTION_FUSION:
        return model_read_fusion(r, m, mr_u32(r), 1);
    case SECTION_FUSION_HEAD:
        return model_read_fusion_head(r, m);
    case SECTION_ENSEMBLE:
        return get_ensemble(r, m);
    case SECTION_STATE:
        return get_state(r, m);
    case SECTION_SEARCH:
        if (m->search_log)
            return mr_fail(r, "two searches");
        m->search_log = mr_str(r);
        return r->failed ? -1 : 0;
    default:
        return 1;
    }
}

int model_read_sections(model_reader *r, shelf_model *m)
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
    int text = model_reads_text(m), image = m->image != NULL;
    if (!ls.have_labels || text != model_has_text(m) || image != model_has_image(m) ||
        (m->text && !m->text_head.params) || (m->image && !m->image_head.params) ||
        /* a fused model's checkpoint taken while its CNN trained has no head yet */
        (m->modality == SHELF_MODALITY_BOTH
             ? !fusion_head_ready(&m->head) && !m->state
             : fusion_head_ready(&m->head)) ||
        (m->nmembers && (m->text || m->image || m->modality != SHELF_MODALITY_TEXT)))
        return mr_fail(r, "a part of the model is missing");
    return 0;
}

