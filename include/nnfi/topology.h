/* topology.h - which GPU each rank drives.
 *
 * device = local rank modulo the devices this process sees. The local rank
 * (rank among the processes on this node) comes from the launcher's
 * environment: OMPI_COMM_WORLD_LOCAL_RANK (Open MPI), SLURM_LOCALID (srun),
 * MPI_LOCALRANKID (MPICH/Hydra), PMI_LOCAL_RANK / PMIX_LOCAL_RANK; when none is
 * set, the communication layer computes it by splitting the world by host
 * name and calls nnfi_topology_set_local_rank(). This works both with one GPU
 * per task (CUDA_VISIBLE_DEVICES narrowed by Slurm: 1 visible, device 0) and
 * with all GPUs visible to every task (device = local rank mod count).
 *
 * Process-wide state, set once by `nnfi run` before any model opens; model
 * hosts read it when they place a model on a GPU and log the choice once.
 */
#ifndef NNFI_TOPOLOGY_H
#define NNFI_TOPOLOGY_H

#ifdef __cplusplus
extern "C" {
#endif

/* The local rank named by the launcher's environment, looked up through
 * get(name) (pass getenv; tests pass a table), or -1 when none is set or
 * none parses as a non-negative integer. *source receives the variable's
 * name (static storage) or "none". */
int nnfi_topology_env_local_rank(const char *(*get)(const char *name), const char **source);

/* Record this process's local rank, how it was found, and its world rank
 * (for the log line). */
void nnfi_topology_set_local_rank(int local_rank, const char *source, int world_rank);

/* This process's local rank (0 when never set: one process). */
int nnfi_topology_local_rank(void);

/* The device for `visible` devices: local rank mod visible (-1 if visible <= 0). */
int nnfi_topology_device(int visible);

/* Log "nnfi: rank R (local L from SOURCE) on HOST -> cuda:D of N visible
 * (CUDA_VISIBLE_DEVICES=...)" to stderr, once per process. */
void nnfi_topology_log_once(int device, int visible);

#ifdef __cplusplus
}
#endif
#endif /* NNFI_TOPOLOGY_H */
