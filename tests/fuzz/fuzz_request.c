/* libFuzzer target: the JSON body of POST /v1/classify, req_parse_json, as the server calls
 * it for a model reading title and description: a single product or a batch, k,
 * min_confidence, ids and base64 images. Every product it accepts is read whole. */
#include <string.h>

#include "serve/request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    field_names f = {.name = {"title", "description"}, .n = 2};
    classify_req q = {0};
    req_error e = {0};
    if (req_parse_json(&q, (const char *)data, size, &f, 8, &e) == 0) {
        size_t sum = 0;
        for (size_t i = 0; i < q.n; i++) {
            const shelf_product *p = &q.products[i];
            sum += strlen(p->id) + strlen(p->text) + strlen(p->label) + strlen(p->image);
            for (size_t j = 0; j < p->image_size; j++)
                sum += p->image_data[j];
        }
        (void)sum;
    } else {
        (void)strlen(e.why);
    }
    classify_req_free(&q);
    return 0;
}
