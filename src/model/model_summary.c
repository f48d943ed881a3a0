/* A model's figures for programs: what shelf_model_describe prints, as numbers. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "model/model.h"

/* The fused model's head as shelf_fusion_summary says. */
static void summarize_fusion(const fusion_head *h, shelf_fusion_summary *f)
{
    f->head = fusion_kind_name(h->kind);
    float a[2] = {h->kind != FUSION_IMAGE, h->kind == FUSION_IMAGE};
    if (h->kind == FUSION_GATE) {
        fusion_gate_weights(h, h->mean, a);
    } else if (h->kind == FUSION_BRANCH) {
        int best = fusion_head_photo_branch(h, NULL);
        a[0] = h->w_text[best];
        a[1] = h->w_image[best];
    }
    f->text = a[0];
    f->image = a[1];
    f->folds = h->folds;
    f->products = h->rows;
    for (int k = 0; k < FUSION_KINDS && h->folds; k++)
        if (h->tried[k].accuracy >= 0) {
            f->tried[f->ntried] = fusion_kind_name((fusion_kind)k);
            f->accuracy[f->ntried] = h->tried[k].accuracy;
            f->macro_f1[f->ntried++] = h->tried[k].macro_f1;
        }
}

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
        .logit_adjustment = m->log_prior ? m->adjust_tau : -1,
        .hierarchical = m->hierarchical,
        .dim = model_bag(m) ? model_bag(m)->dim : 0,
        .quantized = model_quantized(m) ? 8 : 0,
        .image_size = m->image ? image_encoder_size(m->image) : 0,
        .width = m->image ? as_const_cnn(m->image)->net.width : 0,
        .skipped_images = in->skipped_images,
        .fit_seconds = in->fit_seconds,
    };
    if (m->modality == SHELF_MODALITY_BOTH && fusion_head_ready(&m->head))
        summarize_fusion(&m->head, &out->fusion);
}

/* The header starts "SHELFMDL" and a u32 version (model_file.c). */
shelf_status shelf_model_file_version(const char *path, unsigned *version, shelf_error *err)
{
    unsigned char head[12];
    FILE *f = NULL;
    struct stat st;
    shelf_status s = model_open(path, "model", &f, &st, err);
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
