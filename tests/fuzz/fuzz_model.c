/* libFuzzer target: the model loader, shelf_model_load, and what a loaded model answers
 * (its description, summary, labels, a text model's prediction with back-off, and an image
 * or fused model's prediction of a product with a tiny photo).
 *
 * The input's first byte: bit 0 sets the header's file size to the real one, bit 1 puts
 * the right checksum at the end; the rest is the model file. Without them nearly every
 * mutation would stop at the size or checksum check, and the sections behind them would
 * never be read. */
#include <string.h>

#include "fuzz_util.h"
#include "model/model.h"
#include "shelf.h"

enum { HEADER_SIZE = 24 };

/* A 2 x 1 RGBA PNG (tests/fuzz/corpus/fuzz_image/rgba.png). */
static const unsigned char photo[] = {
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48,
    0x44, 0x52, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00,
    0x00, 0xf4, 0x22, 0x7f, 0x8a, 0x00, 0x00, 0x00, 0x11, 0x49, 0x44, 0x41, 0x54, 0x78,
    0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xd0, 0xc0, 0xc0, 0xf0, 0x9f, 0x01, 0x00, 0x0c, 0x7f,
    0x02, 0x7f, 0x88, 0xba, 0x31, 0x9c, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44,
    0xae, 0x42, 0x60, 0x82};

/* An image or fused model's prediction of one product with text and photo, on one
 * thread. */
static void predict_photo(const shelf_model *m)
{
    shelf_product p = {"1", "red cotton tee", "", "photo.png", 2, photo, sizeof photo};
    int labels[3], counts[1];
    float probs[3];
    unsigned char used[1];
    shelf_predict_stats stats;
    shelf_predict_products(m, ".", &p, 1, 3, 1, labels, probs, counts, used, &stats, NULL);
}

static void use_model(const shelf_model *m)
{
    char *d = shelf_model_describe(m, 5);
    free(d);
    shelf_model_summary sum;
    shelf_model_summarize(m, &sum);
    size_t n = strlen(sum.train_path);
    for (int i = 0; i < shelf_model_num_labels(m); i++)
        n += strlen(shelf_model_label(m, i));
    (void)n;
    if (shelf_model_modality(m) != SHELF_MODALITY_TEXT) {
        predict_photo(m);
        return;
    }
    shelf_scratch *s = NULL;
    if (shelf_scratch_new(m, &s, NULL) != SHELF_OK)
        return;
    int labels[3];
    float probs[3];
    int k = shelf_predict(m, s, "red cotton tee, crew neck 纯棉", 3, labels, probs);
    if (k > 0) {
        char path[256];
        float p;
        shelf_backoff(m, labels, probs, k, 0.9f, path, sizeof path, &p);
    }
    shelf_scratch_free(s);
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
    if ((fix & 1) && n >= HEADER_SIZE) {
        uint64_t total = n;
        memcpy(file + 16, &total, 8);
    }
    if ((fix & 2) && n >= 8) {
        uint64_t sum = model_checksum(file, n - 8);
        memcpy(file + n - 8, &sum, 8);
    }
    const char *path = fuzz_write_file("fuzz.model", file, n);
    free(file);
    shelf_model *m = NULL;
    shelf_error err;
    if (shelf_model_load(path, &m, &err) == SHELF_OK) {
        use_model(m);
        shelf_model_free(m);
    }
    return 0;
}
