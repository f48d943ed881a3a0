/* Writing answers: every one goes through http_respond, which records its status for the
 * metrics. */
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "serve/server.h"
#include "text/utf8.h"

enum MHD_Result http_respond(http_req *r, unsigned status, const char *type, char *body,
                             size_t len, enum MHD_ResponseMemoryMode mode, const char *header,
                             const char *value)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, mode);
    if (!resp) {
        if (mode == MHD_RESPMEM_MUST_FREE)
            mem_free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (header)
        MHD_add_response_header(resp, header, value);
    if (r->srv->draining) /* clients should not send more on this connection */
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ok = MHD_queue_response(r->conn, status, resp);
    MHD_destroy_response(resp);
    if (ok == MHD_YES)
        r->status = status;
    return ok;
}

static enum MHD_Result error_v(http_req *r, unsigned status, const char *header,
                               const char *value, const char *fmt, va_list ap)
{
    char msg[REQ_WHY + 128], fixed[UTF8_FIX_MAX(sizeof msg) + 1];
    vsnprintf(msg, sizeof msg, fmt, ap);
    /* messages may quote what the client sent: keep the JSON valid */
    fixed[utf8_fix(fixed, msg, strlen(msg), NULL)] = '\0';
    cJSON *doc = cJSON_CreateObject();
    int whole = cJSON_AddStringToObject(doc, "error", fixed) &&
                cJSON_AddNumberToObject(doc, "status", status);
    char *body = whole ? cJSON_PrintUnformatted(doc) : NULL;
    cJSON_Delete(doc);
    if (!body) { /* no memory for the message: an answer all the same */
        static const char oom[] = "{\"error\":\"out of memory\",\"status\":500}";
        return http_respond(r, 500, "application/json", (char *)oom, sizeof oom - 1,
                            MHD_RESPMEM_PERSISTENT, NULL, NULL);
    }
    return http_respond(r, status, "application/json", body, strlen(body), MHD_RESPMEM_MUST_FREE,
                        header, value);
}

enum MHD_Result http_error(http_req *r, unsigned status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    enum MHD_Result ok = error_v(r, status, NULL, NULL, fmt, ap);
    va_end(ap);
    return ok;
}

enum MHD_Result http_error_h(http_req *r, unsigned status, const char *header,
                             const char *value, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    enum MHD_Result ok = error_v(r, status, header, value, fmt, ap);
    va_end(ap);
    return ok;
}
