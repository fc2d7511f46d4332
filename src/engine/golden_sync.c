/* golden_sync.c - rank 0's golden logits to every rank (see golden_sync.h). */
#include "nnfi/golden_sync.h"

#include <stdlib.h>
#include <string.h>

#include "nnfi/gpu_coll.h"
#include "nnfi/registry.h"

static int model_used(const nnfi_campaign *c, unsigned m)
{
    for (unsigned e = 0; e < c->experiments_count; e++)
        if (strcmp(c->experiments[e].model, c->models[m].name) == 0) return 1;
    return 0;
}

nnfi_status nnfi_golden_prepare(const nnfi_campaign *c, nnfi_worker *w, int *on_gpu, int *device)
{
    *on_gpu = 1;
    *device = -1;
    for (unsigned m = 0; m < c->models_count; m++) {
        if (!model_used(c, m)) continue;
        nnfi_model_facts f;
        NNFI_TRY(nnfi_worker_model_facts(w, m, &f));
        int dev = -1;
        for (size_t i = 0; i < f.n_sites && dev < 0; i++) dev = f.sites[i].device;
        if (dev < 0) *on_gpu = 0;
        else *device = dev;
    }
    return NNFI_OK;
}

static nnfi_status share_mpi(nnfi_comm *comm, const nnfi_campaign *c, nnfi_worker *w)
{
    int rank = nnfi_comm_rank(comm);
    for (unsigned m = 0; m < c->models_count; m++) {
        if (!model_used(c, m)) continue;
        nnfi_model_facts f;
        NNFI_TRY(nnfi_worker_model_facts(w, m, &f));
        char *buf = rank == 0 ? (char *)f.golden_logits : NULL;
        uint64_t len = (uint64_t)f.samples * f.positions * f.classes * sizeof(float);
        NNFI_TRY(nnfi_comm_bcast_bytes(comm, &buf, &len));
        if (rank != 0) {
            nnfi_status st = len == (uint64_t)f.samples * f.positions * f.classes * sizeof(float)
                                 ? nnfi_worker_set_golden(w, m, (const float *)buf)
                                 : NNFI_FAIL(NNFI_E_INVALID, "model '%s': rank 0's golden logits have another size", f.name);
            free(buf);
            NNFI_TRY(st);
        }
    }
    return NNFI_OK;
}

static nnfi_status share_gpu(const nnfi_gpu_coll *gc, nnfi_comm *comm, const nnfi_campaign *c, nnfi_worker *w, int device, int *ok)
{
    int rank = nnfi_comm_rank(comm), size = nnfi_comm_size(comm);
    char *id = NULL;
    uint64_t len = NNFI_GPU_COLL_ID_BYTES;
    unsigned char root_id[NNFI_GPU_COLL_ID_BYTES];
    nnfi_status st = NNFI_OK;
    if (rank == 0) {
        st = gc->unique_id(root_id);
        if (st != NNFI_OK) len = 0; /* tells the others to use MPI */
        id = (char *)root_id;
    }
    NNFI_TRY(nnfi_comm_bcast_bytes(comm, &id, &len));
    nnfi_gpu_comm *nc = NULL;
    int opened = 0;
    if (len == NNFI_GPU_COLL_ID_BYTES) st = gc->open((const unsigned char *)id, rank, size, device, &nc);
    opened = len == NNFI_GPU_COLL_ID_BYTES && st == NNFI_OK;
    if (rank != 0) free(id);
    NNFI_TRY(nnfi_comm_all_ok(comm, opened, ok));
    if (!*ok) { /* NCCL cannot serve these ranks (e.g. two ranks on one GPU): MPI does */
        gc->close(nc);
        return NNFI_OK;
    }
    for (unsigned m = 0; st == NNFI_OK && m < c->models_count; m++) {
        if (!model_used(c, m)) continue;
        nnfi_model_facts f;
        st = nnfi_worker_model_facts(w, m, &f);
        uint64_t n = (uint64_t)f.samples * f.positions * f.classes;
        float *buf = st == NNFI_OK ? malloc(n * sizeof *buf) : NULL;
        if (st == NNFI_OK && !buf) st = NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
        if (st == NNFI_OK) memcpy(buf, f.golden_logits, n * sizeof *buf);
        if (st == NNFI_OK) st = gc->bcast_f32(nc, buf, n, 0);
        if (st == NNFI_OK && rank != 0) st = nnfi_worker_set_golden(w, m, buf);
        free(buf);
    }
    gc->close(nc);
    return st;
}

nnfi_status nnfi_golden_share(nnfi_comm *comm, const nnfi_campaign *c, nnfi_worker *w, int on_gpu, int device,
                              const char **via)
{
    *via = "none";
    if (nnfi_comm_size(comm) == 1) return NNFI_OK;
    int all_gpu = 0;
    NNFI_TRY(nnfi_comm_all_ok(comm, on_gpu, &all_gpu));
    const nnfi_gpu_coll *gc = nnfi_registry_gpu_coll(); /* NULL: this build has none */
    const char *env = getenv("NNFI_NCCL");
    if (gc && all_gpu && !(env && strcmp(env, "0") == 0)) {
        int ok = 0;
        NNFI_TRY(share_gpu(gc, comm, c, w, device, &ok));
        if (ok) {
            *via = gc->name;
            return NNFI_OK;
        }
    }
    *via = "MPI";
    return share_mpi(comm, c, w);
}
