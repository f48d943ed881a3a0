/* shelf train: catalog in, model file out, validation metrics at the end. */
#include <limits.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hygiene.h"
#include "options.h"
#include "parallel.h"
#include "parts.h"
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

/* The catalog at path, or its part under mpirun (part not NULL). */
static shelf_catalog *load(const char *path, const shelf_read_options *ro,
                           const shelf_catalog_part *part)
{
    shelf_catalog *c = NULL;
    shelf_error err = {0};
    if (part && part->start >= part->end) {
        fprintf(stderr, "shelf train: %s has too few products for %d ranks: rank %d's part is "
                "empty (use fewer ranks)\n", path, par_size(), par_rank());
        return NULL;
    }
    if ((part ? shelf_catalog_load_part(path, ro, part, &c, &err)
              : shelf_catalog_load(path, ro, &c, &err)) != SHELF_OK) {
        fprintf(stderr, "shelf train: %s\n", err.message);
        return NULL;
    }
    shelf_read_stats st;
    shelf_catalog_stats(c, &st);
    report_read_stats(path, &st);
    return c;
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

/* shelf train's own options; the training options are the library's table. */
typedef struct train_args {
    const char *train, *valid, *out, *init;
    int quiet;
    read_flags rf;
    float autotune;      /* seconds; 0: no search */
    int autotune_trials; /* 0: as many as the budget allows */
    const char *autotune_metric, *autotune_log;
    float ensemble_margin;
    int quantize, cutoff; /* shelf quantize's, on the model trained */
    const char *checkpoint, *resume; /* folders */
} train_args;

static const shelf_option train_opts[] = {
    OPT_STRING(train_args, "train", train, NULL, "training catalog (required)"),
    OPT_STRING(train_args, "valid", valid, NULL,
               "validation catalog: early stopping and final metrics"),
    OPT_STRING(train_args, "out", out, NULL, "model file to write (required)"),
    OPT_STRING(train_args, "init", init, NULL,
               "continue training this model (a sparse bag of n-grams): its settings, "
               "columns and weights are kept, its labels too, and --train's new labels and "
               "words are added"),
    OPT_FLAG(train_args, "quiet", quiet, "no progress line"),
    OPT_FLOAT(train_args, "autotune", autotune, 0, "no search", 1, 86400,
              "search for the best text model within this many seconds, each trial scored "
              "on --valid (which it needs): bag settings, a GRU, a Transformer, ensembles "
              "of them; the winner is written"),
    OPT_INT(train_args, "autotune-trials", autotune_trials, 0, "as the budget allows", 0, 10000,
            "at most this many trials (with --threads 1 and --seed, the same choice on any "
            "machine; the sequence encoders from 8 on)"),
    OPT_STRING(train_args, "autotune-metric", autotune_metric, "accuracy",
               "what the search maximizes on --valid: accuracy, macro_f1 or coverage@0.99 "
               "(the share back-off classifies at precision 0.99)"),
    OPT_FLOAT(train_args, "autotune-ensemble-margin", ensemble_margin, 0, NULL, -2, 1,
              "what an ensemble must gain on the metric over the best single model to be "
              "chosen, since it predicts at the pace of its members together (0: any gain; "
              "below -1: always)"),
    OPT_STRING(train_args, "autotune-log", autotune_log, NULL,
               "write each trial (settings, validation figure, seconds) as a JSON line"),
    OPT_FLAG(train_args, "quantize", quantize,
             "write the model with int8 weights, as shelf quantize does (the sparse bag, "
             "the CNN calibrated on training images)"),
    OPT_INT(train_args, "cutoff", cutoff, 0, "all", 0, INT_MAX,
            "with --quantize: keep only this many features, those that weigh most"),
    OPT_STRING(train_args, "checkpoint", checkpoint, NULL,
               "write the training state to this folder after every epoch (made if "
               "missing), for --resume (the bag of n-grams)"),
    OPT_STRING(train_args, "resume", resume, NULL,
               "go on from the checkpoint in this folder, of a run stopped or killed: give "
               "the command that wrote it, with --resume; it checkpoints there still"),
};

/* What --autotune tells of each trial: a JSON line to --autotune-log, and unless --quiet
 * the same to stderr. */
typedef struct trial_sink {
    FILE *log;
    int quiet;
} trial_sink;

static void tell_trial(const char *json, void *user)
{
    trial_sink *t = user;
    if (t->log) {
        fputs(json, t->log);
        fputc('\n', t->log);
    }
    if (!t->quiet)
        fprintf(stderr, "autotune %s\n", json);
}

/* The columns and paths are recorded in the model: eval and predict read the same ones. */
static const shelf_option catalog_opts[] = {
    READ_FILE_OPTS(train_args),
    COLUMN_OPTS(train_args, "whichever of title, name, description exist, joined",
                "id, else the line number", "image, when present"),
    OPT_STRING(train_args, "label", rf.label, "category", "label column"),
    OPT_STRING(train_args, "label-sep", rf.label_sep, "' > '",
               "separator of label path levels"),
    OPT_INT(train_args, "max-depth", rf.max_depth, 0, "whole paths", 0, INT_MAX,
            "keep the first N levels of each label path"),
};

static void usage(void)
{
    opt_usage("train", "--train FILE [--valid FILE] --out MODEL [options]");
    opt_section("options", OPT_TABLE(train_opts, NULL));
    opt_section("reading the catalog (its columns, separator and depth are recorded in the "
                "model, for eval and predict)", OPT_TABLE(catalog_opts, NULL));
    opt_train_sections();
}

static int by_string(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A validation catalog without some of the training labels (common: fashion's lacks 49 of
 * 165) is fine, but its figures, early stopping and calibration say nothing of those: a
 * warning with the count. */
static void warn_missing_labels(const shelf_catalog *tc, const shelf_catalog *vc,
                                const char *valid)
{
    size_t nt = shelf_catalog_size(tc), nv = shelf_catalog_size(vc), distinct = 0, missing = 0;
    const char **t = malloc((nt + 1) * sizeof *t), **v = malloc((nv + 1) * sizeof *v);
    if (t && v) {
        for (size_t i = 0; i < nt; i++)
            t[i] = shelf_catalog_get(tc, i)->label;
        for (size_t i = 0; i < nv; i++)
            v[i] = shelf_catalog_get(vc, i)->label;
        qsort(t, nt, sizeof *t, by_string);
        qsort(v, nv, sizeof *v, by_string);
        for (size_t i = 0; i < nt; i++) {
            if (i > 0 && strcmp(t[i], t[i - 1]) == 0)
                continue;
            distinct++;
            missing += !bsearch(&t[i], v, nv, sizeof *v, by_string);
        }
    }
    if (missing)
        fprintf(stderr, "warning: %s has no product of %zu of the %zu training labels: its "
                "figures, early stopping and calibration do not see them\n", valid, missing,
                distinct);
    free(t);
    free(v);
}

/* The run, after the arguments are parsed (and --init's model loaded into o). */
static int train_run(train_args a, shelf_train_options o)
{
    const char *train = a.train, *valid = a.valid, *out = a.out;
    if (read_flags_apply(&a.rf, o.init ? shelf_model_read_options(o.init) : NULL, &o.read))
        return 2;
    if (o.init && (a.autotune > 0 || a.autotune_trials > 0)) {
        fprintf(stderr, "shelf train: --autotune searches models from the start; it does not "
                        "continue one (--init)\n");
        return 2;
    }
    int tuning = a.autotune > 0 || a.autotune_trials > 0;
    trial_sink sink = {NULL, a.quiet};
    shelf_autotune_options ao = {a.autotune, a.autotune_trials, SHELF_AUTOTUNE_ACCURACY,
                                 a.ensemble_margin, tell_trial, &sink};
    if (!tuning && a.autotune_log) {
        fprintf(stderr, "shelf train: --autotune-log records a search: give --autotune or "
                        "--autotune-trials\n");
        return 2;
    }
    if (tuning && o.modality != SHELF_MODALITY_TEXT) {
        fprintf(stderr, "shelf train: --autotune searches text models, not --modality %s\n",
                o.modality == SHELF_MODALITY_IMAGE ? "image" : "both");
        return 2;
    }
    if (a.cutoff && !a.quantize) {
        fprintf(stderr, "shelf train: --cutoff prunes a quantized model: give --quantize\n");
        return 2;
    }
    if (a.quantize && (tuning || (o.text_encoder == SHELF_TEXT_ENCODER_BAG && o.dim > 0 &&
                                  o.modality != SHELF_MODALITY_IMAGE) ||
                       (o.modality == SHELF_MODALITY_BOTH &&
                        o.text_encoder != SHELF_TEXT_ENCODER_BAG))) {
        fprintf(stderr, "shelf train: --quantize makes int8 models of the sparse bag of "
                        "n-grams, the GRU, the Transformer and the CNN (not with --autotune, "
                        "the bag's --dim, or a fused model's sequence encoder)\n");
        return 2;
    }
    if ((a.checkpoint || a.resume) && (tuning || a.init)) {
        fprintf(stderr, "shelf train: --checkpoint and --resume keep one run's state; not with "
                        "--autotune or --init\n");
        return 2;
    }
    if (par_size() > 1 && (tuning || a.init)) {
        if (par_rank() == 0)
            fprintf(stderr, "shelf train: under mpirun the ranks train one bag model together; "
                            "--autotune and --init run in one process\n");
        return 2;
    }
    if (tuning && !valid) {
        fprintf(stderr, "shelf train: --autotune scores its trials on the validation set: "
                        "give --valid\n");
        return 2;
    }
    if (a.autotune_metric && strcmp(a.autotune_metric, "accuracy") != 0) {
        if (strcmp(a.autotune_metric, "macro_f1") == 0) {
            ao.metric = SHELF_AUTOTUNE_MACRO_F1;
        } else if (strcmp(a.autotune_metric, "coverage@0.99") == 0) {
            ao.metric = SHELF_AUTOTUNE_COVERAGE;
        } else {
            fprintf(stderr, "shelf train: --autotune-metric is accuracy, macro_f1 or "
                            "coverage@0.99, not '%s'\n", a.autotune_metric);
            return 2;
        }
    }
    if (o.balance == SHELF_BALANCE_ADJUST && !valid) { /* before reading a catalog */
        fprintf(stderr, "shelf train: --balance adjust fits its strength on the validation "
                        "set: give --valid\n");
        return 2;
    }
    shelf_error err = {0};
    if (shelf_train_options_check(&o, &err) != SHELF_OK) { /* before reading a catalog */
        fprintf(stderr, "shelf train: %s\n", err.message);
        return 1;
    }
    o.read.require_label = 1;
    o.read.for_images = o.modality != SHELF_MODALITY_TEXT;
    o.train_path = train;
    if (!a.quiet && isatty(2))
        o.progress = show_progress;

    const char *inputs[] = {train, valid, a.init}, *names[] = {"--train", "--valid", "--init"};
    if (out_is_an_input("train", out, inputs, names, 3))
        return 2;
    if (shelf_outfile_check(out, &err) != SHELF_OK) { /* now, not after the training */
        fprintf(stderr, "shelf train: --out %s\n", err.message);
        return 1;
    }
    int status = 1;
    shelf_model *m = NULL;
    shelf_catalog *tc = NULL, *vc = NULL;
    shelf_catalog_part part;
    shelf_comm comm;
    const int ranks = par_size(), me = par_rank();
    if (ranks > 1) { /* each rank its part of the training catalog, and all of valid */
        if (parts_split("train", train, &o.read, &part))
            goto done;
        par_comm(&comm);
        o.comm = &comm;
        o.progress = NULL;
    }
    tc = load(train, &o.read, ranks > 1 ? &part : NULL);
    if (tc && valid)
        vc = load(valid, &o.read, NULL);
    if (!par_all_ok(tc && (!valid || vc)))
        goto done;
    if (!a.quiet && me == 0)
        hygiene_report(tc, train, o.read.label_sep, o.modality != SHELF_MODALITY_TEXT,
                       stderr);
    if (vc && ranks == 1) /* a rank sees its part's labels only */
        warn_missing_labels(tc, vc, valid);
    FILE *tlog = NULL;
    if (tuning && a.autotune_log) {
        if (!(tlog = fopen(a.autotune_log, "w"))) {
            fprintf(stderr, "shelf train: --autotune-log %s: cannot open: %s\n",
                    a.autotune_log, strerror(errno));
            goto done;
        }
        sink.log = tlog;
    }
    double tuned = 0;
    shelf_status ts = tuning ? shelf_autotune(tc, vc, &o, &ao, &m, &tuned, &err)
                             : shelf_train(tc, vc, &o, &m, &err);
    shelf_quantize_options qo = shelf_quantize_options_default();
    qo.cutoff = a.cutoff;
    qo.calibration = tc; /* the CNN's activations: calibrated on training images */
    qo.threads = o.threads;
    if (ts == SHELF_OK && a.quantize && me == 0) /* rank 0's model is the one written */
        ts = shelf_model_quantize(m, &qo, NULL, &err);
    if (tlog && fclose(tlog) != 0 && ts == SHELF_OK)
        ts = SHELF_EIO, snprintf(err.message, sizeof err.message, "--autotune-log %s: "
                                 "cannot write", a.autotune_log);
    if (ts != SHELF_OK || (me == 0 && shelf_model_save(m, out, &err) != SHELF_OK)) {
        if (o.progress)
            fputc('\n', stderr);
        fprintf(stderr, "shelf train: %s\n", err.message);
        goto done;
    }
    if (me != 0) { /* rank 0 writes the model and tells of it */
        status = 0;
        goto done;
    }
    if (o.progress)
        fputc('\r', stderr);
    struct stat st;
    double mb = stat(out, &st) == 0 ? (double)st.st_size / 1e6 : 0;
    long skipped = shelf_model_skipped_images(m);
    int fused = shelf_model_modality(m) == SHELF_MODALITY_BOTH;
    long empty = shelf_model_skipped_empty(m);
    shelf_model_summary sum;
    shelf_model_summarize(m, &sum);
    fprintf(stderr, "trained on %zu products%s, %d labels; model written to %s (%.1f MB)\n",
            ranks > 1 ? (size_t)sum.train_rows
                      : shelf_catalog_size(tc) - (size_t)(fused ? empty : skipped),
            ranks > 1 ? " (all ranks)" : "", shelf_model_num_labels(m), out, mb);
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

int cmd_train(int argc, char **argv)
{
    train_args a = {0};
    shelf_train_options o;
    shelf_train_options_default(&o);
    const opt_table t[] = {OPT_TABLE(train_opts, &a), OPT_TABLE(catalog_opts, &a)};
    opt_defaults(t, 2);
    int r = opt_parse("train", argc, argv, t, 2, &o);
    if (r)
        return r > 0 ? (usage(), 0) : 2;
    if (!a.train || !a.out) {
        fprintf(stderr, "shelf train: --train and --out are required (see shelf train --help)\n");
        return 2;
    }
    shelf_model *init = NULL, *resume = NULL;
    shelf_error err = {0};
    if (a.init && shelf_model_load(a.init, &init, &err) != SHELF_OK) {
        fprintf(stderr, "shelf train: --init %s\n", err.message);
        return 1;
    }
    char ckpt[4096];
    const char *dir = a.checkpoint ? a.checkpoint : a.resume;
    if (dir) { /* DIR/checkpoint.shelf; the folder made when it is missing */
        snprintf(ckpt, sizeof ckpt, "%s/checkpoint.shelf", dir);
        if (a.checkpoint && mkdir(dir, 0777) != 0 && errno != EEXIST) {
            fprintf(stderr, "shelf train: --checkpoint %s: cannot make the folder: %s\n", dir,
                    strerror(errno));
            shelf_model_free(init);
            return 1;
        }
        o.checkpoint = ckpt;
    }
    if (a.resume && shelf_model_load(ckpt, &resume, &err) != SHELF_OK) {
        fprintf(stderr, "shelf train: --resume %s\n", err.message);
        shelf_model_free(init);
        return 1;
    }
    o.init = init;
    o.resume = resume;
    int status = train_run(a, o);
    shelf_model_free(init);
    shelf_model_free(resume);
    return status;
}
