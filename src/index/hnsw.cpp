// The HNSW graph of hnsw.h over hnswlib. Every entry point catches what hnswlib throws
// (std::bad_alloc, std::runtime_error) and answers with a status. The graph travels through
// an in-memory file (memfd), since hnswlib saves and loads by path only.
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

// hnswlib's own SIMD paths prefetch one entry past a node's link list (a read beyond the
// allocation that ASan and valgrind rightly report); without them it calls the space's
// distance function only, which UnitSpace below gives in a form the compiler vectorizes.
#define NO_MANUAL_VECTORIZATION
#include <hnswlib/hnswlib.h>

extern "C" {
#include "core/error.h"
#include "core/mem.h"
#include "index/hnsw.h"
}

// 1 - the dot product of two unit vectors: 32 running sums, which the compiler keeps in
// four vector registers so that one multiply-add need not wait for the one before.
static float unit_distance(const void *a, const void *b, const void *dim_ptr)
{
    const float *x = (const float *)a, *y = (const float *)b;
    size_t n = *(const size_t *)dim_ptr, i = 0;
    float acc[32] = {0};
    for (; i + 32 <= n; i += 32)
        for (int j = 0; j < 32; j++)
            acc[j] += x[i + j] * y[i + j];
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++)
            acc[j] += x[i + j] * y[i + j];
    for (int j = 8; j < 32; j++)
        acc[j & 7] += acc[j];
    float dot = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; i < n; i++)
        dot += x[i] * y[i];
    return 1.0f - dot;
}

class UnitSpace : public hnswlib::SpaceInterface<float>
{
    size_t dim_, bytes_;

  public:
    explicit UnitSpace(size_t dim) : dim_(dim), bytes_(dim * sizeof(float)) {}
    size_t get_data_size() override { return bytes_; }
    hnswlib::DISTFUNC<float> get_dist_func() override { return unit_distance; }
    void *get_dist_func_param() override { return &dim_; }
};

struct hnsw {
    UnitSpace space;
    hnswlib::HierarchicalNSW<float> *graph = nullptr;
    size_t n;
    bool loaded = false; /* read from a file: its level-0 nodes' lists are set, NULL or not */
    explicit hnsw(size_t dim, size_t rows) : space(dim), n(rows) {}
    ~hnsw()
    {
        /* hnswlib frees only the upper levels' lists of nodes whose level is above 0; a
           damaged file can give a level-0 node a list of its own, which would leak (a built
           graph leaves those entries unset: not touched) */
        for (size_t i = 0; loaded && graph && i < graph->cur_element_count; i++)
            if (graph->element_levels_[i] == 0 && graph->linkLists_[i]) {
                free(graph->linkLists_[i]);
                graph->linkLists_[i] = nullptr;
            }
        delete graph;
    }
};

extern "C" shelf_status hnsw_build(const float *vecs, size_t n, size_t dim, int m,
                                   int ef_build, int threads, struct hnsw **out,
                                   shelf_error *err)
{
    *out = nullptr;
    hnsw *h = nullptr;
    try {
        h = new hnsw(dim, n);
        h->graph = new hnswlib::HierarchicalNSW<float>(&h->space, n, (size_t)m,
                                                       (size_t)ef_build, 100);
        if (n)
            h->graph->addPoint(vecs, 0); /* the entry point first, as any thread count */
        unsigned nt = threads > 0 ? (unsigned)threads : std::thread::hardware_concurrency();
        nt = nt ? nt : 1;
        std::atomic<size_t> next(1);
        std::atomic<int> failed(0);
        auto work = [&]() {
            try {
                for (size_t i; !failed && (i = next++) < n;)
                    h->graph->addPoint(vecs + i * dim, i);
            } catch (...) {
                failed = 1;
            }
        };
        std::vector<std::thread> team;
        try {
            for (unsigned t = 1; t < nt; t++)
                team.emplace_back(work);
        } catch (...) { /* fewer threads than asked: those there are do the work */
        }
        work();
        for (auto &t : team)
            t.join();
        if (failed)
            throw std::bad_alloc();
        h->graph->setEf(HNSW_EF_SEARCH);
    } catch (const std::exception &e) {
        delete h;
        return err_set(err, SHELF_ENOMEM, "out of memory building the HNSW graph (%s)",
                       e.what());
    }
    *out = h;
    return SHELF_OK;
}

