/* golden_sync.h - every rank compares its trials against the SAME golden
 * logits: rank 0's, broadcast at the start of `nnfi run`.
 *
 * On CPUs every rank computes bit-identical golden logits anyway; on GPUs of
 * different models (or drivers) they may differ in the last bits, and a trial
 * would then count as an SDC or not depending on where it ran. Broadcasting
 * rank 0's logits (which is also what the result file stores) removes that.
 * Transport: NCCL when the build has it, every rank's models are on a GPU,
 * and NNFI_NCCL is not "0"; else MPI. Both move the same bytes.
 *
 * Two steps, so that no rank enters a collective another rank will never
 * reach: prepare (local: open the used models, golden run) on every rank, the
 * caller checks that all ranks succeeded, then share (collective).
 */
#ifndef NNFI_CAMPAIGN_GOLDEN_SYNC_H
#define NNFI_CAMPAIGN_GOLDEN_SYNC_H

#include "nnfi/comm.h"
#include "nnfi/config.h"
#include "nnfi/worker.h"

/* Local. *on_gpu = 1 when every used model of this rank lives on a GPU. */
nnfi_status nnfi_golden_prepare(const nnfi_campaign *c, nnfi_worker *w, int *on_gpu, int *device);

/* Collective over all ranks. *via receives "MPI", "NCCL" or "none" (one rank). */
nnfi_status nnfi_golden_share(nnfi_comm *comm, const nnfi_campaign *c, nnfi_worker *w, int on_gpu, int device,
                              const char **via);

#endif /* NNFI_CAMPAIGN_GOLDEN_SYNC_H */
