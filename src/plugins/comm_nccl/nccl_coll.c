/* nccl_coll.c - NCCL broadcast and sum for GPU ranks (see nccl_coll.h). */
#include "nccl_coll.h"

#include "nnfi/gpu_coll.h"

#include <cuda_runtime_api.h>
#include <nccl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nnfi/watchdog.h"

struct nnfi_nccl {
    ncclComm_t comm;
    cudaStream_t stream;
    cudaEvent_t done;
    int device;
    void *dbuf;
    size_t cap;
};

#define NCCL_TRY(expr)                                                                                      \
    do {                                                                                                    \
        ncclResult_t r_ = (expr);                                                                           \
        if (r_ != ncclSuccess)                                                                              \
            return NNFI_FAIL(NNFI_E_BACKEND, "NCCL: %s failed: %s\n  hint: NCCL needs one GPU per rank; "    \
                             "NNFI_NCCL=0 uses MPI instead", #expr, ncclGetErrorString(r_));                 \
    } while (0)

#define CUDA_TRY(expr)                                                                                      \
    do {                                                                                                    \
        cudaError_t e_ = (expr);                                                                            \
        if (e_ != cudaSuccess)                                                                              \
            return NNFI_FAIL(NNFI_E_BACKEND, "CUDA: %s failed: %s", #expr, cudaGetErrorString(e_));          \
    } while (0)

nnfi_status nnfi_nccl_unique_id(unsigned char id[NNFI_NCCL_ID_BYTES])
{
    ncclUniqueId u;
    NCCL_TRY(ncclGetUniqueId(&u));
    memcpy(id, u.internal, NNFI_NCCL_ID_BYTES);
    return NNFI_OK;
}

nnfi_status nnfi_nccl_open(const unsigned char id[NNFI_NCCL_ID_BYTES], int rank, int size, int device, nnfi_nccl **out)
{
    *out = NULL;
    nnfi_nccl *c = calloc(1, sizeof *c);
    if (!c) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    ncclUniqueId u;
    memcpy(u.internal, id, NNFI_NCCL_ID_BYTES);
    c->device = device;
    nnfi_status st = NNFI_OK;
    if (cudaSetDevice(device) != cudaSuccess || cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking) != cudaSuccess ||
        cudaEventCreateWithFlags(&c->done, cudaEventDisableTiming) != cudaSuccess)
        st = NNFI_FAIL(NNFI_E_BACKEND, "NCCL: cannot use cuda:%d: %s", device, cudaGetErrorString(cudaGetLastError()));
    else {
        ncclResult_t r = ncclCommInitRank(&c->comm, size, u, rank);
        if (r != ncclSuccess)
            st = NNFI_FAIL(NNFI_E_BACKEND, "NCCL: ncclCommInitRank (rank %d of %d on cuda:%d) failed: %s\n"
                           "  hint: NCCL needs one GPU per rank; NNFI_NCCL=0 uses MPI instead",
                           rank, size, device, ncclGetErrorString(r));
    }
    if (st != NNFI_OK) {
        nnfi_nccl_close(c);
        return st;
    }
    *out = c;
    return NNFI_OK;
}

static nnfi_status reserve(nnfi_nccl *c, size_t bytes)
{
    if (bytes <= c->cap) return NNFI_OK;
    if (c->dbuf) cudaFree(c->dbuf);
    c->dbuf = NULL;
    c->cap = 0;
    CUDA_TRY(cudaMalloc(&c->dbuf, bytes));
    c->cap = bytes;
    return NNFI_OK;
}

static int poll_done(void *ctx)
{
    nnfi_nccl *c = ctx;
    cudaError_t e = cudaEventQuery(c->done);
    if (e == cudaSuccess) return 1;
    if (e == cudaErrorNotReady) {
        ncclResult_t async = ncclSuccess;
        if (ncclCommGetAsyncError(c->comm, &async) == ncclSuccess && async == ncclSuccess) return 0;
        NNFI_FAIL(NNFI_E_BACKEND, "NCCL: a peer failed: %s", ncclGetErrorString(async));
        return -1;
    }
    NNFI_FAIL(NNFI_E_BACKEND, "CUDA: %s", cudaGetErrorString(e));
    return -1;
}

static nnfi_status finish(nnfi_nccl *c, void *host, size_t bytes, const char *what)
{
    CUDA_TRY(cudaMemcpyAsync(host, c->dbuf, bytes, cudaMemcpyDeviceToHost, c->stream));
    CUDA_TRY(cudaEventRecord(c->done, c->stream));
    nnfi_status st = nnfi_wait_deadline(poll_done, c, nnfi_device_timeout_s(), what);
    if (st != NNFI_OK) ncclCommAbort(c->comm), c->comm = NULL;
    return st;
}

nnfi_status nnfi_nccl_bcast_f32(nnfi_nccl *c, float *buf, uint64_t n, int root)
{
    size_t bytes = n * sizeof(float);
    if (!n) return NNFI_OK;
    NNFI_TRY(reserve(c, bytes));
    CUDA_TRY(cudaMemcpyAsync(c->dbuf, buf, bytes, cudaMemcpyHostToDevice, c->stream));
    NCCL_TRY(ncclBroadcast(c->dbuf, c->dbuf, n, ncclFloat32, root, c->comm, c->stream));
    return finish(c, buf, bytes, "an NCCL broadcast");
}

nnfi_status nnfi_nccl_sum_u64(nnfi_nccl *c, uint64_t *buf, uint64_t n)
{
    size_t bytes = n * sizeof(uint64_t);
    if (!n) return NNFI_OK;
    NNFI_TRY(reserve(c, bytes));
    CUDA_TRY(cudaMemcpyAsync(c->dbuf, buf, bytes, cudaMemcpyHostToDevice, c->stream));
    NCCL_TRY(ncclAllReduce(c->dbuf, c->dbuf, n, ncclUint64, ncclSum, c->comm, c->stream));
    return finish(c, buf, bytes, "an NCCL all-reduce");
}

void nnfi_nccl_close(nnfi_nccl *c)
{
    if (!c) return;
    if (c->comm) ncclCommDestroy(c->comm);
    if (c->dbuf) cudaFree(c->dbuf);
    if (c->done) cudaEventDestroy(c->done);
    if (c->stream) cudaStreamDestroy(c->stream);
    free(c);
}

const char *nnfi_nccl_version(void)
{
    static char v[32];
    int x = 0;
    if (ncclGetVersion(&x) != ncclSuccess) return "NCCL ?";
    snprintf(v, sizeof v, "NCCL %d.%d.%d", x / 10000, x / 100 % 100, x % 100);
    return v;
}

/* ------------------------------------------------- the gpu_coll.h table -- */

static nnfi_status coll_open(const unsigned char id[NNFI_GPU_COLL_ID_BYTES], int rank, int size, int device,
                             nnfi_gpu_comm **out)
{
    return nnfi_nccl_open(id, rank, size, device, (nnfi_nccl **)out);
}
static nnfi_status coll_bcast_f32(nnfi_gpu_comm *c, float *buf, uint64_t n, int root)
{
    return nnfi_nccl_bcast_f32((nnfi_nccl *)c, buf, n, root);
}
static nnfi_status coll_sum_u64(nnfi_gpu_comm *c, uint64_t *buf, uint64_t n) { return nnfi_nccl_sum_u64((nnfi_nccl *)c, buf, n); }
static void coll_close(nnfi_gpu_comm *c) { nnfi_nccl_close((nnfi_nccl *)c); }

const nnfi_gpu_coll *nnfi_gpu_coll_nccl(void)
{
    _Static_assert(NNFI_GPU_COLL_ID_BYTES == NNFI_NCCL_ID_BYTES, "one NCCL id size");
    static const nnfi_gpu_coll t = {NNFI_GPU_COLL_ABI, sizeof(nnfi_gpu_coll), "NCCL", nnfi_nccl_unique_id, coll_open,
                                    coll_bcast_f32, coll_sum_u64, coll_close, nnfi_nccl_version};
    return &t;
}
