/* Classifies products with libshelf: one title a line on standard input, one JSON object a
 * line on standard output with the best labels and their probabilities.
 *
 *   cc classify.c $(pkg-config --cflags --libs shelf) -o classify
 *   ./classify model.shelf 3 < titles.txt
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <shelf.h>

/* s as a JSON string. */
static void put_json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s MODEL [K] < titles.txt\n", argv[0]);
        return 2;
    }
    int k = argc == 3 ? atoi(argv[2]) : 3;
    if (k < 1 || k > 100) {
        fprintf(stderr, "%s: K must be 1 to 100\n", argv[0]);
        return 2;
    }
    shelf_error err = {0};
    shelf_model *m = NULL;
    shelf_scratch *s = NULL;
    if (shelf_model_load(argv[1], &m, &err) != SHELF_OK ||
        shelf_scratch_new(m, &s, &err) != SHELF_OK) {
        fprintf(stderr, "%s: %s\n", argv[0], err.message);
        shelf_model_free(m);
        return 1;
    }
    int labels[100];
    float probs[100];
    char line[65536];
    int status = 0;
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\r\n")] = '\0';
        int n = shelf_predict(m, s, line, k, labels, probs);
        if (n < 0) {
            fprintf(stderr, "%s: out of memory\n", argv[0]);
            status = 1;
            break;
        }
        printf("{\"title\": ");
        put_json_string(line);
        printf(", \"labels\": [");
        for (int i = 0; i < n; i++) {
            printf(i ? ", " : "");
            put_json_string(shelf_model_label(m, labels[i]));
        }
        printf("], \"probs\": [");
        for (int i = 0; i < n; i++)
            printf("%s%.4f", i ? ", " : "", (double)probs[i]);
        printf("]}\n");
    }
    if (ferror(stdout) || fflush(stdout) != 0) {
        fprintf(stderr, "%s: cannot write the output\n", argv[0]);
        status = 1;
    }
    shelf_scratch_free(s);
    shelf_model_free(m);
    return status;
}
