/* The server's pieces that need no socket: base64, the parsing of classify requests into
 * products (texts joined as the catalog readers join them, every problem named with its
 * status), and the Prometheus page. The HTTP side is tests/serve_e2e.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "serve/base64.h"
#include "serve/metrics.h"
#include "serve/multipart.h"
#include "serve/request.h"

static long decode(const char *s, unsigned char *out, size_t *bad)
{
    return base64_decode(s, strlen(s), out, bad);
}

static void base64_decodes_both_alphabets_with_or_without_padding(void **state)
{
    (void)state;
    unsigned char out[64];
    size_t bad = 0;
    assert_int_equal(decode("aGVsbG8=", out, &bad), 5);
    assert_memory_equal(out, "hello", 5);
    assert_int_equal(decode("aGVsbG8", out, &bad), 5);
    assert_int_equal(decode("aGVs\nbG8g d29y bGQ=", out, &bad), 11);
    assert_memory_equal(out, "hello world", 11);
    assert_int_equal(decode("-_-_", out, &bad), 3); /* URL-safe: 0xfb 0xff 0xbf */
    assert_int_equal(out[0], 0xfb);
    assert_int_equal(out[1], 0xff);
    assert_int_equal(decode("data:image/png;base64,aGk=", out, &bad), 2);
    assert_memory_equal(out, "hi", 2);
    assert_int_equal(decode("", out, &bad), 0);
}

static void base64_names_the_first_bad_character(void **state)
{
    (void)state;
    unsigned char out[64];
    size_t bad = 0;
    assert_int_equal(decode("aGV!bG8=", out, &bad), -1);
    assert_int_equal(bad, 3);
    assert_int_equal(decode("aGk=aGk=", out, &bad), -1); /* data after the padding */
    assert_int_equal(bad, 4);
    assert_int_equal(decode("aGVsb", out, &bad), -1);   /* one digit of a group left */
    assert_int_equal(bad, 5);
    assert_int_equal(decode("data:image/png,aGk=", out, &bad), -1);
}

static field_names fields(void)
{
    field_names f = {.name = {"title", "description"}, .n = 2};
    return f;
}

static int parse(classify_req *q, const char *body, req_error *e)
{
    field_names f = fields();
    return req_parse_json(q, body, strlen(body), &f, 4, e);
}

static void a_product_is_joined_like_a_catalog_row(void **state)
{
    (void)state;
    classify_req q;
    req_error e = {0};
    assert_int_equal(parse(&q, "{\"id\": 42, \"description\": \"  blue \", \"title\": \" Denim "
                               "jeans\\t\", \"k\": 3, \"min_confidence\": 0.5}", &e), 0);
    assert_int_equal(q.n, 1);
    assert_false(q.batch);
    assert_int_equal(q.k, 3);
    assert_true(q.min_conf == 0.5f);
    assert_string_equal(q.products[0].id, "42");
    assert_string_equal(q.products[0].text, "Denim jeans blue"); /* field order, trimmed */
    assert_string_equal(q.products[0].image, "");
    assert_null(q.products[0].image_data);
    classify_req_free(&q);
}

static void a_batch_keeps_its_order_and_decodes_images(void **state)
{
    (void)state;
    classify_req q;
    req_error e = {0};
    assert_int_equal(parse(&q, "{\"products\": [{\"title\": \"a\", \"description\": \"\"}, "
                               "{\"title\": null, \"image_base64\": \"aGk=\"}]}", &e), 0);
    assert_true(q.batch);
    assert_int_equal(q.n, 2);
    assert_string_equal(q.products[0].text, "a");
    assert_string_equal(q.products[1].text, "");
    assert_string_equal(q.products[1].image, "products[1].image_base64");
    assert_int_equal(q.products[1].image_size, 2);
    assert_memory_equal(q.products[1].image_data, "hi", 2);
    classify_req_free(&q);
}

/* body must be refused with status and a message containing why. */
static void refused(const char *body, unsigned status, const char *why)
{
    classify_req q;
    req_error e = {0};
    assert_int_equal(parse(&q, body, &e), -1);
    classify_req_free(&q);
    if (e.status != status || !strstr(e.why, why))
        fail_msg("%s: got %u '%s', want %u '%s'", body, e.status, e.why, status, why);
}

