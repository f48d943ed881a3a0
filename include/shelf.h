/* shelf: product categorization for e-commerce catalogs.
 *
 * The only header a library user includes. Handles are opaque; every call that can fail
 * returns a shelf_status and, when given a shelf_error, fills it with a message that names
 * the file, line and field involved. The library never exits, aborts or prints. */
#ifndef SHELF_H
#define SHELF_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The library's version; its major number is libshelf.so's soname (libshelf.so.0): a
 * change that breaks a program built against an earlier release raises it. */
#define SHELF_VERSION "0.21.0"
#define SHELF_VERSION_MAJOR 0
#ifdef __cplusplus
extern "C" {
#endif

/* The version of the library linked at run time (which may differ from the header's). */
const char *shelf_version(void);

/* ---- status ------------------------------------------------------------------------- */

/* X(name, text): one list generates the enum and shelf_strerror(). */
#define SHELF_STATUS_MAP(X)                                                   \
    X(OK, "success")                                                          \
    X(END, "end of input")                                                    \
    X(ENOMEM, "out of memory")                                                \
    X(EIO, "input/output error")                                              \
    X(EINVAL, "invalid argument")                                             \
    X(EDATA, "bad input data")                                                \
    X(EMODEL, "bad model file")                                               \
    X(EVERSION, "model file from a newer version of shelf")

typedef enum shelf_status {
#define SHELF_STATUS_ENUM(name, text) SHELF_##name,
    SHELF_STATUS_MAP(SHELF_STATUS_ENUM)
#undef SHELF_STATUS_ENUM
} shelf_status;

#define SHELF_ERROR_MAX 1024

/* Filled by a failing call: the status and a message ready to print. */
typedef struct shelf_error {
    shelf_status code;
    char message[SHELF_ERROR_MAX];
} shelf_error;

const char *shelf_strerror(shelf_status status);

/* ---- catalogs ------------------------------------------------------------------------ */

typedef enum shelf_format {
    SHELF_FORMAT_AUTO = 0, /* from the extension (.csv, .tsv, .jsonl/.ndjson, .json, each
                              perhaps with .gz); "-" is CSV */
    SHELF_FORMAT_CSV,
    SHELF_FORMAT_TSV,
    SHELF_FORMAT_JSONL, /* also a JSON array of objects (.json) */
    SHELF_FORMAT_FASTTEXT /* __label__X text; a label's '_' stands for a space */
} shelf_format;

/* Parses "csv", "tsv", "jsonl", "ndjson" or "fasttext"; SHELF_EINVAL otherwise. */
shelf_status shelf_format_parse(const char *name, shelf_format *out);

typedef struct shelf_read_options {
    shelf_format format;
    const char *text_columns; /* "title,description"; NULL: whichever of title, name,
                                 description exist, joined */
    const char *label_column; /* NULL: "category" */
    const char *id_column;    /* NULL: "id" when present, else the line number */
    const char *label_sep;    /* NULL: SHELF_DEFAULT_LABEL_SEP, " > " */
    int require_label;        /* 1 for training and evaluation, 0 for prediction */
    int skip_bad;             /* skip and count bad rows instead of failing */
    int fix_utf8;             /* replace invalid UTF-8 with U+FFFD and count, not fail */
    const char *image_column; /* the image reference (a path, relative to the data file's
                                 folder); NULL: "image" when there is such a column */
    int for_images;           /* read for an image model: no text column is needed, and the
                                 image column must exist */
    int max_depth;            /* > 0: keep the first max_depth levels of each label path
                                 (recorded in the model: eval cuts test labels there too) */
    int no_header;            /* CSV, TSV: the first row is a product, and the columns are
                                 named by their number from 1 ("2", not "title") */
    char delimiter;           /* CSV, TSV: the field separator; 0: tab for TSV, and for CSV
                                 ',' unless the first line has more ';' than ',' outside
                                 quotes. Neither of these two is recorded in the model file */
    const char *keep_columns; /* "brand,price": columns each product carries through
                                 (shelf_reader_kept, shelf_catalog_kept), for outputs that
                                 copy them; each
                                 must exist (JSONL: in the first object). Not in the model
                                 file; the fastText format has no columns to keep */
} shelf_read_options;

/* One product. Strings are NUL-terminated UTF-8 owned by the reader or catalog. A missing
 * label or image is "". line is the line its record starts on (the header is line 1). */
typedef struct shelf_product {
    const char *id;
    const char *text;
    const char *label;
    const char *image; /* the image reference as written in the data file, trimmed */
    long line;
    /* The image's bytes in memory (JPEG, PNG or WebP, as a server receives them); when set,
     * prediction decodes these instead of reading `image`, which then only names the image
     * in messages. NULL for products read from a catalog. */
    const unsigned char *image_data;
    size_t image_size;
} shelf_product;

typedef struct shelf_read_stats {
    long rows;            /* products delivered */
    long skipped;         /* bad rows skipped under skip_bad */
    long utf8_replaced;   /* fields whose invalid UTF-8 was replaced under fix_utf8 */
    long empty_text;      /* products whose text is empty */
    char first_skip[SHELF_ERROR_MAX]; /* why the first skipped row was skipped */
} shelf_read_stats;

typedef struct shelf_reader shelf_reader;

/* Opens a catalog for streaming. path "-" reads standard input. */
shelf_status shelf_reader_open(const char *path, const shelf_read_options *opts,
                               shelf_reader **out, shelf_error *err);
/* Reads the next product into *out; SHELF_END after the last one. The strings in *out stay
 * valid until the next call. */
shelf_status shelf_reader_next(shelf_reader *r, shelf_product *out, shelf_error *err);
void shelf_reader_stats(const shelf_reader *r, shelf_read_stats *out);
/* The kept columns (keep_columns): how many, and column j's name as resolved. */
int shelf_reader_nkept(const shelf_reader *r);
const char *shelf_reader_kept_name(const shelf_reader *r, int j);
/* The last product's kept values, in their order, trimmed as every field ("" for a row
 * without one; JSONL: a string as it is, another value as its JSON; invalid UTF-8 replaced
 * with U+FFFD, since an output's column must not make a row bad), valid until the next
 * call; NULL without kept columns or before the first product. */
const char *const *shelf_reader_kept(const shelf_reader *r);
/* Bytes of the input consumed so far and its size, for a progress bar; *total is 0 when
 * the size is not known (standard input, a pipe). */
void shelf_reader_progress(const shelf_reader *r, uint64_t *done, uint64_t *total);
void shelf_reader_close(shelf_reader *r);

/* A catalog file in parts, one per process of a distributed run (mpirun -np N shelf
 * predict): part i holds the records that start in [start, end) of the file, start being
 * the first byte of line `line`; parts follow one another and cover the file. */
typedef struct shelf_catalog_part {
    uint64_t start, end;
    long line;
} shelf_catalog_part;
/* Splits the file into nparts parts of about equal size, each starting on a record's first
 * byte (CSV's quoted line breaks followed as the reader does), in one pass over the file.
 * SHELF_EINVAL for standard input, compressed input and a JSON array, which cannot be read
 * in parts. */
shelf_status shelf_catalog_split(const char *path, const shelf_read_options *opts, int nparts,
                                 shelf_catalog_part *parts, shelf_error *err);
/* A reader of one part: it reads the header (CSV, TSV) or the first object (JSONL) at the
 * file's start as shelf_reader_open does, then only the part's records, numbered by their
 * lines in the file. Reading every part gives the file's products, each once, in order. */
shelf_status shelf_reader_open_part(const char *path, const shelf_read_options *opts,
                                    const shelf_catalog_part *part, shelf_reader **out,
                                    shelf_error *err);

typedef struct shelf_catalog shelf_catalog;

/* Reads a whole catalog into memory. An empty catalog (no products) is an error. */
shelf_status shelf_catalog_load(const char *path, const shelf_read_options *opts,
                                shelf_catalog **out, shelf_error *err);
/* The products of one part of the file (shelf_catalog_split): a distributed run's share. */
shelf_status shelf_catalog_load_part(const char *path, const shelf_read_options *opts,
                                     const shelf_catalog_part *part, shelf_catalog **out,
                                     shelf_error *err);
/* A catalog made in memory of products[0..n) (their strings and image bytes copied), for a
 * program that holds its products rather than a file: a NULL id becomes the product's
 * number from 1, a NULL text, label or image "". data_path names the catalog in messages
 * ("products" when NULL) and its folder is where relative image references resolve (the
 * current directory when NULL). SHELF_EDATA naming the product for a missing label (with
 * require_label) or a product with neither a text nor an image. */
shelf_status shelf_catalog_from_products(const shelf_product *products, size_t n,
                                         const char *data_path, int require_label,
                                         shelf_catalog **out, shelf_error *err);
size_t shelf_catalog_size(const shelf_catalog *c);
const shelf_product *shelf_catalog_get(const shelf_catalog *c, size_t i);
const char *shelf_catalog_path(const shelf_catalog *c);
void shelf_catalog_stats(const shelf_catalog *c, shelf_read_stats *out);
/* The kept columns, as shelf_reader_nkept and the like say, of product i. */
int shelf_catalog_nkept(const shelf_catalog *c);
const char *shelf_catalog_kept_name(const shelf_catalog *c, int j);
const char *const *shelf_catalog_kept(const shelf_catalog *c, size_t i);
void shelf_catalog_free(shelf_catalog *c);

/* Label paths. A label is a path through the taxonomy, "Apparel > Topwear > Tshirts", its
 * levels split on a separator (shelf_read_options.label_sep) from left to right, as Python's
 * str.split does. In the calls below sep NULL is SHELF_DEFAULT_LABEL_SEP, and sep "" splits
 * nothing: every label is then one level. */
#define SHELF_DEFAULT_LABEL_SEP " > "

/* Whether label has a parent path (the bytes before its last separator: "Apparel > Topwear"
 * of "Apparel > Topwear > Tshirts"); if so, 1 with its length in *len (NULL: not wanted),
 * the leaf starting strlen(sep) bytes after it. 0 for a top-level label, *len then 0. */
int shelf_label_parent(const char *label, const char *sep, size_t *len);

/* Whether label is the path path[0..path_len) or lies below it (the path, then a separator):
 * "Apparel > Topwear > Tshirts" is under "Apparel > Topwear" and under itself, not under
 * "Apparel > Top". path_len lets a prefix of another label be asked about in place; pass
 * strlen(path) for a whole string. */
int shelf_label_is_under(const char *label, const char *path, size_t path_len,
                         const char *sep);

/* ---- models -------------------------------------------------------------------------- */

typedef struct shelf_model shelf_model;

/* Called from the training thread about once a second, and once at the end of each epoch. */
typedef struct shelf_progress {
    int epoch, epochs;
    double fraction;          /* of the whole run, 0..1 */
    double products_per_sec;
    double loss;              /* running mean cross-entropy of this epoch */
    double eta_sec;
    double valid_accuracy;    /* after an epoch with a validation set, else -1 */
} shelf_progress;
typedef void (*shelf_progress_fn)(const shelf_progress *p, void *user);

typedef enum shelf_modality {
    SHELF_MODALITY_TEXT = 0, /* the title and description: a bag of n-grams */
    SHELF_MODALITY_IMAGE,    /* the product photo: a CNN */
    SHELF_MODALITY_BOTH      /* text model and CNN, weighed per taxonomy branch by a fitted head */
} shelf_modality;

/* The text encoder of text models: the bag of n-grams, or a sequence encoder over the
 * tokens in order (a bidirectional GRU, or Transformer blocks), trained with AdamW. */
typedef enum shelf_text_encoder {
    SHELF_TEXT_ENCODER_BAG = 0,
    SHELF_TEXT_ENCODER_GRU,
    SHELF_TEXT_ENCODER_TRANSFORMER
} shelf_text_encoder;

typedef enum shelf_optimizer { SHELF_OPTIMIZER_ADAMW = 0, SHELF_OPTIMIZER_SGD } shelf_optimizer;
typedef enum shelf_schedule {
    SHELF_SCHEDULE_ONECYCLE = 0,
    SHELF_SCHEDULE_COSINE,
    SHELF_SCHEDULE_CONSTANT
} shelf_schedule;

typedef enum shelf_balance {
    SHELF_BALANCE_NONE = 0,  /* every product once per epoch, equal weight */
    SHELF_BALANCE_WEIGHT,    /* class-weighted cross-entropy */
    SHELF_BALANCE_OVERSAMPLE, /* each epoch re-draws products, rare classes more often */
    SHELF_BALANCE_UNDERSAMPLE, /* each epoch keeps a share of the common classes' products */
    SHELF_BALANCE_ADJUST      /* trained as none; then each label's logit less tau times the
                                 log of its share of the training products, tau fitted on the
                                 validation set (which it needs) */
} shelf_balance;

/* A distributed training run's collective operation, given by the caller (shelf's
 * command-line tool over Open MPI; the library never uses MPI itself). Every rank calls
 * shelf_train with its share of the training catalog and the same options; the ranks' label
 * lists, vocabulary counts and parameters are combined through sum, and the same model
 * comes out of every rank. */
typedef enum shelf_comm_type {
    SHELF_COMM_U8, SHELF_COMM_U32, SHELF_COMM_U64, SHELF_COMM_FLOAT, SHELF_COMM_DOUBLE
} shelf_comm_type;
typedef struct shelf_comm {
    int rank, size;
    void *user;
    /* buf[0..n) of type summed over the ranks, in place on every rank (every rank calls it
     * with the same n and type). 0, or -1 when the run cannot go on (another rank failed). */
    int (*sum)(void *user, void *buf, size_t n, shelf_comm_type type);
} shelf_comm;

/* Training options. Those a user sets by name are described by one table
 * (shelf_train_option_table): name, type, default, range, help and the encoders each applies
 * to; shelf train's --help, its parsing and shelf_train's checks all read it. A field left
 * "not given" (0, or -1 where the table's entry says so) gets the default of the encoders
 * that use it: --dim is the bag's embedding size (default 0: none) or a sequence encoder's
 * width (128). In a fused model (--modality both) --epochs, --lr and --batch are the CNN's,
 * and the text encoder keeps its own defaults. */
typedef struct shelf_train_options {
    shelf_modality modality;
    int epochs;       /* 0: chosen from the catalog size (bag), enough for 2,000 steps (gru,
                         transformer), 8 (image) */
    float lr;         /* 0: default (bag 1; gru, transformer 0.002; image: AdamW 0.002, SGD 0.05) */
    int dim;          /* bag: 0 a sparse linear layer straight to the labels, D > 0 embeddings of
                         size D, then a linear layer; gru, transformer: their width, 0: 128 */
    int ngrams;       /* word n-grams up to this length; 0: default 2 */
    int minn, maxn;   /* character n-grams of words; -1: default 2..5; maxn 0 turns them off */
    int buckets;      /* hash buckets; 0: default (bag 2000000; gru, transformer: subword rows,
                         0: none) */
    int threads;      /* 0: all cores, at most 64; more than 64 is refused */
    int hierarchy;    /* 1: a label's score is the sum of scores of its path's prefixes, so
                         rare leaves share their parents' weights */
    uint64_t seed;
    shelf_progress_fn progress;
    void *progress_user;
    const char *train_path; /* recorded in the model, for shelf info */
    shelf_read_options read; /* recorded in the model: prediction reads the same columns */
    shelf_balance balance;
    float balance_power;     /* class weight = (mean class size / class size)^power; 0: 0.5 */
    float label_smoothing;   /* share of the target spread over all labels; 0 */
    /* sequence text encoders: dim is their width, batch their batch (0: 32), lr AdamW's
     * peak, epochs 0: enough for 2,000 steps, at least 5 and at most 50 */
    shelf_text_encoder text_encoder;
    int max_tokens;          /* tokens kept of a text; 0: 64 */
    int layers;              /* Transformer blocks (0: 2), GRU layers (0: 1) */
    int heads;               /* attention heads; 0: 4 */
    float dropout;           /* share of embedded tokens, pooled features and Transformer
                                blocks' attention and feed-forward outputs dropped in
                                training; -1: the default (0.1) */
    /* image models */
    int image_size;          /* side of the square input; 0: 64 */
    int width;               /* channels of the first convolution; 0: 32 */
    int batch;               /* images per step; 0: 64 */
    shelf_optimizer optimizer;
    float weight_decay;      /* image models, gru, transformer; default 5e-4 */
    shelf_schedule schedule;
    int augment;             /* -1: all; else flags: 1 flip, 2 crop, 4 rotate, 8 jitter */
    /* shelf train --init: NULL, or a text model of the sparse bag of n-grams (no --dim) to
     * continue training from. Its settings (n-grams, buckets, hierarchy), feature rows and
     * weights are kept, and its labels their ids; the catalog's new labels come after them,
     * and its new words gain rows. The caller keeps it (it is only read). */
    const shelf_model *init;
    /* NULL: one process; else this rank's part of a distributed run (the sparse bag of
     * n-grams so far: each rank trains Hogwild on its share, and the ranks average their
     * parameters after every epoch) */
    const shelf_comm *comm;
    /* Checkpoints (the sparse bag of n-grams so far). checkpoint: NULL, or a path where the
     * training state is written after every epoch, atomically (rank 0's in a distributed
     * run): a model file of the weights so far and where the run stands. resume: NULL, or
     * such a file loaded (shelf_model_load), to go on from: the same catalog and options as
     * the run that wrote it, else SHELF_EINVAL. */
    const char *checkpoint;
    const shelf_model *resume;
    /* Which options were set by name (shelf_train_options_set), one bit per option: an option
     * given that does not apply to the model (--heads with --text-encoder gru, --width with a
     * text model) is refused by shelf_train. 0 when the fields are filled directly: nothing
     * is refused for not applying then. */
    uint64_t given;
} shelf_train_options;

/* Fills o with the defaults: every option "not given" (the encoder's default is filled in
 * at training), seed 1, weight_decay 5e-4. */
void shelf_train_options_default(shelf_train_options *o);
/* Training options with their defaults on the heap, for callers that cannot hold the
 * struct (bindings from other languages): set them with shelf_train_options_set, their read
 * options through shelf_train_options_read. NULL out of memory. */
shelf_train_options *shelf_train_options_new(void);
void shelf_train_options_free(shelf_train_options *o);
shelf_read_options *shelf_train_options_read(shelf_train_options *o);

/* An option's kind of value, and where it is stored. */
typedef enum shelf_option_type {
    SHELF_OPTION_INT,    /* int */
    SHELF_OPTION_FLOAT,  /* float, finite */
    SHELF_OPTION_U64,    /* uint64_t, not negative */
    SHELF_OPTION_CHOICE, /* int (or an enum): the index of one of choices */
    SHELF_OPTION_SET,    /* int: bit i for choices[i]; a comma list of them, "all" or "none" */
    SHELF_OPTION_FLAG,   /* int: 1 when given; it takes no value */
    SHELF_OPTION_STRING  /* const char *: the value itself, not copied */
} shelf_option_type;

/* What an option applies to (shelf_option.applies): the encoders of the model trained. */
#define SHELF_FOR_BAG 1u
#define SHELF_FOR_GRU 2u
#define SHELF_FOR_TRANSFORMER 4u
#define SHELF_FOR_CNN 8u
#define SHELF_FOR_SEQUENCE (SHELF_FOR_GRU | SHELF_FOR_TRANSFORMER)
#define SHELF_FOR_TEXT (SHELF_FOR_BAG | SHELF_FOR_SEQUENCE)
#define SHELF_FOR_ALL (SHELF_FOR_TEXT | SHELF_FOR_CNN)

/* shelf_option.flags */
#define SHELF_OPTION_BELOW_MAX 1u /* a value must be below max, not at it */
#define SHELF_OPTION_UNSET_NEG 2u /* -1 means not given, as 0 is a value of its own (--maxn 0) */
#define SHELF_OPTION_PRESET 4u    /* shelf_train_options_default sets def, and every value is
                                     checked: there is no "not given" */
#define SHELF_OPTION_NOT_FUSED 8u /* a text encoder's entry that a fused model does not use:
                                     there the CNN's entry of the same name applies */

/* One option: an entry of a table that parsing, --help and the checks read. An option whose
 * default or range differs between encoders (--dim, --epochs) has an entry for each; the
 * entries of one name share its type and field. */
typedef struct shelf_option {
    const char *name;     /* without the dashes: "max-tokens" */
    shelf_option_type type;
    size_t offset;        /* of its field in the struct the table describes */
    unsigned applies;     /* SHELF_FOR_*; 0 for an option of a command, not of an encoder */
    double def;           /* the value filled in when the option is not given */
    const char *def_text; /* NULL, or the default in words, shown instead of def: when it is
                             worked out at training ("from the catalog size"; def is then
                             the "not given" value, which the check replaces) */
    double min, max;      /* int, float, u64: the range of a given value */
    const char *const *choices; /* choice, set: the names, NULL-terminated */
    unsigned flags;       /* SHELF_OPTION_* */
    const char *help;
} shelf_option;

/* The training options' table, grouped: every model's, text models', the bag's, the sequence
 * encoders', the CNN's; *n gets its length. Offsets are into shelf_train_options. */
const shelf_option *shelf_train_option_table(size_t *n);

/* Sets the option named name (without dashes) from its text, as the table says, and marks
 * it given. value is NULL for a flag. SHELF_EINVAL, with a message naming the option, for an
 * unknown name or a value that is not of its type or choices. Ranges, and whether the option
 * applies to the model, are checked by shelf_train (and shelf_train_options_check). */
shelf_status shelf_train_options_set(shelf_train_options *o, const char *name,
                                     const char *value, shelf_error *err);

/* What shelf_train checks before it reads a product: every option given applies to the
 * model, and every value is in its range. SHELF_OK or SHELF_EINVAL. */
shelf_status shelf_train_options_check(const shelf_train_options *o, shelf_error *err);

/* Any table's entry: parses value (NULL for a flag) into (char *)base + opt->offset, or
 * SHELF_EINVAL with a message naming the option; the range is not checked. */
shelf_status shelf_option_parse(const shelf_option *opt, void *base, const char *value,
                                shelf_error *err);
/* SHELF_EINVAL, with a message naming the option and its range, when the number at
 * (const char *)base + opt->offset is outside it; SHELF_OK for other types. */
shelf_status shelf_option_check(const shelf_option *opt, const void *base, shelf_error *err);

/* Parses an augmentation list, "flip,crop,rotate,jitter" (any of them), "all" or "none",
 * into the flags of shelf_train_options.augment (shelf_train_options_set("augment") too). */
shelf_status shelf_augment_parse(const char *list, int *flags, shelf_error *err);

/* Trains a model of the options' modality on train; valid (may be NULL) picks the best epoch
 * and fits the calibration (and, for a fused model, its fusion head). */
shelf_status shelf_train(const shelf_catalog *train, const shelf_catalog *valid,
                         const shelf_train_options *opts, shelf_model **out, shelf_error *err);

/* --autotune: the best text model for a catalog within a budget, chosen on valid. Bags of
 * n-grams of sampled settings (the settings given first; word n-grams, character n-grams, learning
 * rate, epochs, --dim, hierarchy, class balance), then around the best; a GRU and a
 * Transformer at their defaults when the budget holds them; then ensembles of two or three
 * of the best (weights fitted on valid), chosen only when they beat the best single model
 * by a margin (shelf_autotune_options.ensemble_margin). Every trial trains on all of
 * train (early stopping and calibration on valid), so the winner is kept, not retrained. */
typedef enum shelf_autotune_metric {
    SHELF_AUTOTUNE_ACCURACY = 0,
    SHELF_AUTOTUNE_MACRO_F1,
    SHELF_AUTOTUNE_COVERAGE /* the share back-off classifies at precision 0.99 */
} shelf_autotune_metric;
typedef struct shelf_autotune_options {
    double seconds;   /* the budget (> 0), or 0 with trials > 0: no trial starts that the time
                         measured so far says would not end within it */
    int trials;       /* > 0: at most this many trials, whatever the machine's speed (the
                         sequence encoders are tried from 8 on: the last two) */
    shelf_autotune_metric metric;
    double ensemble_margin; /* what an ensemble must gain on the metric over the best single
                               model (above it by more than this), since it costs the sum of
                               their prediction time (shelf train: 0); below -1: always the
                               best ensemble */
    /* after each trial and the ensemble (NULL: not told): its record, one JSON object */
    void (*trial_done)(const char *json, void *user);
    void *user;
} shelf_autotune_options;
/* The chosen model, its search recorded in it (shelf_model_describe shows it), and its
 * figure on valid for the metric in *score. SHELF_EINVAL without valid or a budget. */
shelf_status shelf_autotune(const shelf_catalog *train, const shelf_catalog *valid,
                            const shelf_train_options *base, const shelf_autotune_options *ao,
                            shelf_model **out, double *score, shelf_error *err);

/* New labels without retraining (shelf labels add): each label of examples that the model
 * does not have gets a head column from its examples' features, the mean of them, scaled and
 * offset by one scale and one threshold chosen on the examples themselves (each left out of
 * its own label's mean), so that a product as close to the examples as they are to each
 * other wins and others keep their old label (weight imprinting). Products of labels the
 * model has are used only to choose those two. The bag of n-grams gains rows for the new
 * products' words. Text models (not ensembles) only; m is changed only on success.
 * SHELF_EINVAL when examples has no new label, or no product of the model's labels (nothing
 * would say how far the new labels may reach). */
typedef struct shelf_imprint_report {
    int added;            /* new labels */
    long examples;        /* products of new labels */
    long contrast;        /* products of labels the model had */
    long skipped_empty;   /* products without text, not used */
    long named;           /* labels given by their names alone */
    long new_rows;        /* feature rows the bag gained */
    float scale, threshold; /* chosen */
    float loo_accuracy;   /* on the new labels' examples, each left out of its label's mean
                             (-1: no label has two examples) */
    double seconds;       /* the call's */
} shelf_imprint_report;
shelf_status shelf_labels_add(shelf_model *m, const shelf_catalog *examples,
                              shelf_imprint_report *report, shelf_error *err);
/* The same, with labels also added by their names alone (full paths, none the model has):
 * each name's words stand as its one example ("Footwear > Shoes > Heels"). */
shelf_status shelf_labels_add_names(shelf_model *m, const shelf_catalog *examples,
                                    const char *const *names, size_t nnames,
                                    shelf_imprint_report *report, shelf_error *err);

/* Writes atomically: a temporary file beside path, fsync, rename. */
shelf_status shelf_model_save(const shelf_model *m, const char *path, shelf_error *err);
/* int8 models (shelf quantize). The sparse bag's label head becomes int8 rows, a scale per
 * feature, its weights below `drop` times the row's largest left out; with a cutoff, only
 * that many features are kept, those whose weights weigh most (their largest weight times
 * their IDF). The CNN gets batch norm folded into its convolutions, int8 weights with a
 * scale per output channel, and u8 activations whose scales are calibrated on sample
 * images (the calibration catalog's, spread over it; products without a usable image are
 * passed over); it runs on oneDNN's int8 kernels where the CPU has AVX-512 VNNI, and as
 * float elsewhere. The GRU and the Transformer get their embedding table (the bulk of their
 * parameters) as int8 rows with a scale each, read as they are by the forward pass. The quantized model predicts, evaluates, explains, embeds and serves as
 * any other; its file is written as any other. m is changed only on success. SHELF_EINVAL
 * for a model already quantized, an ensemble, a text side that is not the sparse bag (the
 * sequence encoders, --dim: not yet), or an image side without calibration images;
 * SHELF_EDATA when none of them can be read. */
#define SHELF_QUANTIZE_DROP 0.05f /* the default drop, chosen on the validation splits */
#define SHELF_QUANTIZE_IMAGES 512 /* calibration images, by default */
typedef struct shelf_quantize_options {
    long cutoff; /* features kept; 0: all */
    float drop;  /* weights below this share of their row's largest are left out [0, 1) */
    const shelf_catalog *calibration; /* image models: the products to calibrate on */
    long images;                      /* how many of them, spread over the catalog */
    int clip_mse; /* an activation's scale from the clip that least distorts its values,
                     not the largest value seen (the default: as good or better on
                     fashion's validation split) */
    int threads;                      /* calibration's; 0: all cores */
} shelf_quantize_options;
shelf_quantize_options shelf_quantize_options_default(void);
typedef struct shelf_quantize_report {
    long rows_before, rows_after;       /* the bag's features */
    size_t weights_before, weights_after; /* the head's weights (after: those kept) */
    size_t bytes_before, bytes_after;   /* the parameters in memory */
    long images, bad_images;            /* calibration: images read, and those passed over */
    long embedding_rows;                /* a GRU's or Transformer's table, now int8 */
} shelf_quantize_report;
shelf_status shelf_model_quantize(shelf_model *m, const shelf_quantize_options *o,
                                  shelf_quantize_report *report, shelf_error *err);

shelf_status shelf_model_load(const char *path, shelf_model **out, shelf_error *err);
void shelf_model_free(shelf_model *m);

int shelf_model_num_labels(const shelf_model *m);
const char *shelf_model_label(const shelf_model *m, int i);
/* The index of label among the model's labels, or -1 for a label it never saw. */
int shelf_model_find_label(const shelf_model *m, const char *label);
/* The options the model was trained with, for reading new data the same way. */
const shelf_read_options *shelf_model_read_options(const shelf_model *m);
/* --min-confidence auto: the lowest back-off threshold that kept precision 0.99 on the
 * validation set at training (with its precision and coverage there, when not NULL), or -1
 * when none did, the model had no validation set, or was trained before shelf kept it. */
float shelf_model_auto_confidence(const shelf_model *m, float *precision, float *coverage);
/* The training curve: the mean training loss and the validation accuracy (-1 without a
 * validation set) after each epoch run, into loss[e] and accuracy[e] for e < max (a fused
 * model's are its CNN's). Returns the number of epochs recorded: 0 for models trained before
 * shelf kept it. */
int shelf_model_curve(const shelf_model *m, float *loss, float *accuracy, int max);
/* A human-readable description: training data, options, sizes, labels (up to max_labels). */
char *shelf_model_describe(const shelf_model *m, int max_labels);

/* Per-thread scratch space for prediction; a model is read-only and shared by threads. */
typedef struct shelf_scratch shelf_scratch;
shelf_status shelf_scratch_new(const shelf_model *m, shelf_scratch **out, shelf_error *err);
void shelf_scratch_free(shelf_scratch *s);

/* The k most probable labels of a text, best first: label indexes and probabilities.
 * Returns how many were written (min(k, labels)), or -1 when out of memory. */
int shelf_predict(const shelf_model *m, shelf_scratch *s, const char *text, int k,
                  int *labels, float *probs);

/* shelf_predict of texts[0..n) on this thread: text i's labels and probabilities go to
 * labels[i*k ..] and probs[i*k ..], their number to counts[i]. A GRU or Transformer model
 * runs them in batches, several times faster than n calls. 0, or -1 when out of memory. */
int shelf_predict_texts(const shelf_model *m, shelf_scratch *s, const char *const *texts,
                        size_t n, int k, int *labels, float *probs, int *counts);

/* Predicts n texts on `threads` threads (0: all cores): text i's labels and probabilities
 * go to labels[i*k ..] and probs[i*k ..], their number to counts[i]. */
shelf_status shelf_predict_batch(const shelf_model *m, const char *const *texts, size_t n,
                                 int k, int threads, int *labels, float *probs, int *counts,
                                 shelf_error *err);

shelf_modality shelf_model_modality(const shelf_model *m);
/* Image models: training products left out under skip_bad because of a bad image. */
long shelf_model_skipped_images(const shelf_model *m);
/* Fused models, just trained: training products skipped for having neither a text nor an
 * image (not kept in the file). */
long shelf_model_skipped_empty(const shelf_model *m);

typedef struct shelf_predict_stats {
    long bad_images;                 /* products whose image could not be used */
    char first_bad[SHELF_ERROR_MAX]; /* "FILE:LINE: IMAGE-PATH: what is wrong" of the first */
    long text_only;                  /* fused models: products classified by their text alone,
                                        their image missing or unusable (first_bad says why
                                        for the first; they are not in bad_images) */
    long image_only;                 /* fused models: products classified by their image
                                        alone, their text empty or of words the model does
                                        not know (with neither, a product is a bad image) */
    double load_seconds;             /* reading and decoding images */
    double model_seconds;            /* the model itself */
} shelf_predict_stats;

/* Predicts n products with whatever the model reads: their text, or their image (an image
 * model), whose reference products[i].image is resolved against the folder of the data file
 * data_path (absolute references as they are). Product i's labels and probabilities go to
 * labels[i*k ..] and probs[i*k ..], their number to counts[i]: -1 when the product's image
 * is missing or unusable, counted in stats with the first such product's message. used
 * (NULL, or n flags) receives what each product was classified by: SHELF_USED_TEXT and/or
 * SHELF_USED_IMAGE (a fused model falls back on the text when the image fails). Runs on
 * `threads` threads (0: all cores). Fails only on bad arguments or when out of memory. */
enum { SHELF_USED_TEXT = 1, SHELF_USED_IMAGE = 2 };
shelf_status shelf_predict_products(const shelf_model *m, const char *data_path,
                                    const shelf_product *products, size_t n, int k, int threads,
                                    int *labels, float *probs, int *counts, unsigned char *used,
                                    shelf_predict_stats *stats, shelf_error *err);

/* What shelf_predict_products sets up on every call, kept for many calls: a team of
 * threads, the CNN's work area and a text scratch per thread. For a stream of batches (a
 * catalog of millions, a server's queue). One thread at a time may run a predictor; the
 * model must outlive it. shelf_predict_products is a predictor made and freed per call. */
typedef struct shelf_predictor shelf_predictor;

/* threads: 0 for all cores. max_batch: products decoded and held at a time (images,
 * S*S*3 bytes each, 12 KiB at 64 x 64); 0: 1024. A run may pass more products than that:
 * they go through in turns. */
shelf_status shelf_predictor_new(const shelf_model *m, int threads, size_t max_batch,
                                 shelf_predictor **out, shelf_error *err);
/* As shelf_predict_products, with the predictor's model and threads. */
shelf_status shelf_predictor_run(shelf_predictor *p, const char *data_path,
                                 const shelf_product *products, size_t n, int k, int *labels,
                                 float *probs, int *counts, unsigned char *used,
                                 shelf_predict_stats *stats, shelf_error *err);
/* Why product i of the last run was not classified by its image, "FILE:LINE: IMAGE-PATH:
 * what is wrong" ("NAME: what is wrong" for an image given in memory, NAME its `image`);
 * NULL when its image was used or the model reads no images. Valid until the next run. */
const char *shelf_predictor_image_error(const shelf_predictor *p, size_t i);
/* Fused models: what product i of the last run weighed its text and its image by, into
 * weights[0] (text) and weights[1] (image): the fusion head's weights for that product
 * (shelf info says how the head computes them), text 1 and image 0 for a product classified
 * by its text alone, and the reverse. 0, or -1 when the model is not fused or i is not a
 * product of the last run. */
int shelf_predictor_fusion(const shelf_predictor *p, size_t i, float weights[2]);
/* Why product i of the last run (products and data_path as given to it) got label (its
 * best, normally): a JSON object (the caller frees it) with "label"; "text" for a model that
 * reads text and a product with text: "method" ("exact" for the bag of n-grams, whose
 * token weights and "bias" sum to "margin", the label's logit over the runner-up "versus";
 * "occlusion" for the GRU and Transformer: how much the margin falls without each token),
 * "tokens" (normalized, with signed weights and their position in the text's
 * token sequence, best first); "image" for a model that reads
 * images and a product whose image is usable: "grid", 4 x 4 cells row by row, how much
 * greying each cell lowers the label's probability (of the image side), and that
 * "probability"; "fusion" for a fused model, as shelf_predictor_fusion. Single-threaded;
 * SHELF_EINVAL for bad arguments, SHELF_ENOMEM. */
shelf_status shelf_predictor_explain(shelf_predictor *p, const char *data_path,
                                     const shelf_product *products, size_t i, int label,
                                     char **json, shelf_error *err);
/* on: the next runs explain each product's best label as they predict it, for
 * shelf_predictor_explain_many to hand over; a bag-of-n-grams model then reads each text
 * once for both, and the predictor holds a run's explanations (some kilobytes a product for
 * long texts) until the next run. Other models explain in shelf_predictor_explain_many. */
void shelf_predictor_explain_best(shelf_predictor *p, int on);
/* shelf_predictor_explain of the last run's products [0, n) at once, on the predictor's
 * threads: json[i] explains labels[i] (NULL where labels[i] < 0: a product not explained, as
 * one the run skipped). The texts belong to the predictor and stay valid until its next run
 * or shelf_predictor_explain_many; their memory is given back at the next run, so calling
 * this again and again after one run keeps adding to it. A model that reads images explains
 * one product after another, its occluded copies over all cores. */
shelf_status shelf_predictor_explain_many(shelf_predictor *p, const char *data_path,
                                          const shelf_product *products, size_t n,
                                          const int *labels, const char **json,
                                          shelf_error *err);
void shelf_predictor_free(shelf_predictor *p);

/* Embeddings: one L2-normalized vector of shelf_embedding_dim(m) floats per product, from
 * what the model computes to classify it, for similar products, near-duplicates and search.
 * Each side the model reads (text, photo) gives its encoder's features (a bag of n-grams
 * without --dim: its TF-IDF vector by a fixed random projection to 256 dimensions) and the
 * square roots of its probabilities over the labels, each half of the side's weight; a
 * product lacking one side has zeros there. The layout is the model's own: vectors of two
 * models do not compare. */
size_t shelf_embedding_dim(const shelf_model *m);
/* What tells one model from another: the checksum of its file (the file it was loaded from,
 * or the one shelf_model_save writes of it). Vectors and indexes record it. */
uint64_t shelf_model_fingerprint(const shelf_model *m);
/* Product i's embedding into out[i * dim ..] (products and data_path as for
 * shelf_predictor_run), ok[i] 1, or 0 and zeros for a product with nothing the model can
 * read (an empty text or one of unknown words; no usable photo, counted in stats as by
 * shelf_predictor_run, with the message of shelf_predictor_image_error). stats may be NULL.
 * Fails only on bad arguments or when out of memory. */
shelf_status shelf_predictor_embed(shelf_predictor *p, const char *data_path,
                                   const shelf_product *products, size_t n, float *out,
                                   unsigned char *ok, shelf_predict_stats *stats,
                                   shelf_error *err);
/* As shelf_predictor_embed, with a predictor made and freed per call (threads 0: all
 * cores). */
shelf_status shelf_embed(const shelf_model *m, const char *data_path,
                         const shelf_product *products, size_t n, int threads, float *out,
                         unsigned char *ok, shelf_predict_stats *stats, shelf_error *err);

/* A thumbnail of the image `ref` (resolved against the folder of data_path, as predictions
 * do) no larger than max_side pixels on its longer side, keeping its proportions, as PNG
 * bytes in *png (the caller frees them), *size of them: for reports that carry their images
 * inline. SHELF_EDATA or SHELF_EIO saying what is wrong with the image, SHELF_ENOMEM (also
 * when libpng cannot write the thumbnail, with its message). */
shelf_status shelf_image_thumbnail(const char *data_path, const char *ref, int max_side,
                                   unsigned char **png, size_t *size, shelf_error *err);
/* The same thumbnail with an explanation's g x g occlusion grid (row by row) laid over it:
 * each cell reddened by its weight's share of the largest (cells that lower the label's
 * probability most when greyed are the reddest). grid NULL: the plain thumbnail. */
shelf_status shelf_image_overlay(const char *data_path, const char *ref, const float *grid,
                                 int g, int max_side, unsigned char **png, size_t *size,
                                 shelf_error *err);

/* Whether data[0..size) is an image shelf can read: JPEG, PNG or WebP, not over the pixel
 * limit, decoding whole (a JPEG at a reduced scale). SHELF_EDATA with what is wrong in err
 * (without a name: put your own in front), SHELF_ENOMEM, or SHELF_OK. */
shelf_status shelf_image_check(const unsigned char *data, size_t size, shelf_error *err);

/* Back-off for uncertain products. Given a product's label probabilities ranked best first
 * (labels[0..n), probs[0..n), as shelf_predict_products returns them; pass every label for
 * exact sums), the path to give it at confidence min_conf: the best label when its
 * probability reaches min_conf, else the deepest ancestor of it ("Apparel > Topwear") whose
 * summed probability over the labels below it reaches min_conf. The path goes to out (cut
 * to outsize bytes), its probability to *prob. Returns SHELF_BACKOFF_FULL, SHELF_BACKOFF_PARTIAL,
 * or SHELF_BACKOFF_REVIEW (even the top level falls short: out is "", *prob the top level's). */
typedef enum shelf_backoff_result {
    SHELF_BACKOFF_FULL = 0,
    SHELF_BACKOFF_PARTIAL,
    SHELF_BACKOFF_REVIEW
} shelf_backoff_result;
shelf_backoff_result shelf_backoff(const shelf_model *m, const int *labels, const float *probs,
                                   int n, float min_conf, char *out, size_t outsize,
                                   float *prob);
/* shelf_backoff of n products in one call (for bindings that would pay per call): product
 * i's ranked labels[i*stride ..] and probs[i*stride ..] (counts[i] of them; < 1: an error
 * row, given status -1), its path into paths + i * pathsize (cut to pathsize bytes), its
 * probability to prob[i], its result to status[i]. */
void shelf_backoff_many(const shelf_model *m, const int *labels, const float *probs,
                        const int *counts, int stride, size_t n, float min_conf, char *paths,
                        size_t pathsize, float *prob, int *status);
/* Back-off at min_conf over n products, product i's labels and probabilities ranked in
 * labels[i*stride ..] and probs[i*stride ..] (stride of them, or counts[i] when counts is
 * not NULL; a product with counts[i] < stride, or a NULL truths[i], is left out) and its
 * true path truths[i]: *coverage, the share of products given a path, and *precision, the
 * share of those paths that are the true one or an ancestor of it (1 when none is given). */
void shelf_backoff_measure(const shelf_model *m, const int *labels, const float *probs,
                           int stride, const int *counts, const char *const *truths, size_t n,
                           float min_conf, double *coverage, double *precision);

/* How many of the catalog's products have a text that also occurs in the model's training
 * data (after normalization). */
size_t shelf_model_count_seen(const shelf_model *m, const shelf_catalog *c);

/* The figures behind shelf_model_describe, for programs (the server's GET /v1/model).
 * Strings belong to the model. */
/* A fused model's head: how it weighs the text and the image. */
typedef struct shelf_fusion_summary {
    const char *head;   /* "gate" (per product), "branch" (per branch of the taxonomy), "text"
                           or "image" (that side alone); NULL for a model that is not fused */
    float text, image;  /* the weights of the average product (gate), of the branch where the
                           photo counts most (branch), or 1 and 0 (text alone), 0 and 1 (image
                           alone) */
    int folds, products; /* the choice between heads was measured on so many folds of so many
                            validation products; 0 for models trained before it */
    int ntried;          /* and what each kind it tried scored out of fold */
    const char *tried[4];
    float accuracy[4], macro_f1[4];
} shelf_fusion_summary;

typedef struct shelf_model_summary {
    shelf_modality modality;
    int labels;
    const char *train_path;  /* "" when not recorded */
    long train_rows, valid_rows;
    int epochs, epochs_planned;
    float lr;
    int threads;
    uint64_t seed;
    double train_seconds;    /* 0 once saved: a model file keeps no wall-clock times, so the
                                same training command writes the same bytes */
    double valid_accuracy;   /* -1 without a validation set */
    float temperature;       /* 1: not calibrated */
    float logit_adjustment;  /* --balance adjust: the strength fitted (0: none; -1: trained
                                without it) */
    int hierarchical;
    int dim;                 /* text models: embedding size, 0 for the sparse linear layer */
    int quantized;           /* 8: int8 weights (shelf quantize); 0: float */
    int image_size, width;   /* image models, else 0 */
    long skipped_images;
    double fit_seconds;      /* in training steps: image models all epochs, sequence encoders
                                one epoch; 0 when not known (not kept in the file either) */
    shelf_fusion_summary fusion;
} shelf_model_summary;
void shelf_model_summarize(const shelf_model *m, shelf_model_summary *out);

/* The format version written in a model file's header, read without loading the model. */
shelf_status shelf_model_file_version(const char *path, unsigned *version, shelf_error *err);

/* ---- serving ------------------------------------------------------------------------- */

/* An HTTP JSON server over a model file (POST /v1/classify, POST /v1/similar with an index,
 * GET /healthz, GET /v1/model, GET /metrics, POST /v1/admin/reload), on libmicrohttpd's
 * thread pool; see README.md. */
typedef struct shelf_server shelf_server;

/* Receives the server's log lines (start, reloads, errors of the HTTP layer), without a
 * newline; called from any thread. */
typedef void (*shelf_log_fn)(const char *line, void *user);

typedef struct shelf_server_options {
    const char *model_path;
    const char *index_path; /* NULL: no POST /v1/similar; else an index (shelf index) of the
                               model's making, loaded and reloaded with it */
    const char *host;      /* a numeric address to bind; NULL: "127.0.0.1" */
    int port;              /* 0: any free port (shelf_server_port says which) */
    int threads;           /* HTTP threads, and threads of each image prediction; 0: cores */
    const char *token;     /* NULL: no authentication; else every endpoint but /healthz wants
                              "Authorization: Bearer TOKEN", and reloading over HTTP works */
    size_t max_body;       /* bytes of a request body; 0: 8 MiB (larger: 413) */
    int max_batch;         /* products of one request; 0: 256 */
    int max_connections;   /* requests served at once (past their headers); more get 503;
                              past 3/4 of it open, slow connections are closed; 0: 512 */
    int max_queue;         /* image products waiting for the network; more get 503; 0: 1024 */
    int timeout;           /* seconds a connection may stay silent; 0: 10 */
    int request_deadline;  /* seconds for a request's headers and body to come, from the
                              connection's start or the previous answer; 0: 30 */
    long max_image_pixels; /* width x height of an image a model will decode, by its
                              header, before decoding; larger: 413; 0: 40 M (at most 64 Mi) */
    long max_request_pixels; /* of one request's images together; more: 413; 0: 400 M */
    shelf_log_fn log;      /* NULL: no log */
    void *log_user;
} shelf_server_options;

void shelf_server_options_default(shelf_server_options *o);
/* Loads the model and starts serving; returns at once, the server runs on its own threads. */
shelf_status shelf_server_start(const shelf_server_options *o, shelf_server **out,
                                shelf_error *err);
/* The port it listens on. */
int shelf_server_port(const shelf_server *s);
/* Loads the model file again (path NULL) or another one and swaps it in; requests in
 * flight finish on the old model. On failure the old model keeps serving. Thread-safe. */
shelf_status shelf_server_reload(shelf_server *s, const char *path, shelf_error *err);
/* Stops accepting connections, lets requests in flight finish (up to drain_seconds; new
 * requests on open connections get 503), then stops and frees the server. NULL does
 * nothing. */
void shelf_server_stop(shelf_server *s, double drain_seconds);

/* ---- evaluation ---------------------------------------------------------------------- */

typedef struct shelf_eval shelf_eval;

/* Accumulates (true path, ranked predicted paths). label_sep splits paths into levels. */
shelf_status shelf_eval_new(const char *label_sep, shelf_eval **out, shelf_error *err);
shelf_status shelf_eval_add(shelf_eval *e, const char *truth, const char *const *ranked,
                            int k);
/* Under --min-confidence, once per row besides shelf_eval_add: given is the path shelf
 * returned at threshold (the top prediction, or an ancestor of it when backed off), NULL or
 * "" when the product went to review. Every call must pass the same threshold (in 0..1),
 * else SHELF_EINVAL; SHELF_ENOMEM counts nothing. */
shelf_status shelf_eval_add_backoff(shelf_eval *e, const char *truth, const char *given,
                                    float threshold);
void shelf_eval_free(shelf_eval *e);

typedef struct shelf_eval_summary {
    long n;
    double accuracy, top5_accuracy;
    double macro_precision, macro_recall, macro_f1;
    double micro_precision, micro_recall, micro_f1;
    double weighted_precision, weighted_recall, weighted_f1;
    int levels;
    /* over each row's prefixes of its true and top predicted paths (none without one):
     * hP = sum |P&T| / sum |P|, hR = sum |P&T| / sum |T| */
    double hier_precision, hier_recall, hier_f1;
    /* rows of shelf_eval_add_backoff: coverage = given any path / rows, precision = given
     * paths that are a prefix of the truth (whole parts) / given paths; partial: given an
     * ancestor path, which no row had as its truth or top prediction */
    int has_backoff;
    double backoff_threshold, backoff_coverage, backoff_precision;
    long backoff_partial, backoff_review;
} shelf_eval_summary;
void shelf_eval_summarize(const shelf_eval *e, shelf_eval_summary *out);
/* Level L from 1: accuracy and macro-F1 over rows whose true path has at least L parts. */
void shelf_eval_level(const shelf_eval *e, int level, long *n, double *accuracy,
                      double *macro_f1);
/* Report as JSON (one object) or as text; caller frees. per_class adds a row per label,
 * confusions lists the most frequent (true, predicted) pairs. */
char *shelf_eval_json(const shelf_eval *e, int per_class, int confusions);
char *shelf_eval_text(const shelf_eval *e, int per_class, int confusions);

/* Catalog hygiene: what is worth telling before training on a catalog. Exact duplicates
 * (and duplicates labelled differently, which no model can get all right), and leaf names
 * under two parents (the label is the whole path, so "Men > Shoes" and "Women > Shoes" are
 * two labels). Counts, and up to SHELF_HYGIENE_EXAMPLES examples of each finding. */
#define SHELF_HYGIENE_EXAMPLES 5

/* Two products of a catalog, by index: one and an earlier one it repeats. */
typedef struct shelf_hygiene_pair {
    size_t product, earlier;
} shelf_hygiene_pair;

/* A leaf name and two of the label paths it ends (their parents differ); the strings belong
 * to the catalog. */
typedef struct shelf_hygiene_leaf {
    const char *leaf, *label, *other_label;
} shelf_hygiene_leaf;

typedef struct shelf_hygiene {
    long duplicates;  /* products whose text (and image, with_image) repeat an earlier one's */
    long conflicting; /* groups of such products, with the one they repeat, having more than
                         one label */
    long two_parents; /* leaf names that sit under more than one parent path */
    /* the examples: duplicates and conflicts the first in catalog order (of the repeating
     * product; a conflict's pair has different labels), leaves in byte order of the leaf */
    int n_duplicate_examples, n_conflicting_examples, n_two_parent_examples;
    shelf_hygiene_pair duplicate_examples[SHELF_HYGIENE_EXAMPLES];
    shelf_hygiene_pair conflicting_examples[SHELF_HYGIENE_EXAMPLES];
    shelf_hygiene_leaf two_parent_examples[SHELF_HYGIENE_EXAMPLES];
} shelf_hygiene;

/* Checks catalog c, its label paths split on label_sep (NULL: SHELF_DEFAULT_LABEL_SEP);
 * with_image, a duplicate must repeat the image reference too. Fills *out; SHELF_EINVAL or
 * SHELF_ENOMEM (*out then all 0). */
shelf_status shelf_catalog_hygiene(const shelf_catalog *c, const char *label_sep,
                                   int with_image, shelf_hygiene *out, shelf_error *err);

/* ---- writing predictions ------------------------------------------------------------ */

/* Predictions as shelf predict writes them and the server answers them: per product its id,
 * its best labels with their probabilities, and what else was asked for, under the same
 * names in every format. */
typedef enum shelf_output_format {
    SHELF_OUTPUT_JSONL = 0, /* {"id":"p1","labels":["a","b"],"probs":[0.91,0.05]}, strings
                               JSON-escaped (invalid UTF-8 becomes U+FFFD) */
    SHELF_OUTPUT_CSV,       /* a header, then fields quoted as RFC 4180 says when they need it */
    SHELF_OUTPUT_TSV        /* a header; tabs and line breaks inside fields become spaces */
} shelf_output_format;

/* Parses "jsonl" (or "ndjson"), "csv" or "tsv", in any case; SHELF_EINVAL otherwise. */
shelf_status shelf_output_format_parse(const char *name, shelf_output_format *out,
                                       shelf_error *err);

/* What every row of an output holds, the same for its header and each row. Zero what you do
 * not use: fields added later (explanations, embeddings) are left out at 0. */
typedef struct shelf_output_columns {
    shelf_output_format format;
    int k;          /* CSV, TSV: label and probability columns, label1,prob1..labelk,probk; a
                       row with fewer labels leaves the rest empty */
    int backoff;    /* the path given after back-off, its confidence and its status: JSONL
                       "path" (null for review), "confidence", "status" ("full", "partial" or
                       "review"); CSV, TSV columns path (empty for review), confidence, status */
    int modalities; /* what each product was classified by: JSONL "modalities" (a list,
                       ["text","image"]), CSV, TSV column modalities ("text+image") */
    int fusion;     /* fused models, the weights of text and image for the product
                       (shelf_predictor_fusion): JSONL "fusion" ({"text":0.41,"image":1.3}),
                       CSV, TSV columns fusion_text, fusion_image */
    int explain;    /* JSONL "explanation" (shelf_predictor_explain's object), CSV, TSV column
                       explanation (that JSON text) */
} shelf_output_columns;

/* One product's prediction. Strings are NUL-terminated UTF-8; a NULL id or label is "". */
typedef struct shelf_prediction {
    const char *id;
    int n;                       /* labels, best first, with their probabilities */
    const char *const *labels;
    const float *probs;
    /* with columns.backoff: what shelf_backoff gave */
    shelf_backoff_result status;
    const char *path;
    float confidence;
    /* with columns.modalities: SHELF_USED_TEXT and/or SHELF_USED_IMAGE */
    unsigned used;
    /* with columns.fusion: the weights of text and image */
    float fusion[2];
    /* with columns.explain: a JSON object's text (NULL: null) */
    const char *explanation;
} shelf_prediction;

/* CSV, TSV: the header, "id,label1,prob1,...,path,confidence,status,modalities,fusion_text,
 * fusion_image,explanation" as c says;
 * JSONL: nothing. */
shelf_status shelf_write_prediction_header(FILE *f, const shelf_output_columns *c,
                                           shelf_error *err);
/* Writes p as one line (JSONL, with its newline) or one row. Probabilities have 6
 * significant digits; one that is not finite is written as 0. SHELF_EINVAL for bad
 * arguments; a failed write is left in f's error flag, for shelf_outfile_flush (or ferror)
 * to report once after many rows. */
shelf_status shelf_write_prediction(FILE *f, const shelf_output_columns *c,
                                    const shelf_prediction *p, shelf_error *err);

/* ---- output files ------------------------------------------------------------------- */

/* Files a program writes (predictions, reports) the way shelf writes models: checked before
 * any work starts, so that a long run does not end in "cannot write", and written
 * atomically (a temporary file beside the target, fsynced, renamed over it), so that a crash
 * or a full disk leaves the old file or the new one, never half. Only a regular file or a
 * new name is ever replaced: never a device, a FIFO, a socket, a folder or a symbolic link. */
typedef struct shelf_outfile shelf_outfile;

/* SHELF_OK if path may be written: a regular file or a new name, in an existing folder that
 * can be written; else SHELF_EIO with a message naming path and why not. */
shelf_status shelf_outfile_check(const char *path, shelf_error *err);
/* Checks path and opens a temporary file beside it (mode 0644) to write to. */
shelf_status shelf_outfile_open(const char *path, shelf_outfile **out, shelf_error *err);
/* Where to write; the stream belongs to o. */
FILE *shelf_outfile_stream(const shelf_outfile *o);
/* Flushes, fsyncs and renames the temporary file over the target, reporting any write that
 * failed ("PATH: cannot write: No space left on device"); on failure the temporary file is
 * removed and the target left as it was. Frees o either way. */
shelf_status shelf_outfile_commit(shelf_outfile *o, shelf_error *err);
/* Removes the temporary file, leaving the target as it was, and frees o. NULL does nothing. */
void shelf_outfile_discard(shelf_outfile *o);
/* Flushes f (standard output, or a shelf_outfile_stream between batches) and checks that
 * every write to it succeeded; name is its path or "standard output". SHELF_OK, or SHELF_EIO
 * with "NAME: cannot write: REASON". */
shelf_status shelf_outfile_flush(FILE *f, const char *name, shelf_error *err);

/* ---- similarity: an index of a catalog's embeddings ------------------------------------- */

/* The embeddings of a catalog's products (shelf_embed) with their ids and labels, and the
 * fingerprint of the model that made them, for the nearest neighbours of new products
 * (similar products, recommendations) and near-duplicate listings. Searched exactly by
 * matrix products (OpenBLAS), or approximately by an HNSW graph (hnswlib) for large
 * catalogs. Saved to one file, checksummed and written atomically as models are. */
typedef struct shelf_index shelf_index;

typedef enum shelf_index_type {
    SHELF_INDEX_AUTO = 0, /* exact below SHELF_INDEX_AUTO_ROWS products, else HNSW */
    SHELF_INDEX_EXACT,
    SHELF_INDEX_HNSW
} shelf_index_type;
#define SHELF_INDEX_AUTO_ROWS 50000
/* "auto", "exact" or "hnsw"; SHELF_EINVAL otherwise. */
shelf_status shelf_index_type_parse(const char *name, shelf_index_type *out, shelf_error *err);

/* An empty index for model m's embeddings. */
shelf_status shelf_index_new(const shelf_model *m, shelf_index **out, shelf_error *err);
/* Appends n products: their ids (repeats allowed: an id finds its first product), labels
 * (the catalog's; NULL with labels_predicted 1 when they are the model's best guesses) and
 * vectors vecs[n][shelf_embedding_dim]. labels_predicted must be the same at every call. */
shelf_status shelf_index_add(shelf_index *x, const char *const *ids,
                             const char *const *labels, int labels_predicted,
                             const float *vecs, size_t n, shelf_error *err);
/* Makes the index searchable as type says, on `threads` threads (0: all cores): for HNSW,
 * builds the graph (a second copy of the vectors, and minutes for millions). */
shelf_status shelf_index_build(shelf_index *x, shelf_index_type type, int threads,
                               shelf_error *err);
shelf_status shelf_index_save(const shelf_index *x, const char *path, shelf_error *err);
/* Loads an index; with a model (NULL: not checked), refuses one that model did not make. */
shelf_status shelf_index_load(const char *path, const shelf_model *m, shelf_index **out,
                              shelf_error *err);
void shelf_index_free(shelf_index *x);

size_t shelf_index_size(const shelf_index *x);
size_t shelf_index_dim(const shelf_index *x);
int shelf_index_is_approximate(const shelf_index *x);
/* Product i's id and label; NULL when i is not a product of the index. */
const char *shelf_index_id(const shelf_index *x, size_t i);
const char *shelf_index_label(const shelf_index *x, size_t i);
/* Whether the labels are the model's guesses rather than the catalog's. */
int shelf_index_labels_predicted(const shelf_index *x);
/* The first product with this id, or -1. */
long shelf_index_find(const shelf_index *x, const char *id);
/* Product i's vector (shelf_index_dim floats), NULL when i is out of range. */
const float *shelf_index_vector(const shelf_index *x, size_t i);
/* The k nearest products (1 <= k <= 1000, and no more than the index holds) of each of nq
 * queries queries[nq][dim] by cosine, best first (ties: the earlier product first):
 * rows[q * k ..] and scores[q * k ..]; query q's own product skip[q] is left out (skip
 * NULL, or -1: none), for the neighbours of a product of the index. exact 1 searches every
 * product even when the index has a graph. Runs on `threads` threads (0: all cores).
 * SHELF_EINVAL for a bad k. */
shelf_status shelf_index_search(const shelf_index *x, const float *queries, size_t nq, int k,
                                const long *skip, int exact, int threads, long *rows,
                                float *scores, shelf_error *err);

/* ---- near-duplicates without a model (shelf duplicates --data) ----------------------- */

/* Listings of the same product in one catalog, whatever a seller changed: word order, case,
 * a typo, words added to the title; the photo re-encoded, mirrored or cut by a tenth of a
 * side. Each product gets a fingerprint (its title's words with their letters sorted,
 * TF-IDF weighted over the catalog, and the outline of the object in its photo, the same
 * under a mirror); pairs whose fingerprints are at least `candidate` close among each
 * product's k nearest are verified on their photos (the best correlation of their grey
 * thumbnails over a mirror and a cut of a tenth of each side) or, when one has none, on
 * their titles, and kept at `threshold` or above. A photo of one colour counts as none.
 * Memory: the fingerprint (7 KB, twice that from SHELF_INDEX_AUTO_ROWS products, when a
 * graph is built) and a thumbnail (at most 16 KB) per product. */
#define SHELF_DUPLICATE_THRESHOLD 0.999f
#define SHELF_DUPLICATE_CANDIDATE 0.7f
typedef struct shelf_duplicate_options {
    float threshold; /* verified similarity a pair needs (SHELF_DUPLICATE_THRESHOLD) */
    float candidate; /* fingerprint cosine for a pair to be verified */
    int k;           /* nearest products looked at per product, 1 to 1000 (10) */
    int threads;     /* 0: all cores */
    int skip_bad;    /* a photo that cannot be read leaves its product's photo out (counted),
                        instead of stopping with FILE:LINE */
} shelf_duplicate_options;
void shelf_duplicate_options_default(shelf_duplicate_options *o);
typedef struct shelf_duplicate_pair {
    size_t a, b;  /* products of the catalog, a < b */
    float score;  /* the verified similarity */
} shelf_duplicate_pair;
typedef struct shelf_duplicate_pairs {
    shelf_duplicate_pair *pairs; /* by a, then b */
    size_t n;
    long unread_photos;          /* under skip_bad */
    char first_unread[SHELF_ERROR_MAX]; /* FILE:LINE: IMAGE: why, of the first */
} shelf_duplicate_pairs;
shelf_status shelf_find_duplicates(const shelf_catalog *c, const shelf_duplicate_options *o,
                                   shelf_duplicate_pairs *out, shelf_error *err);
void shelf_duplicate_pairs_free(shelf_duplicate_pairs *p);

/* ---- writing vectors (embeddings) ----------------------------------------------------- */

/* Files of vectors: numpy's .npy (float32, little-endian, one row a product: numpy, faiss
 * and vector databases read it as it is), .fvecs (per vector an int32 count then the
 * floats, as the ANN benchmarks' files) or JSONL ({"id":"p1","vector":[0.12,...]}, 6
 * significant digits). npy and fvecs carry no ids: they go to a file of their own, one a
 * line in the vectors' order (a line break, carriage return or backslash in an id written
 * as \n, \r, \\). */
typedef enum shelf_vector_format {
    SHELF_VECTORS_NPY = 0,
    SHELF_VECTORS_FVECS,
    SHELF_VECTORS_JSONL
} shelf_vector_format;

/* "npy", "fvecs" or "jsonl" (any case); SHELF_EINVAL otherwise. */
shelf_status shelf_vector_format_parse(const char *name, shelf_vector_format *out,
                                       shelf_error *err);
/* The format a file's name asks for: .npy, .fvecs, else JSONL. */
shelf_vector_format shelf_vector_format_of(const char *path);

typedef struct shelf_vector_writer shelf_vector_writer;
/* Vectors of dim floats to path (NULL: standard output, JSONL only), written atomically as
 * a model file is; npy and fvecs need ids_path for the ids (NULL: none written). */
shelf_status shelf_vector_writer_open(const char *path, const char *ids_path,
                                      shelf_vector_format fmt, size_t dim,
                                      shelf_vector_writer **out, shelf_error *err);
/* Appends n vectors vecs[n][dim] with their ids (NULL: ""). A write error shows at commit. */
shelf_status shelf_vector_writer_add(shelf_vector_writer *w, const char *const *ids,
                                     const float *vecs, size_t n, shelf_error *err);
/* Completes the files (npy's row count) and puts them in place; frees w either way. */
shelf_status shelf_vector_writer_commit(shelf_vector_writer *w, shelf_error *err);
/* Leaves any old files as they were; frees w. NULL does nothing. */
void shelf_vector_writer_discard(shelf_vector_writer *w);

#ifdef __cplusplus
}
#endif
#endif
