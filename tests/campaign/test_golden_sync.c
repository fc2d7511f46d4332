/* test_golden_sync.c - run under `mpiexec -n 2`: after nnfi_golden_share every
 * rank holds rank 0's golden logits bit for bit and the golden accuracy that
 * goes with them, even when rank 1's own logits differed (as on GPUs of
 * another kind). Prints "ok" on rank 0 and exits 0; exit 1 on any mismatch. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nnfi/comm.h"
#include "nnfi/golden_sync.h"
#include "nnfi/registry.h"
#include "nnfi/config.h"
#include "nnfi/worker.h"

static const char campaign[] =
    "name: golden\nseed: 3\n"
    "models:\n  - {name: mlp, host: null, shape: {inputs: 16, hidden: 32, layers: 2, classes: 10}}\n"
    "eval: {samples: 300, batch: 100}\n"
    "experiments:\n  - {name: w, model: mlp, groups: [{target: weight, op: flip, count: 3}], trials: 4}\n";

#define NNFI_CHECK_FAIL() MPI_Abort(MPI_COMM_WORLD, 1)
#include "nnfi_test.h"

int main(int argc, char **argv)
{
    int rank = -1;
    nnfi_comm *comm = NULL;
    if (nnfi_comm_init(nnfi_registry_comm(), &argc, &argv, &comm) != NNFI_OK) return 1;
    rank = nnfi_comm_rank(comm);
    nnfi_test_tag("rank %d ", rank);
    CHECK(nnfi_comm_size(comm) == 2);
    nnfi_campaign *c = NULL;
    nnfi_worker *w = NULL;
    nnfi_plan *p = NULL;
    CHECK(nnfi_campaign_load_text(campaign, strlen(campaign), "golden.yaml", &c) == NNFI_OK);
    CHECK(nnfi_worker_create(c, NULL, rank, &w) == NNFI_OK);
    CHECK(nnfi_worker_plan(w, &p) == NNFI_OK);
    int on_gpu = 0, device = -1;
    CHECK(nnfi_golden_prepare(c, w, &on_gpu, &device) == NNFI_OK);
    CHECK(on_gpu == 0 && device == -1);
    nnfi_model_facts f;
    CHECK(nnfi_worker_model_facts(w, 0, &f) == NNFI_OK);
    size_t n = (size_t)f.samples * f.classes;
    float *mine = malloc(n * sizeof *mine), *zero = malloc(n * sizeof *zero);
    CHECK(mine && zero);
    memcpy(zero, f.golden_logits, n * sizeof *zero);
    MPI_Bcast(zero, (int)n, MPI_FLOAT, 0, MPI_COMM_WORLD); /* rank 0's logits, the reference */
    double acc0 = f.golden_accuracy;
    MPI_Bcast(&acc0, 1, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    if (rank == 1) { /* rank 1's "device" computes other logits: every argmax moves */
        for (size_t i = 0; i < n; i++) mine[i] = (float)((i * 7) % 10) - f.golden_logits[i];
        CHECK(nnfi_worker_set_golden(w, 0, mine) == NNFI_OK);
        CHECK(nnfi_worker_model_facts(w, 0, &f) == NNFI_OK);
        CHECK(memcmp(f.golden_logits, zero, n * sizeof *zero) != 0);
    }
    const char *via = NULL;
    CHECK(nnfi_golden_share(comm, c, w, on_gpu, device, &via) == NNFI_OK);
    CHECK(strcmp(via, "MPI") == 0);
    CHECK(nnfi_worker_model_facts(w, 0, &f) == NNFI_OK);
    CHECK(memcmp(f.golden_logits, zero, n * sizeof *zero) == 0);
    CHECK(f.golden_accuracy == acc0);
    nnfi_worker_destroy(w);
    nnfi_plan_free(p);
    nnfi_campaign_free(c);
    free(mine), free(zero);
    if (rank == 0) printf("ok: rank 1 holds rank 0's golden logits after the share (via %s)\n", via);
    nnfi_comm_finalize(comm);
    return 0;
}
