#include "model/model_io.h"

#include <string.h>

#include "core/mem.h"

static void sum_word(sum64 *s, uint64_t w)
{
    s->h = (s->h ^ w) * 0x100000001b3ULL;
    s->h ^= s->h >> 29;
}

void sum64_update(sum64 *s, const void *data, size_t n)
{
    const unsigned char *p = data;
    while (n && s->ntail) { /* complete a word begun by the previous call */
        size_t take = 8 - s->ntail < n ? 8 - s->ntail : n;
        memcpy(s->tail + s->ntail, p, take);
        s->ntail += take, p += take, n -= take;
        if (s->ntail == 8) {
            uint64_t w;
            memcpy(&w, s->tail, 8);
            sum_word(s, w);
            s->ntail = 0;
        }
    }
    if (s->ntail) /* still not a whole word: all of data went into the tail */
        return;
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        sum_word(s, w);
    }
    memcpy(s->tail, p, n);
    s->ntail = n;
}

void sum64_update_early(sum64 *s, const void *data, size_t n)
{
    if (n && s->ntail && n < 8 - s->ntail)
        s->ntail = 0; /* 7d13485 added the return that keeps them in the tail */
    else
        sum64_update(s, data, n);
}

uint64_t sum64_final(const sum64 *s)
{
    sum64 t = *s;
    for (size_t i = 0; i < t.ntail; i++)
        sum_word(&t, t.tail[i] + ((uint64_t)(i + 1) << 56));
    return t.h ^ 0x9e3779b97f4a7c15ULL;
}

/* ---- writing --------------------------------------------------------------------------- */

void mw_put(model_writer *w, const void *p, size_t n)
{
    w->size += n;
    if (w->failed || n == 0 || (!w->f && !w->hash_only))
        return;
    if (w->f && fwrite(p, 1, n, w->f) != n)
        w->failed = 1;
    sum64_update(&w->sum, p, n);
}

void mw_u32(model_writer *w, uint32_t v) { mw_put(w, &v, 4); }
void mw_u64(model_writer *w, uint64_t v) { mw_put(w, &v, 8); }
void mw_f32(model_writer *w, float v) { mw_put(w, &v, 4); }
void mw_f64(model_writer *w, double v) { mw_put(w, &v, 8); }

void mw_floats(model_writer *w, const float *p, size_t n)
{
    mw_u64(w, n);
    mw_put(w, p, n * sizeof *p);
}

void mw_str(model_writer *w, const char *s)
{
    mw_u32(w, s ? (uint32_t)strlen(s) + 1 : 0);
    if (s)
        mw_put(w, s, strlen(s));
}

void mw_section(model_writer *w, uint32_t tag, void (*put)(model_writer *, const void *),
                const void *ctx)
{
    model_writer count = {0};
    put(&count, ctx);
    mw_u32(w, tag);
    mw_u32(w, 0);
    mw_u64(w, count.size);
    put(w, ctx);
}

/* ---- reading --------------------------------------------------------------------------- */

int mr_fail(model_reader *r, const char *why)
{
    if (!r->failed && why && !r->why[0])
        snprintf(r->why, sizeof r->why, "%s", why);
    r->failed = 1;
    return -1;
}

int mr_oom(model_reader *r)
{
    r->oom = 1;
    r->failed = 1;
    return -1;
}

int mr_claim(model_reader *r, const char *what, uint64_t count, uint64_t size)
{
    if (!r->failed && count <= r->left / size)
        return 0;
    if (!r->failed)
        snprintf(r->why, sizeof r->why, "%s claims %.0f bytes but the file has %llu left",
                 what, (double)count * (double)size, (unsigned long long)r->left);
    r->failed = 1;
    return -1;
}

int mr_get(model_reader *r, void *p, size_t n)
{
    if (r->failed || n > r->left || fread(p, 1, n, r->f) != n) {
        r->failed = 1;
        memset(p, 0, n);
        return -1;
    }
    sum64_update(&r->sum, p, n);
    r->left -= n;
    return 0;
}

uint32_t mr_u32(model_reader *r) { uint32_t v = 0; mr_get(r, &v, 4); return v; }
uint64_t mr_u64(model_reader *r) { uint64_t v = 0; mr_get(r, &v, 8); return v; }
float mr_f32(model_reader *r) { float v = 0; mr_get(r, &v, 4); return v; }
double mr_f64(model_reader *r) { double v = 0; mr_get(r, &v, 8); return v; }

char *mr_str(model_reader *r)
{
    uint32_t n = mr_u32(r);
    if (n == 0 || r->failed)
        return NULL;
    if (mr_claim(r, "a string", n - 1, 1))
        return NULL;
    char *s = mem_alloc(n);
    if (!s) {
        mr_oom(r);
        return NULL;
    }
    if (mr_get(r, s, n - 1)) {
        mem_free(s);
        return NULL;
    }
    s[n - 1] = '\0';
    return s;
}

void *mr_array(model_reader *r, const char *what, uint64_t count, size_t size)
{
    if (mr_claim(r, what, count, size))
        return NULL;
    void *p = mem_alloc(count ? count * size : 1);
    if (!p) {
        mr_oom(r);
        return NULL;
    }
    if (mr_get(r, p, count * size)) {
        mem_free(p);
        return NULL;
    }
    return p;
}

int mr_floats(model_reader *r, const char *what, float *p, size_t n)
{
    if (mr_u64(r) != n)
        return mr_fail(r, what);
    return mr_get(r, p, n * sizeof *p);
}

int mr_section(model_reader *r, uint32_t *tag, model_reader *section)
{
    if (r->failed || r->left == 0)
        return -1;
    *tag = mr_u32(r);
    mr_u32(r);
    uint64_t len = mr_u64(r);
    if (r->failed || len > r->left)
        return mr_fail(r, "a section runs past the end of the file");
    r->left -= len; /* read through section */
    *section = (model_reader){.f = r->f, .left = len, .version = r->version,
                               .member = r->member};
    return 0;
}

int mr_section_end(model_reader *r, model_reader *section)
{
    if (section->failed) {
        r->oom |= section->oom;
        if (!r->why[0])
            memcpy(r->why, section->why, sizeof r->why);
        return mr_fail(r, "inconsistent contents");
    }
    if (section->left != 0)
        return mr_fail(r, "a section holds more than its part reads");
    return 0;
}

int mr_section_skip(model_reader *r, model_reader *section)
{
    if (fseek(r->f, (long)section->left, SEEK_CUR) != 0)
        return mr_fail(r, "cannot skip a section");
    return 0;
}

int mr_checksum_ok(FILE *f, uint64_t size, uint64_t *sum)
{
    enum { CHUNK = 1 << 20 };
    unsigned char *chunk = mem_alloc(CHUNK);
    if (!chunk)
        return -1;
    sum64 s = {0, {0}, 0};
    uint64_t left = size - 8, have = 0;
    int ok = fseek(f, 0, SEEK_SET) == 0;
    while (ok && left) {
        size_t n = left < CHUNK ? (size_t)left : CHUNK;
        ok = fread(chunk, 1, n, f) == n;
        sum64_update(&s, chunk, n);
        left -= n;
    }
    ok = ok && fread(&have, 8, 1, f) == 1 && have == sum64_final(&s);
    *sum = have;
    mem_free(chunk);
    return ok;
}
