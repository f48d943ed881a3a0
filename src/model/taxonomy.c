#include "core/mem.h"
#include "model/taxonomy.h"
#include "model/model.h"

#include <stdlib.h>
#include <string.h>

/* Appends the node ids of label's prefixes (split on sep) to t->path. */
static int add_prefixes(taxonomy *t, const char *label, const char *sep, size_t *used)
{
    size_t seplen = strlen(sep), len = strlen(label);
    char *prefix = mem_alloc(len + 1);
    if (!prefix)
        return -1;
    const char *p = label;
    for (int depth = 1;; depth++) {
        /* beyond the deepest level kept, the rest of the path is one node */
        const char *next = seplen && depth < MODEL_MAX_LABEL_DEPTH ? strstr(p, sep) : NULL;
        size_t end = next ? (size_t)(next - label) : len;
        memcpy(prefix, label, end);
        prefix[end] = '\0';
        long id = strmap_intern(&t->nodes, prefix);
        if (id < 0) {
            mem_free(prefix);
            return -1;
        }
        t->path[(*used)++] = (uint32_t)id;
        if (!next)
            break;
        p = next + seplen;
    }
    mem_free(prefix);
    return 0;
}

int taxonomy_build(taxonomy *t, const strmap *labels, const char *sep, int hierarchical)
{
    memset(t, 0, sizeof *t);
    strmap_init(&t->nodes);
    size_t n = labels->n, seplen = strlen(sep), total = 0;
    for (size_t i = 0; i < n; i++) {
        total++;
        for (const char *p = labels->keys[i]; hierarchical && seplen && (p = strstr(p, sep));
             p += seplen)
            total++;
    }
    t->nleaves = (int)n;
    t->path_off = mem_alloc((n + 1) * sizeof *t->path_off);
    t->path = mem_alloc((total + 1) * sizeof *t->path);
    if (!t->path_off || !t->path)
        return -1;
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        t->path_off[i] = (uint32_t)used;
        if (add_prefixes(t, labels->keys[i], hierarchical ? sep : "", &used))
            return -1;
    }
    t->path_off[n] = (uint32_t)used;
    t->nnodes = (int)t->nodes.n;
    return 0;
}

void taxonomy_free(taxonomy *t)
{
    mem_free(t->path_off);
    mem_free(t->path);
    strmap_free(&t->nodes);
    memset(t, 0, sizeof *t);
}

void taxonomy_leaf_logits(const taxonomy *t, const float *z, float *logits)
{
    for (int i = 0; i < t->nleaves; i++) {
        float s = 0;
        for (uint32_t j = t->path_off[i]; j < t->path_off[i + 1]; j++)
            s += z[t->path[j]];
        logits[i] = s;
    }
}

void taxonomy_node_grads(const taxonomy *t, const float *dlogits, float *dz)
{
    memset(dz, 0, (size_t)t->nnodes * sizeof *dz);
    for (int i = 0; i < t->nleaves; i++)
        for (uint32_t j = t->path_off[i]; j < t->path_off[i + 1]; j++)
            dz[t->path[j]] += dlogits[i];
}
