/* What each endpoint answers, once its request has come whole. Requests that wait on
 * another thread (image predictions on the batcher, reloads) suspend their connection and
 * are answered here again when that thread resumes it. */
#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/mem.h"
#include "serve/server.h"
#include "serve/similar.h"

static enum MHD_Result healthz(http_req *r)
{
    char body[96];
    int n = snprintf(body, sizeof body, "{\"status\":\"ok\",\"generation\":%ld}\n",
                     holder_generation(&r->srv->holder));
    return http_respond(r, 200, "application/json", body, (size_t)n, MHD_RESPMEM_MUST_COPY,
                        NULL, NULL);
}

static enum MHD_Result model_page(http_req *r)
{
    served_model *sm = holder_acquire(&r->srv->holder);
    enum MHD_Result ok = http_respond(r, 200, "application/json", sm->info_json, sm->info_len,
                                      MHD_RESPMEM_MUST_COPY, NULL, NULL);
    holder_release(&r->srv->holder, sm);
    return ok;
}

static enum MHD_Result metrics_page(http_req *r)
{
    shelf_server *s = r->srv;
    buf b;
    buf_init(&b);
    metrics_write(&s->met, &b, holder_generation(&s->holder),
                  s->images ? batcher_queued(s->images) : 0, s->started);
    size_t len = b.len;
    char *text = buf_detach(&b);
    if (!text)
        return http_error(r, 500, "out of memory");
    return http_respond(r, 200, "text/plain; version=0.0.4; charset=utf-8", text, len,
                        MHD_RESPMEM_MUST_FREE, NULL, NULL);
}

/* ---- POST /v1/classify ---------------------------------------------------------------- */

static enum MHD_Result classify_answer_ok(http_req *r)
{
    metrics *m = &r->srv->met;
    long with_image = 0;
    for (size_t i = 0; i < r->q.n; i++)
        with_image += (r->pred.used[i] & SHELF_USED_IMAGE) != 0;
    atomic_fetch_add_explicit(&m->products, (long)r->q.n, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->products_image, with_image, memory_order_relaxed);
    size_t len = 0;
    char *body = classify_answer(r->sm, &r->q, &r->pred, &len);
    if (!body)
        return http_error(r, 500, "out of memory");
    char generation[24];
    snprintf(generation, sizeof generation, "%ld", r->sm->generation);
    return http_respond(r, 200, "application/json", body, len, MHD_RESPMEM_MUST_FREE,
                        "X-Shelf-Model-Generation", generation);
}

static void image_done(image_job *j)
{
    http_req *r = j->user;
    MHD_resume_connection(r->conn);
}

/* Parses and checks the request into r->q with the current model, held in r->sm. */
static int classify_parse(http_req *r, req_error *e)
{
    shelf_server *s = r->srv;
    r->sm = holder_acquire(&s->holder);
    field_names names;
    field_names_of(r->sm->model, &names);
    int bad;
    if (r->form_failed) {
        *e = r->form_error;
        bad = -1;
    } else if (r->form) {
        bad = form_to_req(r->form, &r->q, &names, e);
    } else {
        bad = req_parse_json(&r->q, r->body.data ? r->body.data : "", r->body.len, &names,
                             s->o.max_batch, e);
    }
    if (!bad)
        bad = req_check_images(&r->q, r->sm->model, s->o.max_image_pixels,
                               s->o.max_request_pixels, e);
    if (!bad && predictions_alloc(&r->pred, &r->q, r->sm->model))
        bad = req_fail(e, 500, "out of memory");
    return bad;
}

static enum MHD_Result classify_start(http_req *r)
{
    shelf_server *s = r->srv;
    req_error e = {0};
    if (classify_parse(r, &e))
        return http_error(r, e.status, "%s", e.why);
    if (r->q.explain) {
        if (classify_explained(r->sm, &r->q, &r->pred, &e))
            return http_error(r, e.status, "%s", e.why);
        return classify_answer_ok(r);
    }
    if (shelf_model_modality(r->sm->model) == SHELF_MODALITY_TEXT) {
        if (classify_text(&s->holder, r->sm, &r->q, &r->pred, &e))
            return http_error(r, e.status, "%s", e.why);
        return classify_answer_ok(r);
    }
    if (batcher_reserve(s->images, r->q.n))
        return http_error_h(r, 503, "Retry-After", "1", "the image model is busy: %ld products "
                            "are waiting (--max-queue %d); retry later",
                            batcher_queued(s->images), s->o.max_queue);
    classify_image_job(&r->job, r->sm, &r->q, &r->pred);
    r->job.done = image_done;
    r->job.user = r;
    r->waiting = 1;
    MHD_suspend_connection(r->conn); /* before submitting: the batcher may resume at once */
    batcher_submit(s->images, &r->job);
    return MHD_YES;
}

static enum MHD_Result classify_finish(http_req *r)
{
    req_error e = {0};
    r->waiting = 0;
    if (classify_image_result(&r->job, &e))
        return http_error(r, e.status, "%s", e.why);
    return classify_answer_ok(r);
}

