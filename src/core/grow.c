#include "core/grow.h"
#include "core/mem.h"

#include <stdint.h>
#include <stdlib.h>

int grow_array(void **p, size_t *cap, size_t need, size_t elem, size_t min_cap)
{
    if (need <= *cap)
        return 0;
    if (need > SIZE_MAX / elem)
        return -1;
    size_t c = *cap ? *cap : min_cap ? min_cap : 1;
    while (c < need) /* doubling past SIZE_MAX would wrap to 0 and never end */
        c = c > SIZE_MAX / 2 ? need : c * 2;
    if (c > SIZE_MAX / elem) /* the doubled size does not fit, the asked one does */
        c = need;
    void *q = mem_realloc(*p, c * elem);
    if (!q)
        return -1;
    *p = q;
    *cap = c;
    return 0;
}
