/* Data hygiene notes on a training catalog, printed before training. */
#ifndef SHELF_CLI_HYGIENE_H
#define SHELF_CLI_HYGIENE_H

#include <stdio.h>

#include "shelf.h"

/* Prints to out what shelf_catalog_hygiene finds in c (path names it): exact duplicates (of
 * the text, and of the image too with with_image; and those labelled differently), and leaf
 * names under two parents. sep splits label paths (NULL: SHELF_DEFAULT_LABEL_SEP). */
void hygiene_report(const shelf_catalog *c, const char *path, const char *sep, int with_image,
                    FILE *out);

#endif
