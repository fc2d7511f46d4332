/* nccl_coll.h - the NCCL collectives nnfi uses between GPU ranks (built with
 * NNFI_WITH_NCCL when the CUDA toolkit has NCCL). Host buffers in, host
 * buffers out: the data goes through one device buffer, and every wait has
 * the watchdog's deadline (nnfi/watchdog.h).
 *
 * Lifecycle: rank 0 makes an id (nnfi_nccl_unique_id), the caller sends it to
 * every rank over MPI, each rank opens its communicator on its device
 * (nnfi_nccl_open, collective), uses it, and closes it (nnfi_nccl_close).
 *  Served to the engine as the gpu_coll.h table (nnfi_gpu_coll_nccl()).
 */
#ifndef NNFI_PLUGINS_NCCL_COLL_H
#define NNFI_PLUGINS_NCCL_COLL_H

#include <stdint.h>

#include "nnfi/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NNFI_NCCL_ID_BYTES 128

typedef struct nnfi_nccl nnfi_nccl;

nnfi_status nnfi_nccl_unique_id(unsigned char id[NNFI_NCCL_ID_BYTES]);
nnfi_status nnfi_nccl_open(const unsigned char id[NNFI_NCCL_ID_BYTES], int rank, int size, int device, nnfi_nccl **out);

/* root's buf[0..n) to every rank's buf */
nnfi_status nnfi_nccl_bcast_f32(nnfi_nccl *c, float *buf, uint64_t n, int root);

/* element-wise sum of buf[0..n) over the ranks, into every rank's buf */
nnfi_status nnfi_nccl_sum_u64(nnfi_nccl *c, uint64_t *buf, uint64_t n);

void nnfi_nccl_close(nnfi_nccl *c);

/* "NCCL 2.28.9" */
const char *nnfi_nccl_version(void);

/* These functions as the engine's gpu_coll.h table (the registry's). */
const struct nnfi_gpu_coll *nnfi_gpu_coll_nccl(void);

#ifdef __cplusplus
}
#endif
#endif /* NNFI_PLUGINS_NCCL_COLL_H */
