#include "train/loop.h"

#include <math.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/comm.h"
#include "core/grow.h"
#include "core/error.h"
#include "core/mem.h"

/* The run as it goes, for progress reports. */
typedef struct run {
    trainee *t;
    const loop_options *o;
    uint32_t *order;
    double t0, last_report, planned, done_before; /* products: in all, in earlier epochs */
    loop_meter meters[LOOP_MAX_THREADS];
    int threads;
} run;

static void epoch_sums(const run *r, double *loss, double *count)
{
    *loss = *count = 0;
    for (int t = 0; t < r->threads; t++) {
        *loss += atomic_load(&r->meters[t].loss);
        *count += (double)atomic_load(&r->meters[t].count);
    }
}

/* Tells the caller's progress function where training stands. */
static void report(run *r, int epoch, double valid_accuracy)
{
    const loop_options *o = r->o;
    if (!o->progress)
        return;
    double loss, count;
    epoch_sums(r, &loss, &count);
    const double el = now_sec() - r->t0, done = r->done_before + count;
    const double f = r->planned > 0 ? done / r->planned : 1;
    shelf_progress p = {epoch + 1, o->epochs, f > 1 ? 1 : f, done / (el > 0 ? el : 1),
                        count ? loss / count : 0, f > 0 ? el * (1 - f) / f : 0, valid_accuracy};
    o->progress(&p, o->progress_user);
    r->last_report = now_sec();
}

static void report_now_and_then(run *r, int epoch)
{
    if (r->o->progress && now_sec() - r->last_report >= 1.0)
        report(r, epoch, -1);
}

/* ---- Hogwild shards ---------------------------------------------------------------------- */

typedef struct shard {
    run *r;
    int tid, epoch, failed;
    size_t from, to;
} shard;

static void *shard_run(void *arg)
{
    shard *s = arg;
    trainee *t = s->r->t;
    if (s->to > s->from && t->step(t->ctx, s->tid, s->r->order + s->from, s->to - s->from,
                                   s->epoch, s->from, &s->r->meters[s->tid]))
        s->failed = 1;
    return NULL;
}

/* Every thread on its share of the epoch's n products at once; progress from here. */
static int run_shards(run *r, size_t n, int epoch)
{
    const int T = r->threads;
    shard sh[LOOP_MAX_THREADS];
    pthread_t tid[LOOP_MAX_THREADS];
    int started[LOOP_MAX_THREADS] = {0}, failed = 0;
    for (int t = 0; t < T; t++) {
        sh[t] = (shard){r, t, epoch, 0, n * (size_t)t / (size_t)T, n * (size_t)(t + 1) / (size_t)T};
        if (T == 1 || pthread_create(&tid[t], NULL, shard_run, &sh[t]) != 0)
            shard_run(&sh[t]); /* one thread, or no thread to be had: run it here */
        else
            started[t] = 1;
    }
    for (int t = 0; t < T; t++) {
        while (started[t] && r->o->progress && pthread_tryjoin_np(tid[t], NULL) != 0) {
            usleep(20000);
            report_now_and_then(r, epoch);
        }
        if (started[t] && !r->o->progress)
            pthread_join(tid[t], NULL);
        failed |= sh[t].failed;
    }
    return failed ? -1 : 0;
}

/* ---- batches ----------------------------------------------------------------------------- */

/* Where batch k of nb starts in the epoch's n rows (k == nb: n): the plan's bounds, or
 * batches of t->batch. */
static size_t batch_start(const trainee *t, const size_t *bounds, size_t k, size_t nb, size_t n)
{
    if (bounds)
        return bounds[k];
    return k < nb ? k * t->batch : n;
}

