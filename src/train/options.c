/* The training options as data: one table (name, type, default, range, help, the encoders
 * each applies to) that shelf train's --help and parsing read through shelf.h, and that the
 * checks below read for every model; only what a table cannot say (defaults worked out from
 * the catalog, one option bounded by another) is written out by the encoders' checks. */
#include "train/options.h"

#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "core/hash.h"
#include "core/mem.h"
#include "model/bag_encoder.h"
#include "model/cnn.h"
#include "model/seq_encoder.h"
#include "train/loop.h"
#include "train/seq_trainer.h"

#define FIELD(f) offsetof(shelf_train_options, f)

static const char *const modalities[] = {"text", "image", "both", NULL};     /* shelf_modality */
static const char *const encoders[] = {"bag", "gru", "transformer", NULL};  /* shelf_text_encoder */
static const char *const balances[] = {"none", "weight", "oversample", "undersample", "adjust",
                                       NULL};
static const char *const optimizers[] = {"adamw", "sgd", NULL};             /* shelf_optimizer */
static const char *const schedules[] = {"onecycle", "cosine", "constant", NULL};
static const char *const augments[] = {"flip", "crop", "rotate", "jitter", NULL}; /* AUG_* bits */

enum { ALL = SHELF_FOR_ALL, TEXT = SHELF_FOR_TEXT, BAG = SHELF_FOR_BAG, SEQ = SHELF_FOR_SEQUENCE,
       GRU = SHELF_FOR_GRU, TRANSFORMER = SHELF_FOR_TRANSFORMER, CNN = SHELF_FOR_CNN,
       BELOW = SHELF_OPTION_BELOW_MAX, NEG = SHELF_OPTION_UNSET_NEG,
       PRESET = SHELF_OPTION_PRESET, NOT_FUSED = SHELF_OPTION_NOT_FUSED };

