/* libFuzzer target: the CSV catalog reader (tests/fuzz/fuzz_reader.h says how the input's
 * first byte picks the read options). */
#include "fuzz_reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_reader_run(data, size, SHELF_FORMAT_CSV, "catalog.csv");
}