/* ---- POST /v1/similar ------------------------------------------------------------------ */

static enum MHD_Result similar_run(http_req *r)
{
    shelf_server *s = r->srv;
    req_error e = {0};
    r->sm = holder_acquire(&s->holder);
    field_names names;
    field_names_of(r->sm->model, &names);
    names.id_alone = 1;
    char *body = NULL;
    size_t len = 0;
    if (req_parse_json(&r->q, r->body.data ? r->body.data : "", r->body.len, &names,
                       s->o.max_batch, &e) ||
        req_check_images(&r->q, r->sm->model, s->o.max_image_pixels, s->o.max_request_pixels,
                         &e) ||
        similar_answer(r->sm, &r->q, &body, &len, &e))
        return http_error(r, e.status, "%s", e.why);
    char generation[24];
    snprintf(generation, sizeof generation, "%ld", r->sm->generation);
    return http_respond(r, 200, "application/json", body, len, MHD_RESPMEM_MUST_FREE,
                        "X-Shelf-Model-Generation", generation);
}

/* ---- POST /v1/admin/reload ------------------------------------------------------------ */

static void *reload_thread(void *arg)
{
    http_req *r = arg;
    shelf_server *s = r->srv; /* r may be gone once the connection resumes */
    r->reload_status = shelf_server_reload(s, r->reload_path, &r->reload_err);
    MHD_resume_connection(r->conn);
    atomic_fetch_sub(&s->reloads_running, 1);
    return NULL;
}

/* The body: nothing, or {"model": "PATH"} to serve another file. */
static int reload_body(http_req *r, req_error *e)
{
    if (r->body.len == 0)
        return 0;
    cJSON *doc = cJSON_ParseWithLength(r->body.data, r->body.len);
    int rc = 0;
    if (!cJSON_IsObject(doc)) {
        rc = req_fail(e, 400, "the body must be empty or a JSON object like {\"model\": "
                      "\"PATH\"}");
    } else {
        for (cJSON *v = doc->child; v && rc == 0; v = v->next)
            if (strcmp(v->string, "model") != 0)
                rc = req_fail(e, 400, "unknown field '%.64s' (the only one is model)", v->string);
            else if (!cJSON_IsString(v) || !*v->valuestring)
                rc = req_fail(e, 400, "model must be a model file's path");
            else if (!(r->reload_path = mem_strdup(v->valuestring)))
                rc = req_fail(e, 500, "out of memory");
    }
    cJSON_Delete(doc);
    return rc;
}

static enum MHD_Result reload_start(http_req *r)
{
    shelf_server *s = r->srv;
    req_error e = {0};
    if (!s->token) /* a model path from the network needs a caller we know */
        return http_error(r, 403, "reloading over HTTP needs a token (--token-file); send "
                          "SIGHUP to the server to reload instead");
    if (reload_body(r, &e))
        return http_error(r, e.status, "%s", e.why);
    r->waiting = 1;
    atomic_fetch_add(&s->reloads_running, 1);
    MHD_suspend_connection(r->conn);
    pthread_t t;
    if (pthread_create(&t, NULL, reload_thread, r) == 0)
        pthread_detach(t);
    else /* no thread: reload on this one */
        reload_thread(r);
    return MHD_YES;
}

static enum MHD_Result reload_finish(http_req *r)
{
    r->waiting = 0;
    long generation = holder_generation(&r->srv->holder);
    if (r->reload_status != SHELF_OK)
        return http_error(r, 500, "reload failed, still serving generation %ld: %s", generation,
                          r->reload_err.message);
    served_model *sm = holder_acquire(&r->srv->holder);
    cJSON *doc = cJSON_CreateObject();
    /* cJSON's adders give NULL when out of memory: the answer is whole or not made */
    int whole = cJSON_AddBoolToObject(doc, "reloaded", 1) &&
                cJSON_AddNumberToObject(doc, "generation", (double)sm->generation) &&
                cJSON_AddStringToObject(doc, "model", sm->path);
    holder_release(&r->srv->holder, sm);
    char *body = whole ? cJSON_PrintUnformatted(doc) : NULL;
    cJSON_Delete(doc);
    if (!body)
        return http_error(r, 500, "out of memory");
    return http_respond(r, 200, "application/json", body, strlen(body), MHD_RESPMEM_MUST_FREE,
                        NULL, NULL);
}

enum MHD_Result endpoint_run(http_req *r)
{
    switch (r->ep) {
    case EP_HEALTHZ:
        return healthz(r);
    case EP_MODEL:
        return model_page(r);
    case EP_METRICS:
        return metrics_page(r);
    case EP_RELOAD:
        return r->waiting ? reload_finish(r) : reload_start(r);
    case EP_CLASSIFY:
        return r->waiting ? classify_finish(r) : classify_start(r);
    case EP_SIMILAR:
        return similar_run(r);
    default:
        return http_error(r, 404, "no such endpoint");
    }
}