/* In groups (every model, text models, bag, sequence encoders, CNN): --help prints them so. */
static const shelf_option table[] = {
    {"modality", SHELF_OPTION_CHOICE, FIELD(modality), ALL, 0, NULL, 0, 0, modalities, 0,
     "text: titles and descriptions; image: the photos (a CNN); both: a text model and a CNN, "
     "weighed per taxonomy branch"},
    {"threads", SHELF_OPTION_INT, FIELD(threads), ALL, 0, "all cores", 0, LOOP_MAX_THREADS,
     NULL, 0, "threads (0: all cores; shelf runs at most 64)"},
    {"seed", SHELF_OPTION_U64, FIELD(seed), ALL, 1, NULL, 0, (double)UINT64_MAX, NULL, PRESET,
     "random seed"},
    {"balance", SHELF_OPTION_CHOICE, FIELD(balance), ALL, 0, NULL, 0, 0, balances, 0,
     "class balance: class-weighted loss, each epoch's products re-drawn, or (adjust, with "
     "--valid) rare labels' scores raised after training by a strength fitted on --valid"},
    {"balance-power", SHELF_OPTION_FLOAT, FIELD(balance_power), ALL, 0.5, NULL, 0, 4, NULL, 0,
     "class weight = (mean class size / size)^power"},
    {"label-smoothing", SHELF_OPTION_FLOAT, FIELD(label_smoothing), ALL, 0, NULL, 0, 1, NULL,
     BELOW, "share of the target spread over all labels"},

    {"text-encoder", SHELF_OPTION_CHOICE, FIELD(text_encoder), TEXT, 0, NULL, 0, 0, encoders,
     0, "bag: n-grams; gru (bidirectional) or transformer: tokens in order"},
    {"hierarchy", SHELF_OPTION_FLAG, FIELD(hierarchy), TEXT, 0, NULL, 0, 1, NULL, 0,
     "share weights along label paths"},

    {"epochs", SHELF_OPTION_INT, FIELD(epochs), BAG, 0, "from the catalog size, 3 to 15", 1,
     INT_MAX, NULL, NOT_FUSED, "passes over the data"},
    {"lr", SHELF_OPTION_FLOAT, FIELD(lr), BAG, 1, NULL, 0, 1e6, NULL, NOT_FUSED,
     "learning rate"},
    {"dim", SHELF_OPTION_INT, FIELD(dim), BAG, 0, NULL, 0, BAG_MAX_DIM, NULL, 0,
     "0: a sparse linear model; D: embeddings of size D"},
    {"ngrams", SHELF_OPTION_INT, FIELD(ngrams), BAG, 2, NULL, 1, BAG_MAX_NGRAMS, NULL, 0,
     "word n-grams up to N"},
    {"minn", SHELF_OPTION_INT, FIELD(minn), BAG, 2, NULL, 0, BAG_MAX_CHARN, NULL, NEG,
     "shortest character n-gram"},
    {"maxn", SHELF_OPTION_INT, FIELD(maxn), BAG, 5, NULL, 0, BAG_MAX_CHARN, NULL, NEG,
     "longest character n-gram; 0: none"},
    {"buckets", SHELF_OPTION_INT, FIELD(buckets), BAG, 2000000, NULL, 1, BAG_MAX_BUCKETS, NULL,
     0, "hash buckets of the n-grams"},

    {"epochs", SHELF_OPTION_INT, FIELD(epochs), SEQ, 0, "enough for 2,000 steps, 5 to 50", 1,
     INT_MAX, NULL, NOT_FUSED, "passes over the data"},
    {"lr", SHELF_OPTION_FLOAT, FIELD(lr), SEQ, 0.002, NULL, 0, 1e6, NULL, NOT_FUSED,
     "AdamW's peak learning rate"},
    {"batch", SHELF_OPTION_INT, FIELD(batch), SEQ, 32, NULL, 1, 4096, NULL, NOT_FUSED,
     "texts per step"},
    {"dim", SHELF_OPTION_INT, FIELD(dim), SEQ, 128, NULL, 1, 1024, NULL, 0, "width"},
    {"max-tokens", SHELF_OPTION_INT, FIELD(max_tokens), SEQ, 64, NULL, 1, SEQ_MAX_TOKENS, NULL,
     0, "tokens kept of a text"},
    {"layers", SHELF_OPTION_INT, FIELD(layers), GRU, 1, NULL, 1, SEQ_MAX_LAYERS, NULL, 0,
     "gru: layers"},
    {"layers", SHELF_OPTION_INT, FIELD(layers), TRANSFORMER, 2, NULL, 1, SEQ_MAX_LAYERS, NULL,
     0, "transformer: blocks"},
    {"heads", SHELF_OPTION_INT, FIELD(heads), TRANSFORMER, 4, NULL, 1, 1024, NULL, 0,
     "transformer: attention heads; they must divide --dim"},
    {"dropout", SHELF_OPTION_FLOAT, FIELD(dropout), SEQ, 0.1, NULL, 0, 1, NULL, NEG | BELOW,
     "share of token embeddings, pooled features and (transformer) attention and "
     "feed-forward outputs dropped"},
    {"buckets", SHELF_OPTION_INT, FIELD(buckets), SEQ, 0, NULL, 0, SEQ_MAX_WORDS, NULL, 0,
     "rows for subwords (bigrams, character 3-grams); 0: none"},
    {"weight-decay", SHELF_OPTION_FLOAT, FIELD(weight_decay), SEQ, 5e-4, NULL, 0, FLT_MAX, NULL,
     PRESET, "AdamW's weight decay"},

    {"epochs", SHELF_OPTION_INT, FIELD(epochs), CNN, 0,
     "from the catalog size: 800 steps, 8 to 30", 1, INT_MAX, NULL, 0, "passes over the data"},
    {"lr", SHELF_OPTION_FLOAT, FIELD(lr), CNN, 0, "adamw 0.002, sgd 0.05", 0, 1e6, NULL, 0,
     "peak learning rate"},
    {"batch", SHELF_OPTION_INT, FIELD(batch), CNN, 64, NULL, 1, 1024, NULL, 0,
     "images per step"},
    {"image-size", SHELF_OPTION_INT, FIELD(image_size), CNN, 64, NULL, CNN_MIN_SIZE,
     CNN_MAX_SIZE, NULL, 0, "input side in pixels"},
    {"width", SHELF_OPTION_INT, FIELD(width), CNN, 32, NULL, 1, CNN_MAX_WIDTH, NULL, 0,
     "channels of the first convolution"},
    {"optimizer", SHELF_OPTION_CHOICE, FIELD(optimizer), CNN, 0, NULL, 0, 0, optimizers, 0,
     "the optimizer"},
    {"weight-decay", SHELF_OPTION_FLOAT, FIELD(weight_decay), CNN, 5e-4, NULL, 0, 1, NULL,
     PRESET | BELOW, "weight decay"},
    {"schedule", SHELF_OPTION_CHOICE, FIELD(schedule), CNN, 0, NULL, 0, 0, schedules, 0,
     "learning rate schedule"},
    {"augment", SHELF_OPTION_SET, FIELD(augment), CNN, 15, NULL, 0, 0, augments, NEG,
     "augmentations of the training photos"},
};
enum { NOPTIONS = sizeof table / sizeof *table };
_Static_assert(NOPTIONS <= 64, "shelf_train_options.given has a bit per option");
/* choices are stored through an int: the enums must be ints */
_Static_assert(sizeof(shelf_modality) == sizeof(int) && sizeof(shelf_balance) == sizeof(int) &&
               sizeof(shelf_text_encoder) == sizeof(int) &&
               sizeof(shelf_optimizer) == sizeof(int) && sizeof(shelf_schedule) == sizeof(int),
               "an enum of shelf_train_options is not an int");

