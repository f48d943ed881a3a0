/* shelf: the command-line interface. Parses, calls the library, prints. */
#include <stdio.h>
#include <string.h>

#include "options.h"
#include "parallel.h"

static const struct {
    const char *name;
    int (*run)(int, char **);
    const char *what;
} commands[] = {
    {"train", cmd_train, "train a model on a labelled catalog"},
    {"eval", cmd_eval, "measure a model on a labelled catalog"},
    {"predict", cmd_predict, "categorize products"},
    {"embed", cmd_embed, "one vector per product, for similar products and search"},
    {"index", cmd_index, "a catalog's vectors in an index file, for similar and duplicates"},
    {"similar", cmd_similar, "the most similar products of an index"},
    {"duplicates", cmd_duplicates, "groups of near-duplicate listings (an index, or a catalog without a model)"},
    {"labels", cmd_labels, "add labels to a model from a few examples, without retraining"},
    {"quantize", cmd_quantize, "a smaller model: int8 weights, optionally fewer features"},
    {"report", cmd_report, "a model on a labelled catalog as one HTML page"},
    {"info", cmd_info, "describe a model file"},
    {"serve", cmd_serve, "answer classification requests over HTTP (JSON)"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: shelf COMMAND [options]   (shelf COMMAND --help for its options)\n\n");
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].what);
}

/* The last word on standard output, checked once here for every command (and --help): a
 * write that failed turns a success into exit status 1, with the reason. */
static int finish(int status)
{
    shelf_error err = {0};
    if (shelf_outfile_flush(stdout, "standard output", &err) == SHELF_OK)
        return status;
    fprintf(stderr, "shelf: %s\n", err.message);
    return status ? status : 1;
}

/* The commands that run as ranks of mpirun, each on its part of the work; the others would
 * only do the same work N times, so they refuse. */
static int runs_distributed(const char *name)
{
    return !strcmp(name, "predict") || !strcmp(name, "train");
}

static int run(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return finish(0);
    }
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++) {
        if (strcmp(argv[1], commands[i].name) != 0)
            continue;
        if (par_size() > 1 && !runs_distributed(argv[1])) {
            if (par_rank() == 0)
                fprintf(stderr, "shelf %s runs in one process; under mpirun only train and "
                        "predict are spread over the ranks (run it without mpirun)\n",
                        argv[1]);
            return 2;
        }
        return finish(commands[i].run(argc - 1, argv + 1));
    }
    fprintf(stderr, "shelf: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}

int main(int argc, char **argv)
{
    if (par_start(&argc, &argv))
        return 1;
    int status = run(argc, argv);
    par_end(status);
    return status;
}
