/* Prediction of many texts on all cores: the one path shared by predict, eval and
 * validation during training. */
#include <pthread.h>
#include <unistd.h>

#include "core/error.h"
#include "model/model.h"

typedef struct batch_job {
    const shelf_model *m;
    const char *const *texts;
    size_t from, to;
    int k, *labels, *counts;
    float *probs;
    shelf_status st;
} batch_job;

static void *batch_run(void *arg)
{
    batch_job *j = arg;
    shelf_scratch *s = NULL;
    j->st = shelf_scratch_new(j->m, &s, NULL);
    if (j->st != SHELF_OK)
        return NULL;
    size_t k = (size_t)j->k;
    for (size_t i = j->from; i < j->to; i++) {
        j->counts[i] = shelf_predict(j->m, s, j->texts[i], j->k, j->labels + i * k,
                                     j->probs + i * k);
        if (j->counts[i] < 0) {
            j->counts[i] = 0;
            j->st = SHELF_ENOMEM;
        }
    }
    shelf_scratch_free(s);
    return NULL;
}

shelf_status shelf_predict_batch(const shelf_model *m, const char *const *texts, size_t n,
                                 int k, int threads, int *labels, float *probs, int *counts,
                                 shelf_error *err)
{
    enum { MAX_THREADS = 64 };
    if (threads <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        threads = c > 0 ? (int)c : 1;
    }
    if (threads > MAX_THREADS)
        threads = MAX_THREADS;
    if ((size_t)threads > n / 64 + 1) /* a thread per few products costs more than it saves */
        threads = (int)(n / 64 + 1);
    if (k <= 0)
        return err_set(err, SHELF_EINVAL, "k must be at least 1, not %d", k);
    if (!model_has_text(m))
        return err_set(err, SHELF_EINVAL, "the model classifies images: use shelf_predict_images");
    batch_job jobs[MAX_THREADS];
    pthread_t tid[MAX_THREADS];
    int started[MAX_THREADS] = {0};
    for (int t = 0; t < threads; t++) {
        jobs[t] = (batch_job){m, texts, n * (size_t)t / (size_t)threads,
                              n * (size_t)(t + 1) / (size_t)threads, k, labels, counts, probs,
                              SHELF_OK};
        if (t > 0 && pthread_create(&tid[t], NULL, batch_run, &jobs[t]) == 0)
            started[t] = 1;
        else if (t > 0)
            batch_run(&jobs[t]);
    }
    batch_run(&jobs[0]);
    shelf_status st = jobs[0].st;
    for (int t = 1; t < threads; t++) {
        if (started[t])
            pthread_join(tid[t], NULL);
        if (jobs[t].st != SHELF_OK)
            st = jobs[t].st;
    }
    return st == SHELF_OK ? SHELF_OK : err_set(err, st, "out of memory predicting");
}
