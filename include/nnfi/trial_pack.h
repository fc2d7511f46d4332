/* trial_pack.h - cross-trial packing: trials whose faults each hit one eval
 * sample (transient, scope sample, on activation, input or state sites)
 * share forward calls, each row carrying only its own trial's faults.
 *
 * Exactness. A packed call has the shape of an eval batch (batch rows, or the
 * last, shorter batch's rows) and row r holds an eval sample that sits at row
 * r of its own batch, so every row sees the same kernels at the same
 * position as in the full evaluation; rows nobody needs hold the golden
 * inputs of a batch of that shape. This is exact when the model's rows are
 * independent (no operation mixes samples, as in inference); the worker
 * checks that at golden time (nnfi_pack_rows_independent) and packs nothing
 * for a model that fails. A sample's faults keep their list order (they are
 * the same faults with `when` renamed to the row). Samples no fault reaches
 * keep their golden logits (nnfi_outcome_sparse). A packed call that fails
 * (a hook or forward error) is redone trial by trial, so every trial gets its
 * own status.
 *
 * Which faults pack: transient faults with scope sample on activation, input
 * and state sites. Transient faults with scope call and transient parameter
 * faults change a whole call (evaluated per trial, only that call);
 * permanent faults change every call (evaluated per trial, every call, from
 * the latest cut before their sites).
 */
#ifndef NNFI_TRIAL_PACK_H
#define NNFI_TRIAL_PACK_H

#include <stddef.h>
#include <stdint.h>

#include "nnfi/trial_pass.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One trial to pack: its faults (borrowed; all must pack, see
 * nnfi_fault_packs) and its result (written). */
typedef struct nnfi_pack_trial {
    const nnfi_fault *faults;
    uint64_t n;
    nnfi_pass_result result;
} nnfi_pack_trial;

/* Does fault f hit one sample's row only (so it packs)? */
int nnfi_fault_packs(const nnfi_fault *f, const nnfi_site *sites);

/* Evaluate trials[0..n) in packed calls (m->golden, m->golden_self set; the
 * cache used where m->cache gives a cut). Returns an error only for what
 * ends the run (out of memory, a failed restore); a trial's own failure is
 * its result's forward_status. */
nnfi_status nnfi_pack_pass(const nnfi_pass_model *m, nnfi_pack_trial *trials, size_t n);

/* The golden-time check that packing is exact for this model: forwards of
 * the first batch's shape whose even (then odd) rows hold that batch's
 * samples and whose other rows hold other samples must give the golden
 * logits on the kept rows bit for bit. *ok = 1 when both do. */
nnfi_status nnfi_pack_rows_independent(const nnfi_pass_model *m, int *ok);

/* For tests that prove the equivalence checks can fail: nonzero when the
 * environment variable NNFI_SABOTAGE names `what` ("pack": a packed fault
 * lands on the neighbouring row; "calls": a trial skips the last call its
 * faults reach; "cut": forwards start at the last kept cut, past the faulted
 * sites; "drop": fault dropping checks a site before the faults). Never set
 * it for real campaigns. */
int nnfi_shortcut_sabotage(const char *what);

#ifdef __cplusplus
}
#endif
#endif /* NNFI_TRIAL_PACK_H */