static void bad_requests_are_named(void **state)
{
    (void)state;
    refused("", 400, "empty");
    refused("{\"title\": ", 400, "invalid JSON at byte");
    refused("[]", 400, "must be a JSON object");
    refused("{\"title\": 1}", 400, "title must be a string, not a number");
    refused("{\"name\": \"x\"}", 400, "unknown field 'name'"); /* not one of this model's */
    refused("{\"image\": \"/etc/passwd\"}", 400, "never reads a file path");
    refused("{\"k\": 0, \"title\": \"x\"}", 400, "k must be an integer from 1 to 256");
    refused("{\"title\": \"a\", \"title\": \"b\"}", 400, "twice");
    refused("{\"products\": [{\"title\": \"a\"}, {\"id\": \"b\"}]}", 400,
            "products[1]: nothing to classify");
    refused("{\"products\": [{}, {}, {}, {}, {}]}", 413, "--max-batch");
    refused("{\"title\": \"x\", \"image_base64\": \"a!==\"}", 400,
            "image_base64: invalid base64 at character 1");
    refused("{\"title\": \"\xff\"}", 400, "title: invalid UTF-8 at byte 0");
    refused("{\"products\": [{\"title\": \"a\"}], \"description\": \"b\"}", 400, "not both");
}

/* The parts as libmicrohttpd's post processor hands them over: a value may come in pieces. */
static void form_parts_become_one_product(void **state)
{
    (void)state;
    form *f = form_new_detached();
    assert_non_null(f);
    assert_int_equal(form_take_part(f, "title", "Denim ", 0, 6), 0);
    assert_int_equal(form_take_part(f, "title", "jeans", 6, 5), 0);
    assert_int_equal(form_take_part(f, "k", "2", 0, 1), 0);
    assert_int_equal(form_take_part(f, "description", NULL, 0, 0), 0);
    field_names names = fields();
    classify_req q;
    req_error e = {0};
    assert_int_equal(form_to_req(f, &q, &names, &e), 0);
    assert_int_equal(q.n, 1);
    assert_int_equal(q.k, 2);
    assert_string_equal(q.products[0].text, "Denim jeans");
    classify_req_free(&q);
    form_free(f);
}

/* A part without name= comes with a NULL key (issue 13, defect 1: it crashed the server). */
static void a_form_part_without_a_name_is_a_400(void **state)
{
    (void)state;
    form *f = form_new_detached();
    assert_non_null(f);
    assert_int_equal(form_take_part(f, NULL, "abc", 0, 3), -1);
    assert_int_equal(form_take_part(f, "title", "x", 0, 1), -1); /* refused from then on */
    field_names names = fields();
    classify_req q;
    req_error e = {0};
    assert_int_equal(form_to_req(f, &q, &names, &e), -1);
    assert_int_equal(e.status, 400);
    assert_non_null(strstr(e.why, "a form part has no name"));
    classify_req_free(&q);
    form_free(f);
}

static void metrics_are_prometheus_text(void **state)
{
    (void)state;
    metrics m;
    metrics_init(&m);
    metrics_request(&m, EP_CLASSIFY, 200, 0.0003);
    metrics_request(&m, EP_CLASSIFY, 400, 0.02);
    metrics_request(&m, EP_CLASSIFY, 0, 1);
    buf b;
    buf_init(&b);
    metrics_write(&m, &b, 3, 0, 0);
    char *text = buf_detach(&b);
    assert_non_null(strstr(text, "shelf_http_requests_total{endpoint=\"/v1/classify\","
                                 "status=\"400\"} 1\n"));
    assert_non_null(strstr(text, "shelf_http_request_duration_seconds_bucket{endpoint=\"/v1/"
                                 "classify\",le=\"0.0005\"} 1\n"));
    assert_non_null(strstr(text, "shelf_http_request_duration_seconds_bucket{endpoint=\"/v1/"
                                 "classify\",le=\"+Inf\"} 2\n"));
    assert_non_null(strstr(text, "shelf_http_requests_aborted_total{endpoint=\"/v1/classify\"} "
                                 "1\n"));
    assert_non_null(strstr(text, "shelf_model_generation 3\n"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(base64_decodes_both_alphabets_with_or_without_padding),
        cmocka_unit_test(base64_names_the_first_bad_character),
        cmocka_unit_test(a_product_is_joined_like_a_catalog_row),
        cmocka_unit_test(a_batch_keeps_its_order_and_decodes_images),
        cmocka_unit_test(bad_requests_are_named),
        cmocka_unit_test(form_parts_become_one_product),
        cmocka_unit_test(a_form_part_without_a_name_is_a_400),
        cmocka_unit_test(metrics_are_prometheus_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
