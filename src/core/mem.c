#include "core/mem.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static atomic_ulong calls;
static atomic_ulong fail_at; /* 0: never */
static atomic_int persist_failure;
static atomic_int failed;

void mem_fail_at(unsigned long n, int persist)
{
    atomic_store(&fail_at, 0);
    atomic_store(&calls, 0);
    atomic_store(&failed, 0);
    atomic_store(&persist_failure, persist);
    atomic_store(&fail_at, n);
}

unsigned long mem_calls(void) { return atomic_load(&calls); }
int mem_failed(void) { return atomic_load(&failed); }

/* Whether this allocation is to fail; the common case is one relaxed load. */
static int must_fail(void)
{
    unsigned long at = atomic_load_explicit(&fail_at, memory_order_relaxed);
    if (!at)
        return 0;
    unsigned long n = atomic_fetch_add(&calls, 1) + 1;
    if (n == at || (n > at && atomic_load(&persist_failure))) {
        atomic_store(&failed, 1);
        return 1;
    }
    return 0;
}

void *mem_alloc(size_t n) { return must_fail() ? NULL : malloc(n ? n : 1); }

void *mem_calloc(size_t count, size_t size)
{
    if (size && count > (size_t)-1 / size)
        return NULL;
    return must_fail() ? NULL : calloc(count ? count : 1, size ? size : 1);
}

void *mem_realloc(void *p, size_t n) { return must_fail() ? NULL : realloc(p, n ? n : 1); }

char *mem_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *d = mem_alloc(len + 1);
    if (d) {
        memcpy(d, s, len);
        d[len] = 0;
    }
    return d;
}

char *mem_strdup(const char *s) { return mem_strndup(s, (size_t)-1); }

void mem_free(void *p) { free(p); }
