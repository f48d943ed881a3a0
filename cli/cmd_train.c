/* shelf train: catalog in, model file out, validation metrics at the end. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hygiene.h"
#include "options.h"
#include "report.h"

static void show_progress(const shelf_progress *p, void *user)
{
    (void)user;
    int eta = (int)(p->eta_sec + 0.5);
    fprintf(stderr, "\repoch %d/%d  %3.0f%%  %8.0f products/s  loss %.4f  ETA %dm%02ds",
            p->epoch, p->epochs, 100 * p->fraction, p->products_per_sec, p->loss, eta / 60,
            eta % 60);
    if (p->valid_accuracy >= 0)
        fprintf(stderr, "  valid accuracy %.4f\n", p->valid_accuracy);
    fflush(stderr);
}

static shelf_catalog *load(const char *path, const shelf_read_options *ro)
{
    shelf_catalog *c = NULL;
    shelf_error err = {0};
    if (shelf_catalog_load(path, ro, &c, &err) != SHELF_OK) {
        fprintf(stderr, "shelf train: %s\n", err.message);
        return NULL;
    }
    shelf_read_stats st;
    shelf_catalog_stats(c, &st);
    report_read_stats(path, &st);
    return c;
}

/* The index of name among choices (NULL-terminated), or -1 after printing an error. */
static int pick(const char *flag, const char *name, const char *const *choices)
{
    for (int i = 0; choices[i]; i++)
        if (strcmp(name, choices[i]) == 0)
            return i;
    fprintf(stderr, "shelf train: --%s %s: expected one of", flag, name);
    for (int i = 0; choices[i]; i++)
        fprintf(stderr, " %s", choices[i]);
    fputc('\n', stderr);
    return -1;
}

/* Turns the named choices into the options' enums; -1 after printing an error. */
static int apply_choices(shelf_train_options *o, const char *modality, const char *optimizer,
                         const char *sched, const char *augment, const char *balance,
                         const char *encoder)
{
    static const char *const balances[] = {"none", "weight", "oversample", "undersample", NULL};
    static const char *const encoders[] = {"bag", "gru", "transformer", NULL};
    int ba = pick("balance", balance, balances), en = pick("text-encoder", encoder, encoders);
    if (ba < 0 || en < 0)
        return -1;
    o->balance = (shelf_balance)ba;
    o->text_encoder = (shelf_text_encoder)en;
    static const char *const modalities[] = {"text", "image", "both", NULL}; /* shelf_modality */
    static const char *const optimizers[] = {"adamw", "sgd", NULL};  /* shelf_optimizer */
    static const char *const schedules[] = {"onecycle", "cosine", "constant", NULL};
    int mo = pick("modality", modality, modalities), op = pick("optimizer", optimizer, optimizers),
        sc = pick("schedule", sched, schedules);
    if (mo < 0 || op < 0 || sc < 0)
        return -1;
    o->modality = (shelf_modality)mo;
    o->optimizer = (shelf_optimizer)op;
    o->schedule = (shelf_schedule)sc;
    shelf_error err = {0};
    if (augment && shelf_augment_parse(augment, &o->augment, &err) != SHELF_OK) {
        fprintf(stderr, "shelf train: --augment: %s\n", err.message);
        return -1;
    }
    return 0;
}

/* How long the training took: the model file keeps no times (the same command writes the
 * same bytes), so they are told here, in shelf info's former words. */
static void speed_report(const shelf_model *m)
{
    shelf_model_summary s;
    shelf_model_summarize(m, &s);
    int image = s.modality != SHELF_MODALITY_TEXT;
    if (s.fit_seconds > 0 && image)
        fprintf(stderr, "speed             %.1f training images/s (%.1f s in training steps)\n",
                (double)s.train_rows * s.epochs_planned / s.fit_seconds, s.fit_seconds);
    else if (s.fit_seconds > 0)
        fprintf(stderr, "speed             %.1f training texts/s (%.1f s per epoch in training "
                "steps)\n", (double)s.train_rows / s.fit_seconds, s.fit_seconds);
    fprintf(stderr, "time              %.1f s in all\n", s.train_seconds);
}

