/* The notes on a training catalog worth telling the user before training, as found by
 * shelf_catalog_hygiene. */
#include "hygiene.h"

#include "terminal.h"

/* "PATH: the leaf 'L' sits under two parents: 'A' and 'B' (two different labels)", the
 * names escaped: they come from the catalog and go to a terminal. */
static void two_parents(FILE *out, const char *path, const shelf_hygiene_leaf *l)
{
    const char *parts[] = {path, ": the leaf '", l->leaf, "' sits under two parents: '",
                           l->label, "' and '", l->other_label, "' (two different labels)\n"};
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++)
        if (i % 2)
            fputs(parts[i], out);
        else
            fput_escaped(out, parts[i]);
}

void hygiene_report(const shelf_catalog *c, const char *path, const char *sep, int with_image,
                    FILE *out)
{
    shelf_hygiene h;
    shelf_error err = {0};
    if (shelf_catalog_hygiene(c, sep, with_image, &h, &err) != SHELF_OK) {
        fprintf(out, "shelf: %s\n", err.message); /* only notes: training goes on */
        return;
    }
    if (h.duplicates)
        fprintf(out, "%s: %ld products repeat an earlier product's %s; %ld groups of them "
                "have different labels\n", path, h.duplicates,
                with_image ? "text and image" : "text", h.conflicting);
    for (int i = 0; i < h.n_two_parent_examples; i++)
        two_parents(out, path, &h.two_parent_examples[i]);
    if (h.two_parents > SHELF_HYGIENE_EXAMPLES)
        fprintf(out, "%s: %ld leaf names sit under two parents in all\n", path, h.two_parents);
}
