/* Refits the fusion head of a trained text+image model on a validation catalog, keeping
 * its text model and CNN, then its temperature, and writes the result: a fusion-head
 * experiment without the 35 minutes of CNN training.
 *   build/bench/refit_head MODEL VALID.csv OUT */
#include <stdio.h>

#include "model/model.h"
#include "shelf.h"
#include "train/calibrate.h"
#include "train/fused_trainer.h"

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: refit_head MODEL VALID OUT\n");
        return 2;
    }
    shelf_error err = {0};
    shelf_model *m = NULL;
    shelf_catalog *valid = NULL;
    int status = 1;
    if (shelf_model_load(argv[1], &m, &err) != SHELF_OK ||
        shelf_catalog_load(argv[2], shelf_model_read_options(m), &valid, &err) != SHELF_OK)
        goto done;
    if (m->modality != SHELF_MODALITY_BOTH) {
        fprintf(stderr, "refit_head: %s is not a text+image model\n", argv[1]);
        goto done;
    }
    fusion_head_free(&m->head);
    m->temperature = 1;
    if (fused_fit_head(m, valid, 2, &err) != SHELF_OK)
        goto done;
    if (calibrate_model(m, valid, 2)) {
        fprintf(stderr, "refit_head: out of memory calibrating\n");
        goto done;
    }
    if (shelf_model_save(m, argv[3], &err) == SHELF_OK)
        status = 0;
done:
    if (status && err.message[0])
        fprintf(stderr, "refit_head: %s\n", err.message);
    shelf_catalog_free(valid);
    shelf_model_free(m);
    return status;
}
