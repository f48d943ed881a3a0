/* The library's version, as built (shelf.h's SHELF_VERSION): a program can compare the one
 * it was compiled against with the one it runs with. */
#include "shelf.h"

const char *shelf_version(void) { return SHELF_VERSION; }
