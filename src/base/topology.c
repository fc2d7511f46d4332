/* topology.c - local rank and device choice for GPU ranks (see topology.h). */
#include "nnfi/topology.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int local_rank_set = -1;
static const char *local_source = "none";
static int world_rank_seen;
static int logged;

static const char *const env_names[] = {"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID", "MPI_LOCALRANKID",
                                        "PMI_LOCAL_RANK", "PMIX_LOCAL_RANK"};

int nnfi_topology_env_local_rank(const char *(*get)(const char *name), const char **source)
{
    if (source) *source = "none";
    for (size_t i = 0; i < sizeof env_names / sizeof env_names[0]; i++) {
        const char *v = get(env_names[i]);
        if (!v || !*v) continue;
        char *end = NULL;
        long r = strtol(v, &end, 10);
        if (*end != '\0' || r < 0 || r > 1 << 20) continue;
        if (source) *source = env_names[i];
        return (int)r;
    }
    return -1;
}

void nnfi_topology_set_local_rank(int local_rank, const char *source, int world_rank)
{
    local_rank_set = local_rank < 0 ? 0 : local_rank;
    local_source = source ? source : "none";
    world_rank_seen = world_rank;
}

int nnfi_topology_local_rank(void) { return local_rank_set < 0 ? 0 : local_rank_set; }

int nnfi_topology_device(int visible) { return visible <= 0 ? -1 : nnfi_topology_local_rank() % visible; }

void nnfi_topology_log_once(int device, int visible)
{
    if (logged) return;
    logged = 1;
    char host[256] = "?";
    if (gethostname(host, sizeof host - 1) != 0) host[0] = '?', host[1] = '\0';
    host[sizeof host - 1] = '\0';
    const char *cvd = getenv("CUDA_VISIBLE_DEVICES");
    fprintf(stderr, "nnfi: rank %d (local rank %d from %s) on %s -> cuda:%d of %d visible (CUDA_VISIBLE_DEVICES=%s)\n",
            world_rank_seen, nnfi_topology_local_rank(), local_source, host, device, visible, cvd ? cvd : "unset");
}
