/* Text from a catalog or a model (a label, a path) shown on a terminal. */
#ifndef SHELF_CLI_TERMINAL_H
#define SHELF_CLI_TERMINAL_H

#include <stdio.h>

/* Writes s with its control characters (below 0x20, and 0x7f) as \xNN, so that it cannot
 * carry escape sequences to the terminal. */
void fput_escaped(FILE *f, const char *s);

#endif
