#include "train/text_trainer.h"

#include "core/comm.h"
#include "core/error.h"
#include "core/mem.h"
#include "train/bag_trainer.h"
#include "train/seq_trainer.h"
#include "train/vocab.h"

shelf_status train_text_model(shelf_model *m, const shelf_catalog *train,
                              const shelf_catalog *valid, const shelf_train_options *o,
                              shelf_error *err)
{
    m->hierarchical = o->hierarchy;
    if (model_set_read_options(m, &o->read))
        return err_set(err, SHELF_ENOMEM, "out of memory");
    if (o->text_encoder == SHELF_TEXT_ENCODER_BAG)
        return train_bag_model(m, train, valid, o, err);
    const size_t n = shelf_catalog_size(train);
    uint32_t *y = mem_alloc((n + 1) * sizeof *y);
    /* a distributed run: every rank's labels, in file order (every rank takes part) */
    shelf_status st = vocab_share(m, train, o->comm, err);
    if (st == SHELF_OK && !y)
        st = err_set(err, SHELF_ENOMEM, "out of memory");
    if (st == SHELF_OK)
        st = vocab_labels(m, train, y, err);
    st = comm_agree_status(o->comm, st, NULL, err); /* before the trainer's */
    if (st == SHELF_OK)
        st = train_seq_model(m, train, valid, o, y, err);
    mem_free(y);
    return st;
}
