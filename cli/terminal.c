#include "terminal.h"

void fput_escaped(FILE *f, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        size_t run = 0;
        while (p[run] >= 0x20 && p[run] != 0x7f)
            run++;
        fwrite(p, 1, run, f);
        p += run;
        if (*p)
            fprintf(f, "\\x%02x", *p++);
    }
}