const shelf_option *shelf_train_option_table(size_t *n)
{
    *n = NOPTIONS;
    return table;
}

/* The first entry named name: its index is the option's bit in o->given. -1 if none. */
static int option_index(const char *name)
{
    for (int i = 0; i < NOPTIONS; i++)
        if (strcmp(table[i].name, name) == 0)
            return i;
    return -1;
}

int train_option_given(const shelf_train_options *o, const char *name)
{
    int i = option_index(name);
    return i >= 0 && (o->given & ((uint64_t)1 << i));
}

static void *field(void *base, const shelf_option *e)
{
    return (char *)base + e->offset;
}

static double value_of(const shelf_option *e, const void *base)
{
    const char *p = (const char *)base + e->offset;
    switch (e->type) {
    case SHELF_OPTION_FLOAT:
        return *(const float *)(const void *)p;
    case SHELF_OPTION_U64:
        return (double)*(const uint64_t *)(const void *)p;
    case SHELF_OPTION_STRING:
        return 0;
    default:
        return *(const int *)(const void *)p;
    }
}

static void store(const shelf_option *e, void *base, double v)
{
    if (e->type == SHELF_OPTION_FLOAT)
        *(float *)field(base, e) = (float)v;
    else if (e->type == SHELF_OPTION_U64)
        *(uint64_t *)field(base, e) = (uint64_t)v;
    else if (e->type != SHELF_OPTION_STRING)
        *(int *)field(base, e) = (int)v;
}

static double unset_value(const shelf_option *e)
{
    return e->flags & SHELF_OPTION_UNSET_NEG ? -1 : 0;
}

void shelf_train_options_default(shelf_train_options *o)
{
    memset(o, 0, sizeof *o);
    for (int i = 0; i < NOPTIONS; i++)
        store(&table[i], o, table[i].flags & SHELF_OPTION_PRESET ? table[i].def
                                                                 : unset_value(&table[i]));
}

