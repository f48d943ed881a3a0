#include "train/checkpoint.h"

#include <string.h>

#include "core/error.h"
#include "core/hash.h"
#include "core/mem.h"

uint64_t checkpoint_fingerprint_add(uint64_t sum, const char *content, const char *label)
{
    uint64_t h = hash_fnv1a(HASH_FNV_BASIS, content ? content : "", content ? strlen(content) : 0);
    h = hash_fnv1a(h, label, strlen(label));
    return sum + h * 0x9e3779b97f4a7c15ull + (h >> 29);
}

shelf_status checkpoint_write(shelf_model *m, const shelf_train_options *o, train_state *st,
                              shelf_error *err)
{
    if (o->comm && o->comm->rank != 0) /* every rank has the same model */
        return SHELF_OK;
    model_info *in = &m->info, was = *in; /* what shelf info tells of it, so far */
    in->epochs = st->epochs_done;
    in->epochs_planned = o->epochs;
    in->lr = o->lr;
    in->threads = o->threads;
    in->seed = o->seed;
    m->state = st;
    shelf_status rc = shelf_model_save(m, o->checkpoint, err);
    m->state = NULL;
    *in = was;
    return rc;
}

shelf_status checkpoint_take_up(shelf_model *m, const shelf_model *from, uint64_t catalog,
                                uint64_t options, shelf_error *err)
{
    const train_state *s = from->state;
    if (s->options != options)
        return err_set(err, SHELF_EINVAL, "--resume: the checkpoint was written by a run of "
                       "other options (give the command that wrote it, with --resume)");
    if (s->catalog != catalog)
        return err_set(err, SHELF_EINVAL, "--resume: the checkpoint was written by a run on "
                       "another training catalog");
    const model_info *in = &from->info;
    model_info *out = &m->info;
    if (in->ncurve) {
        mem_free(out->curve);
        if (!(out->curve = mem_alloc((size_t)in->ncurve * sizeof *out->curve)))
            return err_set(err, SHELF_ENOMEM, "out of memory");
        memcpy(out->curve, in->curve, (size_t)in->ncurve * sizeof *out->curve);
        out->ncurve = in->ncurve;
    }
    return SHELF_OK;
}