extern "C" int hnsw_search(const struct hnsw *h, const float *q, int k, long *rows,
                           float *scores)
{
    try {
        auto best = h->graph->searchKnn(q, (size_t)k);
        int got = (int)best.size();
        for (int i = got - 1; i >= 0; i--) { /* the queue pops the farthest first */
            rows[i] = (long)best.top().second;
            scores[i] = 1.0f - best.top().first;
            best.pop();
        }
        return got;
    } catch (...) {
        return -1;
    }
}

/* An anonymous in-memory file and its path, for hnswlib's streams. */
struct memfile {
    int fd = -1;
    std::string path;
    memfile()
    {
        fd = memfd_create("shelf-hnsw", MFD_CLOEXEC);
        if (fd >= 0)
            path = "/proc/self/fd/" + std::to_string(fd);
    }
    ~memfile()
    {
        if (fd >= 0)
            close(fd);
    }
};

extern "C" shelf_status hnsw_save(const struct hnsw *h, unsigned char **bytes, size_t *size,
                                  shelf_error *err)
{
    *bytes = nullptr;
    *size = 0;
    try {
        memfile mf;
        if (mf.fd < 0)
            return err_set(err, SHELF_EIO, "cannot make a file in memory for the HNSW graph");
        h->graph->saveIndex(mf.path);
        off_t end = lseek(mf.fd, 0, SEEK_END);
        if (end <= 0) /* hnswlib says nothing of a file it could not open */
            return err_set(err, SHELF_EIO, "cannot read back the HNSW graph");
        unsigned char *b = (unsigned char *)mem_alloc(end ? (size_t)end : 1);
        if (!b)
            return err_set(err, SHELF_ENOMEM, "out of memory");
        for (size_t got = 0; got < (size_t)end;) { /* a call moves at most 2 GiB */
            ssize_t r = pread(mf.fd, b + got, (size_t)end - got, (off_t)got);
            if (r <= 0) {
                mem_free(b);
                return err_set(err, SHELF_EIO, "cannot read back the HNSW graph");
            }
            got += (size_t)r;
        }
        *bytes = b;
        *size = (size_t)end;
    } catch (const std::exception &e) {
        return err_set(err, SHELF_ENOMEM, "out of memory saving the HNSW graph (%s)", e.what());
    }
    return SHELF_OK;
}

/* Whether every node's links, at every level it has, name nodes of the graph that have
 * that level too, the entry point has the top level, and the header agrees with the index:
 * what search follows without checking. */
static bool links_ok(const hnswlib::HierarchicalNSW<float> *g, size_t n, size_t dim)
{
    if (g->cur_element_count != n || g->data_size_ != dim * sizeof(float) ||
        g->maxM0_ > 4096 || g->maxM_ > 4096 || g->maxlevel_ < 0 ||
        (n && (size_t)g->enterpoint_node_ >= n) ||
        g->size_data_per_element_ != g->maxM0_ * sizeof(hnswlib::tableint) +
                                         sizeof(hnswlib::linklistsizeint) + g->data_size_ +
                                         sizeof(hnswlib::labeltype) ||
        g->label_offset_ != g->size_data_per_element_ - sizeof(hnswlib::labeltype) ||
        g->offsetData_ != g->size_data_per_element_ - sizeof(hnswlib::labeltype) - g->data_size_)
        return false;
    if (n && g->element_levels_[g->enterpoint_node_] != g->maxlevel_)
        return false;
    for (size_t i = 0; i < n; i++) {
        int levels = g->element_levels_[i];
        if (levels < 0 || levels > g->maxlevel_ || g->getExternalLabel((unsigned)i) >= n)
            return false;
    }
    for (size_t i = 0; i < n; i++) {
        int levels = g->element_levels_[i];
        for (int l = 0; l <= levels; l++) {
            auto *ll = l ? g->get_linklist((unsigned)i, l) : g->get_linklist0((unsigned)i);
            size_t cnt = g->getListCount(ll), max = l ? g->maxM_ : g->maxM0_;
            if (cnt > max)
                return false;
            auto *to = (hnswlib::tableint *)(ll + 1);
            for (size_t j = 0; j < cnt; j++)
                if (to[j] >= n || g->element_levels_[to[j]] < l)
                    return false;
        }
    }
    return true;
}