shelf_train_options *shelf_train_options_new(void)
{
    shelf_train_options *o = mem_alloc(sizeof *o);
    if (o)
        shelf_train_options_default(o);
    return o;
}

void shelf_train_options_free(shelf_train_options *o) { mem_free(o); }

shelf_read_options *shelf_train_options_read(shelf_train_options *o)
{
    return o ? &o->read : NULL;
}

/* The index of the name [s, s+n) among choices, or -1. */
static int find_choice(const char *const *choices, const char *s, size_t n)
{
    for (int i = 0; choices[i]; i++)
        if (strlen(choices[i]) == n && strncmp(choices[i], s, n) == 0)
            return i;
    return -1;
}

static shelf_status choice_error(const shelf_option *e, const char *value, shelf_error *err)
{
    char list[256] = "";
    for (int i = 0; e->choices[i]; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
                 e->choices[i]);
    return err_set(err, SHELF_EINVAL, "--%s %s: expected %s%s", e->name, value,
                   e->type == SHELF_OPTION_SET ? "a comma list of " : "one of ", list);
}

/* A comma list of the choices (spaces around names allowed), "all" or "none": the bits. */
static shelf_status parse_set(const shelf_option *e, const char *value, int *bits,
                              shelf_error *err)
{
    int all = 0;
    while (e->choices[all])
        all++;
    *bits = 0;
    for (const char *p = value;;) {
        const char *end = p + strcspn(p, ","), *q = end;
        while (p < q && (*p == ' ' || *p == '\t'))
            p++;
        while (q > p && (q[-1] == ' ' || q[-1] == '\t'))
            q--;
        int i = find_choice(e->choices, p, (size_t)(q - p));
        if (i >= 0)
            *bits |= 1 << i;
        else if ((size_t)(q - p) == 3 && strncmp(p, "all", 3) == 0)
            *bits |= (1 << all) - 1;
        else if ((size_t)(q - p) != 4 || strncmp(p, "none", 4) != 0)
        {
            if (p == q)
                return choice_error(e, value, err);
            char list[256] = "";
            for (int k = 0; k < all; k++)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s, ",
                         e->choices[k]);
            return err_set(err, SHELF_EINVAL, "--%s: unknown name '%.*s' in '%s': use %sall "
                           "or none", e->name, (int)(q - p), p, value, list);
        }
        if (!*end)
            return SHELF_OK;
        p = end + 1;
    }
}

shelf_status shelf_option_parse(const shelf_option *e, void *base, const char *value,
                                shelf_error *err)
{
    if (e->type == SHELF_OPTION_FLAG) {
        if (value)
            return err_set(err, SHELF_EINVAL, "--%s takes no value", e->name);
        *(int *)field(base, e) = 1;
        return SHELF_OK;
    }
    if (!value)
        return err_set(err, SHELF_EINVAL, "--%s needs a value", e->name);
    char *end = NULL;
    errno = 0;
    switch (e->type) {
    case SHELF_OPTION_STRING:
        *(const char **)field(base, e) = value;
        return SHELF_OK;
    case SHELF_OPTION_INT: {
        long x = strtol(value, &end, 10);
        if (*value && !*end && !errno && x >= INT_MIN && x <= INT_MAX) {
            *(int *)field(base, e) = (int)x;
            return SHELF_OK;
        }
        break;
    }
    case SHELF_OPTION_U64: {
        unsigned long long x = strtoull(value, &end, 10);
        if (*value && !*end && !errno && !strchr(value, '-')) {
            *(uint64_t *)field(base, e) = x;
            return SHELF_OK;
        }
        break;
    }
    case SHELF_OPTION_FLOAT: {
        float x = strtof(value, &end);
        if (*value && !*end && !errno && isfinite(x)) {
            *(float *)field(base, e) = x;
            return SHELF_OK;
        }
        break;
    }
    case SHELF_OPTION_CHOICE: {
        int i = find_choice(e->choices, value, strlen(value));
        if (i < 0)
            return choice_error(e, value, err);
        *(int *)field(base, e) = i;
        return SHELF_OK;
    }
    case SHELF_OPTION_SET:
        return parse_set(e, value, (int *)field(base, e), err);
    case SHELF_OPTION_FLAG:
        break;
    }
    return err_set(err, SHELF_EINVAL, "--%s: '%s' is not a valid value (%s)", e->name, value,
                   e->type == SHELF_OPTION_FLOAT ? "a number" : "a whole number");
}

