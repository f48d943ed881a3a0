/* Reading and writing the model file's parts: the primitives every part's save and load use
 * (numbers in the machine's byte order, strings, arrays whose claimed size is checked
 * against what the file holds), a running checksum, and tagged sections.
 *
 * A section is u32 tag, u32 reserved, u64 length, the payload; the file's checksum, verified
 * before anything is read, covers every section. A section's length is found by running its
 * writer once without writing (a counting pass), so no size is ever mirrored by hand. */
#ifndef SHELF_MODEL_MODEL_IO_H
#define SHELF_MODEL_MODEL_IO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* A 64-bit checksum over 8-byte words, fast enough for models of hundreds of MB. */
typedef struct sum64 {
    uint64_t h;
    unsigned char tail[8];
    size_t ntail;
} sum64;
void sum64_update(sum64 *s, const void *data, size_t n);
uint64_t sum64_final(const sum64 *s);
/* The checksum as shelf wrote it before 7d13485 (some version-1 files), for one write call
 * of n bytes: a call too short to finish the word left unfinished by the previous call
 * dropped that word's bytes and its own. A call given in pieces: its first piece through
 * this, the rest through sum64_update. */
void sum64_update_early(sum64 *s, const void *data, size_t n);

/* f NULL: a counting pass, which only adds up size. */
typedef struct model_writer {
    FILE *f;        /* NULL: nothing written, only counted (and summed with hash_only) */
    sum64 sum;
    uint64_t size;
    int failed;
    int hash_only;
} model_writer;

void mw_put(model_writer *w, const void *p, size_t n);
void mw_u32(model_writer *w, uint32_t v);
void mw_u64(model_writer *w, uint64_t v);
void mw_f32(model_writer *w, float v);
void mw_f64(model_writer *w, double v);
void mw_floats(model_writer *w, const float *p, size_t n); /* u64 count, then the floats */
void mw_str(model_writer *w, const char *s); /* u32 0: NULL; else length + 1, the bytes */

/* Writes section tag: its length from a counting pass of put(ctx), then put(ctx) itself. */
void mw_section(model_writer *w, uint32_t tag, void (*put)(model_writer *, const void *),
                const void *ctx);

typedef struct model_reader {
    FILE *f;
    sum64 sum;
    uint64_t left;   /* bytes that may still be read (of the file, or of a section) */
    uint32_t version;
    int early;       /* a file from before a change made without a version bump: version 1
                        before d99ec33 (no hierarchy flag, character n-grams weighed as
                        words), version 2 before 782eb3f (no temperature) */
    int failed;
    int oom;         /* failed for want of memory, not for the file's contents */
    int member;      /* the sections of an ensemble's member, which holds no ensemble */
    char why[160];   /* what was wrong, when known */
} model_reader;

/* Whether the reader still holds count items of size bytes: every size a file claims is
 * checked so before it drives an allocation, or a small crafted file could make each load
 * allocate gigabytes. 0, or -1 with the reader failed and the claim in r->why. */
int mr_claim(model_reader *r, const char *what, uint64_t count, uint64_t size);
/* Reads n bytes (zeros and the reader failed when they are not there). 0 or -1. */
int mr_get(model_reader *r, void *p, size_t n);
uint32_t mr_u32(model_reader *r);
uint64_t mr_u64(model_reader *r);
float mr_f32(model_reader *r);
double mr_f64(model_reader *r);
/* A string; NULL when absent (or on failure, with r->failed). */
char *mr_str(model_reader *r);
/* mem_alloc(count * size) filled from the file, after checking that it holds that many
 * bytes; NULL (and the reader failed) otherwise. */
void *mr_array(model_reader *r, const char *what, uint64_t count, size_t size);
/* Reads a u64 count that must be n, then n floats into p. 0, or -1. */
int mr_floats(model_reader *r, const char *what, float *p, size_t n);
/* Marks the reader failed for want of memory. Returns -1. */
int mr_oom(model_reader *r);
/* Marks the reader failed, with why (when none was given yet). Returns -1. */
int mr_fail(model_reader *r, const char *why);

/* Verifies the checksum of the whole file f of size bytes (its last 8 bytes: the checksum
 * of every byte before them) before anything in it is trusted, so that a damaged file is
 * refused before its sizes drive any allocation; *sum gets the checksum. 1 when it matches,
 * 0 when not, -1 out of memory. */
int mr_checksum_ok(FILE *f, uint64_t size, uint64_t *sum);

/* The next section's header: its tag and a reader limited to its payload (sharing r's
 * file). 0, or -1 at the end of r (or on a damaged header). */
int mr_section(model_reader *r, uint32_t *tag, model_reader *section);
/* After a section's payload was read by its part: checks that all of it was; r goes on
 * after it. 0, or -1 with r failed. */
int mr_section_end(model_reader *r, model_reader *section);
/* Skips a section no part knows (one written by a newer shelf). 0, or -1. */
int mr_section_skip(model_reader *r, model_reader *section);

#endif