/* hnswlib's file header (saveIndex), checked before hnswlib sizes anything by it: what it
 * allocates then is bounded by the bytes there are. */
static bool header_ok(const unsigned char *b, size_t size, size_t n, size_t dim)
{
    enum { HEADER = 6 * 8 + 4 + 4 + 3 * 8 + 8 + 8 };
    if (size < HEADER)
        return false;
    size_t v[6], m[3], efc;
    int maxlevel;
    unsigned enter;
    double mult;
    memcpy(v, b, sizeof v);
    memcpy(&maxlevel, b + 48, 4);
    memcpy(&enter, b + 52, 4);
    memcpy(m, b + 56, sizeof m);
    memcpy(&mult, b + 80, 8);
    memcpy(&efc, b + 88, 8);
    size_t max_m0 = m[1], per = v[3];
    if (v[0] != 0 || v[1] != n || v[2] != n || max_m0 == 0 || max_m0 > 4096 || m[0] > 4096 ||
        m[2] > 4096 || maxlevel < 0 || maxlevel > 64 || (n && enter >= n) ||
        !(mult > 0 && mult < 1e6) || efc > (1u << 20) ||
        per != max_m0 * 4 + 4 + dim * 4 + 8 || v[4] != per - 8 || v[5] != per - 8 - dim * 4)
        return false;
    return n <= (size - HEADER) / (per + 4); /* every node's data and its link list's size */
}

extern "C" shelf_status hnsw_load(const unsigned char *bytes, size_t size, size_t n,
                                  size_t dim, struct hnsw **out, shelf_error *err)
{
    *out = nullptr;
    hnsw *h = nullptr;
    try {
        memfile mf;
        if (mf.fd < 0)
            return err_set(err, SHELF_EIO, "cannot make a file in memory for the HNSW graph");
        if (!header_ok(bytes, size, n, dim))
            return err_set(err, SHELF_EMODEL, "the HNSW graph does not fit the index");
        for (size_t put = 0; put < size;) { /* a call moves at most 2 GiB */
            ssize_t w = write(mf.fd, bytes + put, size - put);
            if (w <= 0)
                return err_set(err, SHELF_EIO, "cannot hold the HNSW graph in memory");
            put += (size_t)w;
        }
        h = new hnsw(dim, n);
        h->graph = new hnswlib::HierarchicalNSW<float>(&h->space, mf.path, false, n);
        h->loaded = true;
        if (!links_ok(h->graph, n, dim)) {
            delete h;
            return err_set(err, SHELF_EMODEL, "the HNSW graph does not fit the index");
        }
        h->graph->num_deleted_ = 0; /* hnswlib's loader counts onto it uninitialized */
        for (size_t i = 0; i < n; i++)
            h->graph->num_deleted_ += h->graph->isMarkedDeleted((unsigned)i);
        h->graph->setEf(HNSW_EF_SEARCH);
    } catch (const std::bad_alloc &) {
        delete h;
        return err_set(err, SHELF_ENOMEM, "out of memory loading the HNSW graph");
    } catch (const std::exception &e) {
        delete h;
        return err_set(err, SHELF_EMODEL, "the HNSW graph is damaged (%s)", e.what());
    }
    *out = h;
    return SHELF_OK;
}

extern "C" void hnsw_free(struct hnsw *h) { delete h; }