/* Whole numbers in full (268435456, not 2.68435e+08), for messages. */
static void number_text(const shelf_option *e, double v, char *out, size_t n)
{
    if (e->type == SHELF_OPTION_FLOAT)
        snprintf(out, n, "%g", v);
    else
        snprintf(out, n, "%.0f", v);
}

shelf_status shelf_option_check(const shelf_option *e, const void *base, shelf_error *err)
{
    double v = value_of(e, base);
    int n = 0;
    switch (e->type) {
    case SHELF_OPTION_CHOICE:
    case SHELF_OPTION_SET:
        while (e->choices[n])
            n++;
        if (e->type == SHELF_OPTION_CHOICE ? v >= 0 && v < n : v >= 0 && v < (1 << n))
            return SHELF_OK;
        return err_set(err, SHELF_EINVAL, "--%s: unknown value %g", e->name, v);
    case SHELF_OPTION_INT:
    case SHELF_OPTION_FLOAT:
    case SHELF_OPTION_U64:
        break;
    default:
        return SHELF_OK;
    }
    const int below = (e->flags & SHELF_OPTION_BELOW_MAX) != 0;
    if (v >= e->min && (below ? v < e->max : v <= e->max))
        return SHELF_OK;
    char lo[32], hi[32], val[32];
    number_text(e, e->min, lo, sizeof lo);
    number_text(e, e->max, hi, sizeof hi);
    number_text(e, v, val, sizeof val);
    /* a training option left at 0 takes its default: a negative one was meant otherwise */
    const int zero_is_default = e->applies && unset_value(e) == 0 &&
                                !(e->flags & SHELF_OPTION_PRESET);
    if (v < 0 && (e->min == 0 || zero_is_default))
        return err_set(err, SHELF_EINVAL, "--%s must not be negative%s, not %s", e->name,
                       zero_is_default ? " (0 means the default)" : "", val);
    if (!(v >= e->min))
        return err_set(err, SHELF_EINVAL, "--%s must be %s %s%s%s, not %s", e->name,
                       e->max >= INT_MAX ? "at least" : "between", lo,
                       e->max >= INT_MAX ? "" : " and ", e->max >= INT_MAX ? "" : hi, val);
    return err_set(err, SHELF_EINVAL, "--%s must be %s %s, not %s", e->name,
                   below ? "below" : "at most", hi, val);
}

shelf_status shelf_train_options_set(shelf_train_options *o, const char *name,
                                     const char *value, shelf_error *err)
{
    int i = option_index(name);
    if (i < 0)
        return err_set(err, SHELF_EINVAL, "unknown training option --%s", name);
    shelf_status st = shelf_option_parse(&table[i], o, value, err);
    if (st == SHELF_OK)
        o->given |= (uint64_t)1 << i;
    return st;
}

/* The encoders of the model o trains (SHELF_FOR_*). */
static unsigned model_encoders(const shelf_train_options *o)
{
    unsigned text = SHELF_FOR_BAG << o->text_encoder;
    return o->modality == SHELF_MODALITY_TEXT    ? text
           : o->modality == SHELF_MODALITY_IMAGE ? SHELF_FOR_CNN
                                                 : text | SHELF_FOR_CNN;
}

