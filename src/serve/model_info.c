#include "serve/model_info.h"
#include "core/mem.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

int model_text_fields(const shelf_model *m, char *names_buf, size_t size, const char **names,
                      int max)
{
    const char *list = shelf_model_read_options(m)->text_columns;
    if (!list)
        list = "title,name,description"; /* the readers' default, src/io/columns.c */
    size_t len = strlen(list);
    if (len >= size)
        len = size - 1;
    memcpy(names_buf, list, len);
    names_buf[len] = '\0';
    int n = 0;
    for (char *save = NULL, *t = strtok_r(names_buf, ",", &save); t && n < max;
         t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ' || *t == '\t')
            t++;
        char *end = t + strlen(t);
        while (end > t && (end[-1] == ' ' || end[-1] == '\t'))
            *--end = '\0';
        if (*t)
            names[n++] = t;
    }
    return n;
}

/* cJSON's adders give NULL when out of memory: each result is counted in *missing, so that
 * the page is made whole or not at all. */
static void need(int *missing, const void *added) { *missing += added == NULL; }

/* Appends a string to array; a string that cannot join it is not left behind. */
static void add_string(cJSON *array, const char *s, int *missing)
{
    cJSON *item = cJSON_CreateString(s);
    if (item && cJSON_AddItemToArray(array, item))
        return;
    cJSON_Delete(item);
    (*missing)++;
}

static const char *modality_name(shelf_modality m)
{
    return m == SHELF_MODALITY_TEXT ? "text" : m == SHELF_MODALITY_IMAGE ? "image" : "both";
}

static void add_training(cJSON *doc, const shelf_model_summary *s, int *miss)
{
    cJSON *t = cJSON_AddObjectToObject(doc, "training");
    need(miss, cJSON_AddStringToObject(t, "data", s->train_path));
    need(miss, cJSON_AddNumberToObject(t, "products", (double)s->train_rows));
    need(miss, cJSON_AddNumberToObject(t, "validation_products", (double)s->valid_rows));
    need(miss, cJSON_AddNumberToObject(t, "epochs", s->epochs));
    need(miss, cJSON_AddNumberToObject(t, "epochs_planned", s->epochs_planned));
    need(miss, cJSON_AddNumberToObject(t, "lr", s->lr));
    need(miss, cJSON_AddNumberToObject(t, "threads", s->threads));
    need(miss, cJSON_AddNumberToObject(t, "seed", (double)s->seed));
    need(miss, cJSON_AddNumberToObject(t, "seconds", s->train_seconds));
    if (s->skipped_images)
        need(miss, cJSON_AddNumberToObject(t, "skipped_images", (double)s->skipped_images));
    cJSON *mt = cJSON_AddObjectToObject(doc, "metrics");
    if (s->modality == SHELF_MODALITY_BOTH) /* what training measured: the CNN, not the fusion */
        need(miss, cJSON_AddStringToObject(mt, "validation_accuracy_of", "the image model alone"));
    if (s->valid_accuracy >= 0)
        need(miss, cJSON_AddNumberToObject(mt, "validation_accuracy", s->valid_accuracy));
    else
        need(miss, cJSON_AddNullToObject(mt, "validation_accuracy"));
    need(miss, cJSON_AddNumberToObject(mt, "temperature", s->temperature));
    if (s->logit_adjustment >= 0)
        need(miss, cJSON_AddNumberToObject(mt, "logit_adjustment", s->logit_adjustment));
}

/* What a request may send: the text fields, and whether an image is read. */
static void add_inputs(cJSON *doc, const shelf_model *m, const shelf_model_summary *s,
                       int *miss)
{
    cJSON *in = cJSON_AddObjectToObject(doc, "inputs");
    char buf[512];
    const char *names[16];
    int n = s->modality == SHELF_MODALITY_IMAGE ? 0
            : model_text_fields(m, buf, sizeof buf, names, 16);
    cJSON *tf = cJSON_AddArrayToObject(in, "text_fields");
    need(miss, tf);
    for (int i = 0; i < n; i++)
        add_string(tf, names[i], miss);
    need(miss, cJSON_AddStringToObject(in, "image", s->modality == SHELF_MODALITY_TEXT ? "ignored"
                                       : s->modality == SHELF_MODALITY_IMAGE ? "required"
                                                                            : "optional"));
}

