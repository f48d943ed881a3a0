#include "core/comm.h"

#include <string.h>

#include "core/error.h"
#include "core/mem.h"

int comm_sum(const shelf_comm *c, void *buf, size_t n, shelf_comm_type type)
{
    return c && c->size > 1 ? c->sum(c->user, buf, n, type) : 0;
}

int comm_average(const shelf_comm *c, float *buf, size_t n)
{
    if (!c || c->size < 2)
        return 0;
    if (c->sum(c->user, buf, n, SHELF_COMM_FLOAT))
        return -1;
    const float inv = 1.0f / (float)c->size;
    for (size_t i = 0; i < n; i++)
        buf[i] *= inv;
    return 0;
}

int comm_min(const shelf_comm *c, uint64_t n, uint64_t *min)
{
    *min = n;
    const int R = comm_ranks(c);
    uint64_t all[COMM_MAX_RANKS] = {0}; /* no allocation: nothing to fail on one rank only */
    if (R < 2)
        return 0;
    if (R > COMM_MAX_RANKS)
        return -1;
    all[c->rank] = n;
    int rc = comm_sum(c, all, (size_t)R, SHELF_COMM_U64);
    for (int r = 0; !rc && r < R; r++)
        *min = all[r] < *min ? all[r] : *min;
    return rc;
}

/* The gather is a sum: each rank writes its bytes at its offset of a zeroed buffer. The
 * ranks first agree that every one of them has its buffer, so that none waits in a sum that
 * another left. */
int comm_agree(const shelf_comm *c, int ok)
{
    uint32_t failed = !ok;
    return comm_sum(c, &failed, 1, SHELF_COMM_U32) == 0 && failed == 0;
}

shelf_status comm_agree_status(const shelf_comm *c, shelf_status st, const char *what,
                               shelf_error *err)
{
    if (!comm_agree(c, st == SHELF_OK) && st == SHELF_OK)
        return err_set(err, SHELF_EIO, "another rank %s", what ? what : "stopped the run");
    return st;
}

int comm_gather(const shelf_comm *c, const void *mine, size_t n, void **all, size_t *total,
                size_t *offset)
{
    *all = NULL;
    const int R = comm_ranks(c), me = c ? c->rank : 0;
    uint64_t sizes[COMM_MAX_RANKS] = {0};
    if (R > COMM_MAX_RANKS)
        return -1;
    sizes[me] = n;
    if (comm_sum(c, sizes, (size_t)R, SHELF_COMM_U64))
        return -1;
    size_t sum = 0, at = 0;
    for (int r = 0; r < R; r++) {
        at += r < me ? (size_t)sizes[r] : 0;
        sum += (size_t)sizes[r];
    }
    unsigned char *buf = mem_calloc(sum ? sum : 1, 1);
    uint32_t failed = buf == NULL;
    if (comm_sum(c, &failed, 1, SHELF_COMM_U32) || failed) {
        mem_free(buf);
        return -1;
    }
    if (n)
        memcpy(buf + at, mine, n);
    if (comm_sum(c, buf, sum, SHELF_COMM_U8)) {
        mem_free(buf);
        return -1;
    }
    *all = buf;
    *total = sum;
    *offset = at;
    return 0;
}