static int applies(const shelf_option *e, unsigned encoders, int fused)
{
    return (e->applies & encoders) && !(fused && (e->flags & SHELF_OPTION_NOT_FUSED));
}

/* "bag, gru": the encoders of mask, for messages. */
static void encoder_names(unsigned mask, char *out, size_t n)
{
    static const char *const names[] = {"bag", "gru", "transformer",
                                        "the CNN (--modality image or both)"};
    out[0] = '\0';
    for (int b = 0; b < 4; b++)
        if (mask & (1u << b))
            snprintf(out + strlen(out), n - strlen(out), "%s%s", out[0] ? ", " : "", names[b]);
}

/* Every option given by name applies to the model: else an error naming it and the model. */
static shelf_status check_given(const shelf_train_options *o, shelf_error *err)
{
    const unsigned enc = model_encoders(o);
    const int fused = o->modality == SHELF_MODALITY_BOTH;
    for (int i = 0; i < NOPTIONS; i++) {
        if (!(o->given & ((uint64_t)1 << i)))
            continue;
        unsigned any = 0;
        int ok = 0;
        for (int j = i; j < NOPTIONS; j++)
            if (strcmp(table[j].name, table[i].name) == 0) {
                any |= table[j].applies;
                ok |= applies(&table[j], enc, fused);
            }
        if (ok)
            continue;
        char model[96], for_[128];
        if (o->modality == SHELF_MODALITY_IMAGE)
            snprintf(model, sizeof model, "an image model (--modality image)");
        else
            snprintf(model, sizeof model, "%s--text-encoder %s)",
                     fused ? "a fused model (--modality both, " : "a text model (",
                     encoders[o->text_encoder]);
        encoder_names(any, for_, sizeof for_);
        return err_set(err, SHELF_EINVAL, "--%s does not apply to %s: it is for %s",
                       table[i].name, model, for_);
    }
    return SHELF_OK;
}

shelf_status options_fill(shelf_train_options *o, unsigned encoders, int fused,
                          shelf_error *err)
{
    for (int i = 0; i < NOPTIONS; i++) {
        const shelf_option *e = &table[i];
        if (!applies(e, encoders, fused))
            continue;
        if (!(e->flags & SHELF_OPTION_PRESET) && value_of(e, o) == unset_value(e)) {
            if (!e->def_text) /* else the encoder's check works it out */
                store(e, o, e->def);
            continue;
        }
        shelf_status st = shelf_option_check(e, o, err);
        if (st != SHELF_OK)
            return st;
    }
    return SHELF_OK;
}

/* Epochs when the user gave none: small catalogs need many passes, large ones few (their
 * products repeat each other), growing with the square root of the size so that a larger
 * catalog still gets more updates in all. */
static int default_epochs(size_t n)
{
    double e = 15.0 * sqrt(10000.0 / (double)(n ? n : 1));
    return e < 3 ? 3 : e > 15 ? 15 : (int)lround(e);
}

static shelf_status check_bag(shelf_train_options *o, size_t n, shelf_error *err)
{
    if (o->epochs <= 0)
        o->epochs = default_epochs(n);
    if (o->maxn > 0 && (o->minn < 1 || o->minn > o->maxn))
        return err_set(err, SHELF_EINVAL, "character n-grams need 1 <= minn <= maxn <= %d",
                       BAG_MAX_CHARN);
    return SHELF_OK;
}