/* A fused model's head: its kind, the average product's weights, what the choice measured. */
static void add_fusion(cJSON *doc, const shelf_fusion_summary *f, int *miss)
{
    cJSON *fu = cJSON_AddObjectToObject(doc, "fusion");
    need(miss, fu);
    need(miss, cJSON_AddStringToObject(fu, "head", f->head));
    cJSON *w = cJSON_AddObjectToObject(fu, "weights");
    need(miss, w);
    need(miss, cJSON_AddNumberToObject(w, "text", f->text));
    need(miss, cJSON_AddNumberToObject(w, "image", f->image));
    if (!f->folds)
        return;
    cJSON *ch = cJSON_AddObjectToObject(fu, "choice");
    need(miss, ch);
    need(miss, cJSON_AddNumberToObject(ch, "folds", f->folds));
    need(miss, cJSON_AddNumberToObject(ch, "products", f->products));
    cJSON *tried = cJSON_AddObjectToObject(ch, "out_of_fold");
    need(miss, tried);
    for (int k = 0; k < f->ntried; k++) {
        cJSON *one = cJSON_AddObjectToObject(tried, f->tried[k]);
        need(miss, one);
        need(miss, cJSON_AddNumberToObject(one, "accuracy", f->accuracy[k]));
        need(miss, cJSON_AddNumberToObject(one, "macro_f1", f->macro_f1[k]));
    }
}

char *model_info_json(const shelf_model *m, const char *path, long generation,
                      double loaded_at, size_t *len)
{
    shelf_model_summary s;
    shelf_model_summarize(m, &s);
    unsigned version = 0;
    int miss = 0;
    cJSON *doc = cJSON_CreateObject();
    need(&miss, cJSON_AddStringToObject(doc, "path", path));
    if (shelf_model_file_version(path, &version, NULL) == SHELF_OK)
        need(&miss, cJSON_AddNumberToObject(doc, "format_version", version));
    need(&miss, cJSON_AddNumberToObject(doc, "generation", (double)generation));
    need(&miss, cJSON_AddNumberToObject(doc, "loaded_at", loaded_at));
    need(&miss, cJSON_AddStringToObject(doc, "modality", modality_name(s.modality)));
    cJSON *mods = cJSON_AddArrayToObject(doc, "modalities");
    need(&miss, mods);
    if (s.modality != SHELF_MODALITY_IMAGE)
        add_string(mods, "text", &miss);
    if (s.modality != SHELF_MODALITY_TEXT)
        add_string(mods, "image", &miss);
    add_inputs(doc, m, &s, &miss);
    add_training(doc, &s, &miss);
    if (s.image_size) {
        cJSON *im = cJSON_AddObjectToObject(doc, "image_model");
        need(&miss, cJSON_AddNumberToObject(im, "size", s.image_size));
        need(&miss, cJSON_AddNumberToObject(im, "width", s.width));
    }
    if (s.fusion.head)
        add_fusion(doc, &s.fusion, &miss);
    need(&miss, cJSON_AddBoolToObject(doc, "hierarchical", s.hierarchical));
    need(&miss, cJSON_AddStringToObject(doc, "weights", s.quantized ? "int8" : "float32"));
    char *desc = shelf_model_describe(m, 0);
    need(&miss, desc);
    need(&miss, cJSON_AddStringToObject(doc, "description", desc ? desc : ""));
    mem_free(desc);
    cJSON *labels = cJSON_AddArrayToObject(doc, "labels");
    need(&miss, labels);
    for (int i = 0; i < s.labels; i++)
        add_string(labels, shelf_model_label(m, i), &miss);
    if (miss) { /* out of memory: no page, rather than one with parts left out */
        cJSON_Delete(doc);
        return NULL;
    }
    char *out = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    if (out)
        *len = strlen(out);
    return out;
}
