/* libFuzzer target: the index loader, shelf_index_load (its HNSW graph, which hnswlib
 * reads, included), and what a loaded index answers (a search exact and through the graph,
 * an id, a label).
 *
 * The input's first byte: bit 0 puts the right checksum at the end; the rest is the index
 * file. Without it nearly every mutation would stop at the checksum. */
#include <string.h>

#include "fuzz_util.h"
#include "model/model.h"
#include "shelf.h"

static void use_index(const shelf_index *x)
{
    size_t n = shelf_index_size(x);
    if (n == 0)
        return;
    long rows[3];
    float scores[3];
    int k = n < 3 ? (int)n : 3;
    const float *q = shelf_index_vector(x, n - 1);
    long skip = (long)n - 1;
    shelf_index_search(x, q, 1, k, NULL, 1, 1, rows, scores, NULL);
    shelf_index_search(x, q, 1, k, &skip, 0, 1, rows, scores, NULL);
    shelf_index_find(x, shelf_index_id(x, 0));
    (void)strlen(shelf_index_label(x, n - 1));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t fix = data[0];
    size_t n = size - 1;
    uint8_t *file = malloc(n ? n : 1);
    if (!file)
        return 0;
    memcpy(file, data + 1, n);
    if ((fix & 1) && n >= 8) {
        uint64_t sum = model_checksum(file, n - 8);
        memcpy(file + n - 8, &sum, 8);
    }
    const char *path = fuzz_write_file("fuzz.idx", file, n);
    free(file);
    shelf_index *x = NULL;
    if (shelf_index_load(path, NULL, &x, NULL) == SHELF_OK) {
        use_index(x);
        shelf_index_free(x);
    }
    return 0;
}
