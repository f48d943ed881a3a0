/* libFuzzer target: base64_decode, the images of JSON requests: any text, into a buffer of
 * exactly base64_max_decoded bytes (ASan catches a byte past it). */
#include <stdint.h>
#include <stdlib.h>

#include "serve/base64.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t cap = base64_max_decoded(size);
    unsigned char *out = malloc(cap);
    if (!out)
        return 0;
    size_t bad = 0;
    long n = base64_decode((const char *)data, size, out, &bad);
    if ((n < 0 && bad > size) || (n >= 0 && (size_t)n > cap))
        abort(); /* the contract: bad within the input, the output within its bound */
    free(out);
    return 0;
}