/* The epoch's batches one after another; the time in steps added to *seconds. */
static int run_batches(run *r, size_t n, int epoch, rng *g, double *seconds)
{
    trainee *t = r->t;
    const uint32_t *rows = r->order;
    const size_t *bounds = NULL;
    size_t nb = t->plan ? t->plan(t->ctx, r->order, n, g, &rows, &bounds)
                        : (n + t->batch - 1) / t->batch;
    for (size_t k = 0; k < nb; k++) {
        const size_t b0 = batch_start(t, bounds, k, nb, n),
                     b1 = batch_start(t, bounds, k + 1, nb, n);
        if (t->upcoming) {
            size_t b2 = k + 1 < nb ? batch_start(t, bounds, k + 2, nb, n) : b1;
            t->upcoming(t->ctx, rows + b1, b2 - b1, epoch, b1);
        }
        const double s0 = now_sec();
        if (t->step(t->ctx, 0, rows + b0, b1 - b0, epoch, b0, &r->meters[0]))
            return -1;
        *seconds += now_sec() - s0;
        if (!isfinite(atomic_load(&r->meters[0].loss)))
            return 1;
        report_now_and_then(r, epoch);
    }
    return 0;
}

/* How many of the catalog's products [from, to) the model's text predictions get right;
 * 0, or -1 out of memory. */
static int text_correct(const shelf_model *m, const shelf_catalog *cat, int threads,
                        size_t from, size_t to, size_t *correct)
{
    size_t n = to - from;
    const char **texts = mem_alloc((n + 1) * sizeof *texts);
    int *labels = mem_alloc((n + 1) * sizeof *labels);
    int *counts = mem_alloc((n + 1) * sizeof *counts);
    float *probs = mem_alloc((n + 1) * sizeof *probs);
    int rc = -1;
    *correct = 0;
    if (texts && labels && counts && probs) {
        for (size_t i = 0; i < n; i++)
            texts[i] = shelf_catalog_get(cat, from + i)->text;
        if (shelf_predict_batch(m, texts, n, 1, threads, labels, probs, counts, NULL) == 0) {
            for (size_t i = 0; i < n; i++)
                *correct += counts[i] == 1 &&
                            strcmp(shelf_model_label(m, labels[i]),
                                   shelf_catalog_get(cat, from + i)->label) == 0;
            rc = 0;
        }
    }
    mem_free(texts);
    mem_free(labels);
    mem_free(counts);
    mem_free(probs);
    return rc;
}

/* Validation accuracy: in a distributed run each rank scores its share of the products and
 * the counts are summed (a failure on one rank fails all). -1 out of memory. */
static double valid_accuracy(const loop_options *o, const trainee *t)
{
    size_t n = t->validate ? t->nvalid : shelf_catalog_size(o->valid);
    size_t rank = o->comm ? (size_t)o->comm->rank : 0, ranks = o->comm ? (size_t)o->comm->size : 1;
    size_t from = n * rank / ranks, to = n * (rank + 1) / ranks, correct = 0;
    int rc = t->validate ? t->validate(t->ctx, from, to, &correct)
                         : text_correct(o->m, o->valid, o->threads, from, to, &correct);
    /* the shares' counts summed too: every rank divides by the same */
    double v[3] = {rc ? 1 : 0, (double)correct, (double)(to - from)};
    if (comm_sum(o->comm, v, 3, SHELF_COMM_DOUBLE) || v[0])
        return -1;
    return v[2] > 0 ? v[1] / v[2] : 0;
}

/* ---- epochs ------------------------------------------------------------------------------ */

/* Copies the trainee's blocks into *best (allocated on first use), or back. */
static int keep(const trainee *t, float **best)
{
    size_t total = 0;
    for (int b = 0; b < t->nblocks; b++)
        total += t->sizes[b];
    if (!*best && !(*best = mem_alloc((total ? total : 1) * sizeof **best)))
        return -1;
    for (size_t b = 0, at = 0; b < (size_t)t->nblocks; at += t->sizes[b], b++)
        if (t->sizes[b]) /* an empty block may have no array */
            memcpy(*best + at, t->blocks[b], t->sizes[b] * sizeof **best);
    return 0;
}