shelf_status train_check_options(shelf_train_options *o, size_t n, shelf_error *err)
{
    if ((unsigned)o->modality > SHELF_MODALITY_BOTH)
        return err_set(err, SHELF_EINVAL, "unknown modality %d", (int)o->modality);
    if ((unsigned)o->text_encoder > SHELF_TEXT_ENCODER_TRANSFORMER)
        return err_set(err, SHELF_EINVAL, "unknown text encoder %d", (int)o->text_encoder);
    if (o->text_encoder != SHELF_TEXT_ENCODER_BAG && o->modality == SHELF_MODALITY_IMAGE)
        return err_set(err, SHELF_EINVAL, "--text-encoder %s needs text: --modality text or both",
                       encoders[o->text_encoder]);
    if (n > UINT32_MAX - 1)
        return err_set(err, SHELF_EINVAL, "at most %u products can be trained on", UINT32_MAX - 1);
    shelf_status st = check_given(o, err);
    if (st == SHELF_OK)
        st = options_fill(o, model_encoders(o), o->modality == SHELF_MODALITY_BOTH, err);
    if (st != SHELF_OK)
        return st;
    if (o->threads == 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        o->threads = cores < 1 ? 1 : cores > LOOP_MAX_THREADS ? LOOP_MAX_THREADS : (int)cores;
    }
    if (o->modality != SHELF_MODALITY_TEXT)
        return SHELF_OK; /* the image and fused trainers check the rest */
    return o->text_encoder == SHELF_TEXT_ENCODER_BAG ? check_bag(o, n, err)
                                                     : seq_check_options(o, n, err);
}

/* Epochs of a CNN when the user gave none: enough for IMAGE_MIN_STEPS steps, so that a
 * small photo catalog is not left half trained (2,640 photos of 81 classes: 0.373 after 8
 * epochs, 0.486 after 15), never fewer than the 8 that suit the large ones. */
enum { IMAGE_MIN_STEPS = 800, IMAGE_MIN_EPOCHS = 8, IMAGE_MAX_EPOCHS = 30 };

static int image_default_epochs(size_t n, int batch)
{
    const size_t per_epoch = (n + (size_t)batch - 1) / (size_t)batch;
    const size_t want = per_epoch ? (IMAGE_MIN_STEPS + per_epoch - 1) / per_epoch : 1;
    return want < IMAGE_MIN_EPOCHS ? IMAGE_MIN_EPOCHS
           : want > IMAGE_MAX_EPOCHS ? IMAGE_MAX_EPOCHS
                                     : (int)want;
}

shelf_status options_check_image(shelf_train_options *o, size_t n, shelf_error *err)
{
    shelf_status st = options_fill(o, SHELF_FOR_CNN, 0, err);
    if (st != SHELF_OK)
        return st;
    if (o->epochs <= 0)
        o->epochs = image_default_epochs(n, o->batch);
    if (o->lr <= 0)
        o->lr = o->optimizer == SHELF_OPTIMIZER_SGD ? 0.05f : 0.002f;
    if (o->image_size == CNN_MIN_SIZE && o->batch == 1) /* the last stage is 1x1 */
        return err_set(err, SHELF_EINVAL, "--batch 1 at --image-size %d leaves batch norm a "
                       "single value per channel; use a larger batch or image", CNN_MIN_SIZE);
    return SHELF_OK;
}

shelf_status shelf_train_options_check(const shelf_train_options *opts, shelf_error *err)
{
    shelf_train_options o = *opts;
    shelf_status st = train_check_options(&o, 1, err);
    if (st != SHELF_OK || opts->modality == SHELF_MODALITY_TEXT)
        return st;
    o = *opts;
    return options_check_image(&o, 0, err);
}

uint64_t train_options_fingerprint(const shelf_train_options *o, size_t valid)
{
    const double v[] = {o->modality, o->text_encoder,  o->epochs,        o->lr,
                        o->dim,      o->ngrams,        o->minn,          o->maxn,
                        o->buckets,  o->hierarchy,     o->balance,       o->balance_power,
                        o->label_smoothing, (double)valid, o->image_size, o->width,
                        o->batch,    o->optimizer,     o->weight_decay,  o->schedule,
                        o->augment,  o->max_tokens,    o->layers,        o->heads,
                        o->dropout};
    return hash_fnv1a(hash_fnv1a(HASH_FNV_BASIS, v, sizeof v), &o->seed, sizeof o->seed);
}
