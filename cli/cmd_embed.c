/* shelf embed: one L2-normalized vector per product (shelf_embed), streaming (stream.h), to
 * .npy, .fvecs or JSONL, with the ids beside. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "embedding.h"
#include "options.h"

/* The vectors of a batch's kept products to the file. */
static int write_vectors(embedding *e, const batch *b, size_t n)
{
    (void)b;
    shelf_error err = {0};
    if (shelf_vector_writer_add(e->sink_arg, e->ids, e->vecs, n, &err) == SHELF_OK)
        return 0;
    note(e->pg, "%s", err.message);
    return -1;
}

typedef struct embed_args {
    const char *model, *data, *out, *outfmt, *ids;
    int threads;
    read_flags rf;
} embed_args;

static const shelf_option embed_opts[] = {
    OPT_STRING(embed_args, "model", model, NULL, "model file (required)"),
    OPT_STRING(embed_args, "data", data, "standard input",
               "catalog to embed, or - for standard input"),
    OPT_STRING(embed_args, "out", out, "standard output (JSONL only)",
               "file to write; written whole or not at all"),
    OPT_STRING(embed_args, "output-format", outfmt, "from --out's extension, else jsonl",
               "npy, fvecs or jsonl"),
    OPT_STRING(embed_args, "ids", ids, "--out with .ids added (npy, fvecs)",
               "file of the ids, one a line in the vectors' order"),
    OPT_INT(embed_args, "threads", threads, 0, "all cores", 0, 64, "threads"),
};
static const shelf_option file_opts[] = {READ_FILE_OPTS(embed_args)};
static const shelf_option column_opts[] = {
    COLUMN_OPTS(embed_args, "the model's", "the model's", "the model's")};

static void usage(void)
{
    opt_usage("embed", "--model MODEL [--data FILE | -] [--out FILE.npy] [options]");
    printf("One L2-normalized vector per product, in input order: each side the model reads\n"
           "(text, photo) gives its encoder's features and the square roots of its label\n"
           "probabilities. A product with no word the model knows gets zeros.\n");
    opt_section("options", OPT_TABLE(embed_opts, NULL));
    opt_section("how the file is written", OPT_TABLE(file_opts, NULL));
    opt_section("its columns: the model's (as given at training), unless these name others",
                OPT_TABLE(column_opts, NULL));
}

/* The run: after the arguments are checked and the model loaded. 0, or 1 after an error. */
static int embed_run(const embed_args *a, const shelf_model *m, shelf_vector_format fmt,
                     const char *ids_path)
{
    shelf_error err = {0};
    shelf_vector_writer *w = NULL;
    if (shelf_vector_writer_open(a->out, ids_path, fmt, shelf_embedding_dim(m), &w, &err) !=
        SHELF_OK) {
        fprintf(stderr, "shelf embed: %s\n", err.message);
        return 1;
    }
    int status = embedding_run("embed", m, &a->rf, a->data, a->threads, write_vectors, w);
    if (status) {
        shelf_vector_writer_discard(w); /* old files stay as they were */
        return status;
    }
    if (shelf_vector_writer_commit(w, &err) == SHELF_OK)
        return 0;
    fprintf(stderr, "shelf embed: %s\n", err.message);
    return 1;
}

int cmd_embed(int argc, char **argv)
{
    embed_args a = {0};
    const opt_table t[] = {OPT_TABLE(embed_opts, &a), OPT_TABLE(file_opts, &a),
                           OPT_TABLE(column_opts, &a)};
    opt_defaults(t, 3);
    int r = opt_parse("embed", argc, argv, t, 3, NULL);
    if (r)
        return r > 0 ? (usage(), 0) : 2;
    shelf_error err = {0};
    shelf_vector_format fmt = shelf_vector_format_of(a.out);
    if (!a.model) {
        fprintf(stderr, "shelf embed: needs --model\n");
        return 2;
    }
    if (a.outfmt && shelf_vector_format_parse(a.outfmt, &fmt, &err) != SHELF_OK) {
        fprintf(stderr, "shelf embed: --output-format: %s\n", err.message);
        return 2;
    }
    if (!a.out && fmt != SHELF_VECTORS_JSONL) {
        fprintf(stderr, "shelf embed: %s vectors need --out FILE\n", a.outfmt);
        return 2;
    }
    if (read_flags_image_is_file(&a.rf, "embed"))
        return 2;
    if (!a.data)
        a.data = "-";
    char ids[4096] = "";
    if (fmt != SHELF_VECTORS_JSONL)
        snprintf(ids, sizeof ids, "%s", a.ids ? a.ids : a.out);
    if (fmt != SHELF_VECTORS_JSONL && !a.ids)
        strncat(ids, ".ids", sizeof ids - strlen(ids) - 1);
    if (a.ids && fmt == SHELF_VECTORS_JSONL)
        fprintf(stderr, "shelf embed: JSONL carries the ids; --ids is not written\n");
    const char *inputs[] = {a.data, a.model}, *names[] = {"--data", "--model"};
    if (out_is_an_input("embed", a.out, inputs, names, 2) ||
        (*ids && out_is_an_input("embed", ids, inputs, names, 2)))
        return 2;
    if ((a.out && shelf_outfile_check(a.out, &err) != SHELF_OK) ||
        (*ids && shelf_outfile_check(ids, &err) != SHELF_OK)) { /* before any work */
        fprintf(stderr, "shelf embed: %s\n", err.message);
        return 1;
    }
    shelf_model *m = NULL;
    if (shelf_model_load(a.model, &m, &err) != SHELF_OK) {
        fprintf(stderr, "shelf embed: %s\n", err.message);
        return 1;
    }
    int status = embed_run(&a, m, fmt, *ids ? ids : NULL);
    shelf_model_free(m);
    return status;
}
