/* A model's figures for programs: what shelf_model_describe prints, as numbers. */
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "model/model.h"

void shelf_model_summarize(const shelf_model *m, shelf_model_summary *out)
{
    const model_info *in = &m->info;
    *out = (shelf_model_summary){
        .modality = m->modality,
        .labels = model_num_labels(m),
        .train_path = in->train_path ? in->train_path : "",
        .train_rows = in->train_rows,
        .valid_rows = in->valid_rows,
        .epochs = in->epochs,
        .epochs_planned = in->epochs_planned,
        .lr = in->lr,
        .threads = in->threads,
        .seed = in->seed,
        .train_seconds = in->train_seconds,
        .valid_accuracy = in->valid_rows ? in->valid_accuracy : -1,
        .temperature = m->temperature,
        .hierarchical = m->hierarchical,
        .dim = model_bag(m) ? model_bag(m)->dim : 0,
        .image_size = m->image ? image_encoder_size(m->image) : 0,
        .width = m->image ? as_const_cnn(m->image)->net.width : 0,
        .skipped_images = in->skipped_images,
        .fit_seconds = in->fit_seconds,
    };
}

/* The header starts "SHELFMDL" and a u32 version (model_file.c). */
shelf_status shelf_model_file_version(const char *path, unsigned *version, shelf_error *err)
{
    unsigned char head[12];
    FILE *f = NULL;
    struct stat st;
    shelf_status s = model_open(path, &f, &st, err);
    if (s != SHELF_OK)
        return s;
    size_t got = fread(head, 1, sizeof head, f);
    fclose(f);
    if (got != sizeof head || memcmp(head, "SHELFMDL", 8) != 0)
        return err_set(err, SHELF_EMODEL, "%s: not a shelf model file", path);
    uint32_t v;
    memcpy(&v, head + 8, 4);
    *version = v;
    return SHELF_OK;
}
