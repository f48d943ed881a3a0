#include "model/encoder.h"

void encoder_free(encoder *e)
{
    if (e)
        e->ops->free(e);
}