static void restore(const trainee *t, const float *best)
{
    for (size_t b = 0, at = 0; b < (size_t)t->nblocks; at += t->sizes[b], b++)
        if (t->sizes[b])
            memcpy(t->blocks[b], best + at, t->sizes[b] * sizeof *best);
}

/* The epoch's products into r->order, shuffled (or re-drawn under balance) from g: the
 * same draws in the same order give the same epochs. Returns how many. */
static size_t draw_order(run *r, rng *g)
{
    const loop_options *o = r->o;
    if (o->bal->mode == SHELF_BALANCE_NONE || o->bal->mode == SHELF_BALANCE_WEIGHT) {
        rng_shuffle_u32(g, r->order, o->n);
        return o->n;
    }
    return balance_epoch(o->bal, o->y, g, r->order); /* re-drawn each epoch */
}

void trainee_keep(trainee *t, encoder *e, const label_head *h)
{
    t->nblocks = e->ops->state(e, t->blocks, t->sizes, LOOP_MAX_BLOCKS - 1);
    t->blocks[t->nblocks] = h->params;
    t->sizes[t->nblocks++] = h->nparams;
}

shelf_status train_loop(trainee *t, const loop_options *o, loop_result *res, shelf_error *err)
{
    run r = {.t = t, .o = o, .t0 = now_sec(), .threads = t->hogwild ? o->threads : 1};
    r.last_report = r.t0;
    r.planned = (double)balance_epoch_size(o->bal, o->y) * o->epochs;
    if (r.threads > LOOP_MAX_THREADS)
        r.threads = LOOP_MAX_THREADS;
    *res = (loop_result){0, 0, -1, 0};
    model_info *rec = o->record;
    size_t curve_cap = 0, total = 0;
    if (rec && o->resume) { /* the checkpoint's curve, which this run goes on */
        rec->ncurve = rec->ncurve < o->resume->epochs_done ? rec->ncurve : o->resume->epochs_done;
        curve_cap = (size_t)rec->ncurve;
    } else if (rec) { /* a curve of this run only */
        mem_free(rec->curve);
        rec->curve = NULL;
        rec->ncurve = 0;
    }
    for (int b = 0; b < t->nblocks; b++)
        total += t->sizes[b];
    float *best = NULL;
    double best_acc = -1;
    int bad_epochs = 0, first = 0;
    shelf_status st = SHELF_OK;
    if (!(r.order = mem_alloc((o->n ? o->n : 1) * sizeof *r.order)))
        return err_set(err, SHELF_ENOMEM, "out of memory");
    for (size_t i = 0; i < o->n; i++)
        r.order[i] = (uint32_t)i;
    uint64_t cap = o->n; /* a distributed run's batches: as many on every rank, each step's
                            gradients summed across them */
    if (!t->hogwild && comm_min(o->comm, o->n, &cap)) {
        mem_free(r.order);
        return err_set(err, SHELF_EIO, "another rank stopped the run");
    }
    rng g;
    rng_seed(&g, o->seed);
    if (o->resume) { /* where it stopped: its best epoch, and the orders drawn so far */
        const train_state *s = o->resume;
        first = s->epochs_done;
        best_acc = s->best_acc;
        bad_epochs = s->bad_epochs;
        res->epochs = s->best_epoch;
        res->ran = first;
        if (s->best && s->nbest != total) {
            mem_free(r.order);
            return err_set(err, SHELF_EINVAL, "the checkpoint's best epoch does not fit the "
                           "model");
        }
        if (s->best && !(best = mem_alloc(total * sizeof *best))) {
            mem_free(r.order);
            return err_set(err, SHELF_ENOMEM, "out of memory");
        }
        if (s->best)
            memcpy(best, s->best, total * sizeof *best);
        for (int e = 0; e < first; e++) { /* a trainee's plan draws from g too */
            size_t n = draw_order(&r, &g);
            const uint32_t *rows;
            const size_t *bounds;
            if (t->plan && !t->hogwild)
                t->plan(t->ctx, r.order, n > cap ? (size_t)cap : n, &g, &rows, &bounds);
        }
    }
    for (int epoch = first; epoch < o->epochs; epoch++) {
        if (o->valid && o->patience && bad_epochs >= o->patience)
            break; /* a resumed run that had stopped early */
        size_t n = draw_order(&r, &g);
        if (n > cap)
            n = (size_t)cap;
        for (int i = 0; i < r.threads; i++) {
            atomic_store(&r.meters[i].loss, 0);
            atomic_store(&r.meters[i].count, 0);
        }
        const double e0 = now_sec();
        int rc = t->hogwild ? run_shards(&r, n, epoch) : run_batches(&r, n, epoch, &g,
                                                                      &res->step_seconds);
        if (t->hogwild)
            res->step_seconds += now_sec() - e0;
        double loss, count;
        epoch_sums(&r, &loss, &count);
        if (o->comm) { /* every rank sees the run's figures, and takes the same branch */
            double v[4] = {loss, count, rc < 0, rc > 0};
            if (comm_sum(o->comm, v, 4, SHELF_COMM_DOUBLE)) {
                st = err_set(err, SHELF_EIO, "another rank stopped the run");
                break;
            }
            loss = v[0], count = v[1], rc = v[2] > 0 ? -1 : v[3] > 0 ? 1 : 0;
            for (int b = 0; rc == 0 && !t->identical && b < t->nblocks; b++)
                if (comm_average(o->comm, t->blocks[b], t->sizes[b]))
                    rc = -1;
        }
        if (rc < 0) {
            st = err_set(err, SHELF_ENOMEM, "out of memory during training");
            break;
        }
        if (rc > 0 || !isfinite(loss)) {
            st = err_set(err, SHELF_EDATA, "training diverged in epoch %d (the loss is %g); "
                         "use a lower --lr", epoch + 1, count ? loss / count : loss);
            break;
        }
        res->ran++;
        r.done_before += count;
        double acc = o->valid ? valid_accuracy(o, t) : -1;
        if (o->valid && acc < 0) {
            st = err_set(err, SHELF_ENOMEM, "out of memory measuring validation accuracy");
            break;
        }
        /* the epoch's own figures: the meters were cleared at its start */
        report(&r, epoch, acc);
        if (rec && grow_array((void **)&rec->curve, &curve_cap, (size_t)res->ran,
                              sizeof *rec->curve, 16))
            st = err_set(err, SHELF_ENOMEM, "out of memory");
        if (st == SHELF_OK && rec)
            rec->curve[rec->ncurve++] =
                (model_epoch){(float)(count ? loss / count : 0), (float)acc};
        if (st == SHELF_OK && o->valid && acc >= best_acc) { /* on a tie, the later epoch */
            best_acc = acc;
            bad_epochs = 0;
            if (keep(t, &best))
                st = err_set(err, SHELF_ENOMEM, "out of memory keeping the best epoch");
            res->epochs = epoch + 1;
        } else if (st == SHELF_OK && o->valid && o->patience) {
            ++bad_epochs;
        }
        if (st == SHELF_OK && o->checkpoint) {
            train_state s = {.epochs_done = epoch + 1, .best_epoch = res->epochs,
                             .bad_epochs = bad_epochs, .best_acc = best_acc, .best = best,
                             .nbest = best ? total : 0};
            st = o->checkpoint(o->checkpoint_user, &s, err); /* rank 0 writes it */
        }
        /* a rank that failed on its own here stops every rank, not just itself */
        st = comm_agree_status(o->comm, st, NULL, err);
        if (st != SHELF_OK)
            break;
        if (o->valid && o->patience && bad_epochs >= o->patience)
            break;
    }
    if (st == SHELF_OK && best)
        restore(t, best);
    if (!o->valid)
        res->epochs = res->ran;
    res->valid_accuracy = best_acc;
    mem_free(best);
    mem_free(r.order);
    return st;
}
