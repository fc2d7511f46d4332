/* test_gpu_nccl.c - the NCCL collectives of kernels/nccl_coll.c on one GPU
 * (a communicator of one rank, which needs no MPI): a broadcast gives back
 * the root's bytes and a sum gives the element-wise sum, through the device
 * buffer and the watchdog's wait. Multi-rank use is exercised by `nnfi run`
 * under mpirun on several GPUs (src/campaign/golden_sync.c). Exits 77 (skip)
 * without a device. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inject_apply.cuh"
#include "nccl_coll.h"
#include "nnfi_test.h"

int main(void)
{
    if (nnfi_cuda_device_count() <= 0) return nnfi_test_skip("no CUDA device");
    unsigned char id[NNFI_NCCL_ID_BYTES];
    CHECK(nnfi_nccl_unique_id(id) == NNFI_OK);
    nnfi_nccl *c = NULL;
    CHECK(nnfi_nccl_open(id, 0, 1, 0, &c) == NNFI_OK);
    enum { N = 1 << 20 };
    float *f = malloc(N * sizeof *f), *ref = malloc(N * sizeof *ref);
    uint64_t *u = malloc(N * sizeof *u);
    CHECK(f && ref && u);
    for (uint32_t i = 0; i < N; i++) {
        f[i] = (float)i * 0.37f - 1e3f;
        u[i] = (uint64_t)i * 0x9e3779b97f4a7c15ull;
    }
    memcpy(ref, f, N * sizeof *f);
    CHECK(nnfi_nccl_bcast_f32(c, f, N, 0) == NNFI_OK);
    CHECK(memcmp(f, ref, N * sizeof *f) == 0);
    CHECK(nnfi_nccl_sum_u64(c, u, N) == NNFI_OK);
    for (uint32_t i = 0; i < N; i++) CHECK(u[i] == (uint64_t)i * 0x9e3779b97f4a7c15ull);
    nnfi_nccl_close(c);
    printf("ok %s: broadcast and sum of 2^20 values on one GPU\n", nnfi_nccl_version());
    free(f), free(ref), free(u);
    return 0;
}
