/* gpu_coll.h - collectives between GPU ranks, as a plug-in table (NCCL:
 * src/plugins/comm_nccl). The engine asks the registry for one
 * (nnfi_registry_gpu_coll: NULL when the build has none) and falls back to
 * the comm plug-in's broadcast, which moves the same bytes.
 *
 * Lifecycle: rank 0 makes an id (unique_id), the caller sends it to every
 * rank over the comm plug-in, each rank opens its communicator on its device
 * (open, collective), uses it, and closes it. Host buffers in and out; every
 * wait has the watchdog's deadline.
 */
#ifndef NNFI_GPU_COLL_H
#define NNFI_GPU_COLL_H

#include <stdint.h>

#include "nnfi/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NNFI_GPU_COLL_ABI 1
#define NNFI_GPU_COLL_ID_BYTES 128

typedef struct nnfi_gpu_comm nnfi_gpu_comm;

typedef struct nnfi_gpu_coll {
    uint32_t abi;  /* NNFI_GPU_COLL_ABI */
    uint32_t size; /* sizeof(nnfi_gpu_coll) */
    const char *name; /* "NCCL" */
    nnfi_status (*unique_id)(unsigned char id[NNFI_GPU_COLL_ID_BYTES]);
    nnfi_status (*open)(const unsigned char id[NNFI_GPU_COLL_ID_BYTES], int rank, int size, int device,
                        nnfi_gpu_comm **out);
    nnfi_status (*bcast_f32)(nnfi_gpu_comm *c, float *buf, uint64_t n, int root); /* root's buf to every rank */
    nnfi_status (*sum_u64)(nnfi_gpu_comm *c, uint64_t *buf, uint64_t n);          /* element-wise sum, everywhere */
    void (*close)(nnfi_gpu_comm *c);                                               /* NULL: no-op */
    const char *(*version)(void);                                                  /* "NCCL 2.28.9" */
} nnfi_gpu_coll;

#ifdef __cplusplus
}
#endif
#endif /* NNFI_GPU_COLL_H */