int cmd_train(int argc, char **argv)
{
    const char *train = NULL, *valid = NULL, *out = NULL, *modality = "text";
    const char *optimizer = "adamw", *sched = "onecycle", *augment = NULL, *balance = "none";
    const char *encoder = "bag";
    int quiet = 0;
    read_flags rf = {0};
    shelf_train_options o;
    shelf_train_options_default(&o);
    const opt opts[] = {
        {"train", OPT_STR, &train, "training catalog (required)"},
        {"valid", OPT_STR, &valid, "validation catalog: early stopping and final metrics"},
        {"out", OPT_STR, &out, "model file to write (required)"},
        {"modality", OPT_STR, &modality,
         "text (default), image, or both (the CNN learns on top of the text model)"},
        {"epochs", OPT_INT, &o.epochs,
         "passes over the data (default: text from the catalog size, image 8; gru and "
         "transformer: enough for 2,000 steps, 5 to 50)"},
        {"lr", OPT_FLOAT, &o.lr, "learning rate (default: text 1, image adamw 0.002, sgd 0.05)"},
        {"dim", OPT_INT, &o.dim, "0: sparse linear model (default); D: embeddings of size D "
         "(gru, transformer: their width, default 128)"},
        {"text-encoder", OPT_STR, &encoder,
         "bag (default: n-grams), gru (bidirectional) or transformer: tokens in order"},
        {"max-tokens", OPT_INT, &o.max_tokens, "gru, transformer: tokens kept of a text (64)"},
        {"layers", OPT_INT, &o.layers, "transformer: blocks (default 2); gru: layers (default 1)"},
        {"heads", OPT_INT, &o.heads, "transformer: attention heads (default 4)"},
        {"dropout", OPT_FLOAT, &o.dropout,
         "gru, transformer: share of token embeddings, pooled features and (transformer) "
         "attention and feed-forward outputs dropped (0.1)"},
        {"ngrams", OPT_INT, &o.ngrams, "word n-grams up to N (default 2)"},
        {"minn", OPT_INT, &o.minn, "shortest character n-gram (default 2)"},
        {"maxn", OPT_INT, &o.maxn, "longest character n-gram (default 5; 0: none)"},
        {"buckets", OPT_INT, &o.buckets, "hash buckets (default 2000000); gru, transformer: "
         "rows for subwords (bigrams, character 3-grams), 0 (default): none"},
        {"threads", OPT_INT, &o.threads, "threads (default: all cores)"},
        {"hierarchy", OPT_FLAG, &o.hierarchy, "share weights along label paths"},
        {"balance", OPT_STR, &balance, "none (default), weight, oversample or undersample"},
        {"balance-power", OPT_FLOAT, &o.balance_power,
         "class weight = (mean class size / size)^power (0.5)"},
        {"label-smoothing", OPT_FLOAT, &o.label_smoothing,
         "share of the target spread over all labels (0)"},
        {"seed", OPT_U64, &o.seed, "random seed (default 1)"},
        {"image-size", OPT_INT, &o.image_size, "image models: input side in pixels (default 64)"},
        {"width", OPT_INT, &o.width, "image models: channels of the first convolution (32)"},
        {"batch", OPT_INT, &o.batch,
         "image models: images per step (default 64); gru, transformer: texts (32)"},
        {"optimizer", OPT_STR, &optimizer, "image models: adamw (default) or sgd"},
        {"weight-decay", OPT_FLOAT, &o.weight_decay,
         "image models, gru, transformer: weight decay (0.0005)"},
        {"schedule", OPT_STR, &sched, "image models: onecycle (default), cosine or constant"},
        {"augment", OPT_STR, &augment,
         "image models: flip,crop,rotate,jitter (default all) or none"},
        {"quiet", OPT_FLAG, &quiet, "no progress line"},
        READ_FLAG_OPTS(rf),
        IMAGE_COLUMN_OPT(rf),
        {NULL, 0, NULL, NULL}};
    const char *synopsis = "--train FILE [--valid FILE] --out MODEL [options]";
    int r = opt_parse("train", argc, argv, opts);
    if (r)
        return r > 0 ? (opt_usage("train", synopsis, opts), 0) : 2;
    if (!train || !out) {
        fprintf(stderr, "shelf train: --train and --out are required (see shelf train --help)\n");
        return 2;
    }
    if (apply_choices(&o, modality, optimizer, sched, augment, balance, encoder))
        return 2;
    if (read_flags_apply(&rf, NULL, &o.read))
        return 2;
    o.read.require_label = 1;
    o.read.for_images = o.modality != SHELF_MODALITY_TEXT;
    o.train_path = train;
    if (!quiet && isatty(2))
        o.progress = show_progress;

    const char *inputs[] = {train, valid}, *names[] = {"--train", "--valid"};
    if (out_is_an_input("train", out, inputs, names, 2))
        return 2;
    shelf_error err = {0};
    if (shelf_outfile_check(out, &err) != SHELF_OK) { /* now, not after the training */
        fprintf(stderr, "shelf train: --out %s\n", err.message);
        return 1;
    }
    int status = 1;
    shelf_model *m = NULL;
    shelf_catalog *tc = load(train, &o.read), *vc = NULL;
    if (!tc || (valid && !(vc = load(valid, &o.read))))
        goto done;
    if (!quiet)
        hygiene_report(tc, train, o.read.label_sep, o.modality != SHELF_MODALITY_TEXT,
                       stderr);
    if (shelf_train(tc, vc, &o, &m, &err) != SHELF_OK ||
        shelf_model_save(m, out, &err) != SHELF_OK) {
        if (o.progress)
            fputc('\n', stderr);
        fprintf(stderr, "shelf train: %s\n", err.message);
        goto done;
    }
    if (o.progress)
        fputc('\r', stderr);
    struct stat st;
    double mb = stat(out, &st) == 0 ? (double)st.st_size / 1e6 : 0;
    long skipped = shelf_model_skipped_images(m);
    int fused = shelf_model_modality(m) == SHELF_MODALITY_BOTH;
    long empty = shelf_model_skipped_empty(m);
    fprintf(stderr, "trained on %zu products, %d labels; model written to %s (%.1f MB)\n",
            shelf_catalog_size(tc) - (size_t)(fused ? empty : skipped),
            shelf_model_num_labels(m), out, mb);
    speed_report(m);
    if (empty)
        fprintf(stderr, "%s: skipped %ld products with neither a text nor an image\n", train,
                empty);
    if (skipped && fused)
        fprintf(stderr, "%s: %ld products without a usable image: only the text model learned "
                "from them\n", train, skipped);
    else if (skipped)
        fprintf(stderr, "%s: skipped %ld products with a bad image\n", train, skipped);
    if (shelf_model_num_labels(m) < 2)
        fprintf(stderr, "warning: %s has a single label: every product will be given it\n",
                train);
    status = 0;
    if (vc) {
        fprintf(stderr, "\nvalidation (%s):\n", valid);
        report_options ro = {.confusions = 5, .threads = o.threads, .skip_bad = o.read.skip_bad};
        status = report_catalog(m, vc, valid, &ro, stderr) ? 1 : 0;
    }
done:
    shelf_model_free(m);
    shelf_catalog_free(tc);
    shelf_catalog_free(vc);
    return status;
}
