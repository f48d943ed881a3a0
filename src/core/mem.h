/* The one door every allocation of shelf's own code goes through (the libraries it uses
 * allocate on their own), so that a test can make the N-th allocation fail and check that
 * each caller turns it into a clean SHELF_ENOMEM with nothing leaked. Memory from these
 * functions is the C library's: mem_free and free are interchangeable. */
#ifndef SHELF_CORE_MEM_H
#define SHELF_CORE_MEM_H

#include <stddef.h>

/* NULL when out of memory (or told to fail). mem_calloc also fails when count * size
 * overflows; mem_realloc(p, n) leaves p intact when it fails. */
void *mem_alloc(size_t n);
void *mem_calloc(size_t count, size_t size);
void *mem_realloc(void *p, size_t n);
char *mem_strdup(const char *s);
char *mem_strndup(const char *s, size_t n);
void mem_free(void *p);

/* Testing: the n-th allocation from now fails (n = 0: none does); with persist, every
 * allocation after it fails too. Counted across threads. */
void mem_fail_at(unsigned long n, int persist);
/* Testing: allocations since the last mem_fail_at (counted only while a failure is set:
 * mem_fail_at(ULONG_MAX, 0) counts without failing), and whether one was made to fail. */
unsigned long mem_calls(void);
int mem_failed(void);

#endif
