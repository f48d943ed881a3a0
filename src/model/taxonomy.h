/* The taxonomy over the label paths: every prefix of a path ("Apparel", "Apparel > Topwear",
 * "Apparel > Topwear > Tshirts") is a node, and a label's score is the sum of its nodes'
 * scores. Rare leaves then borrow strength from their parents, which have many more
 * products: hierarchical parameter sharing. Flat, every label is its own single node. */
#ifndef SHELF_MODEL_TAXONOMY_H
#define SHELF_MODEL_TAXONOMY_H

#include <stdint.h>

#include "core/strmap.h"

typedef struct taxonomy {
    int nleaves, nnodes;
    uint32_t *path_off;   /* nleaves + 1: leaf i's nodes are path[path_off[i] .. off[i+1]) */
    uint32_t *path;
    strmap nodes;         /* node path -> node id */
} taxonomy;

/* Builds the nodes of labels split on sep; hierarchical 0 gives one node per label.
 * 0, or -1 when out of memory. */
int taxonomy_build(taxonomy *t, const strmap *labels, const char *sep, int hierarchical);
void taxonomy_free(taxonomy *t);

/* logits[nleaves] = sum of z[node] over each leaf's nodes. */
void taxonomy_leaf_logits(const taxonomy *t, const float *z, float *logits);
/* dz[nnodes] = sum of dlogits[leaf] over the leaves below each node. */
void taxonomy_node_grads(const taxonomy *t, const float *dlogits, float *dz);

#endif
