/* eval_set.h - the evaluation set of a campaign in memory: fp32 inputs and
 * int32 labels, loaded once per rank from an HDF5 file (or made by a host's
 * builtin_eval). The HDF5 loader is src/plugins/results_h5/eval_h5.c.
 *
 * Lifecycle: nnfi_eval_load() -> read-only use -> nnfi_eval_free(). The set
 * owns its arrays.
 */
#ifndef NNFI_EVAL_SET_H
#define NNFI_EVAL_SET_H

#include <stdint.h>

#include "nnfi/fault_bits.h" /* nnfi_dtype */
#include "nnfi/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nnfi_eval_set {
    float *inputs;        /* samples x numel, C order (token ids and fp16 values are exact in fp32) */
    int32_t *labels;      /* samples x positions */
    uint64_t samples;
    uint32_t positions;   /* labels per sample: 1 ([N] labels), T ([N, T]: a class per position); 0 read as 1 */
    nnfi_dtype input_dtype; /* what the model takes: fp32, fp16, bf16 or int64 (token ids) */
    uint64_t numel;       /* elements per sample */
    int ndim;             /* of one sample */
    int64_t shape[8];
} nnfi_eval_set;

/* Load datasets `images` (any float or integer type, converted to fp32;
 * first dimension = samples) and `labels` (an integer type: [N], one per
 * sample, or [N, T], one per output position) from `path`; keep the first
 * `max_samples` (0 = all). The model's input dtype comes from the images: a
 * `dtype` attribute (float32, float16, bfloat16, int64), else fp16 for
 * 16-bit floats, int64 for signed 64-bit integers (token ids, refused past
 * 2^24 where fp32 is no longer exact), fp32 otherwise. Refused, with the
 * file and dataset named and what was expected: images of another type
 * class (strings, compound records, enums...), labels that are not integers
 * (floats: store int64), a label out of int32's range (index and value), a
 * label count other than the image count, an empty set. Labels in
 * [0, classes) and finite golden logits are the caller's checks (the worker
 * knows the model). */
nnfi_status nnfi_eval_load(const char *path, const char *images, const char *labels, uint64_t max_samples,
                           nnfi_eval_set *out);

void nnfi_eval_free(nnfi_eval_set *e);

/* A copy of model config *mc with input_ndim/input_shape set to the
 * per-sample shape of the campaign's eval images and input_dtype to their
 * dtype (as nnfi_eval_load decides it) (the dataset's dimensions
 * after the first), read from the file's metadata without loading it. No
 * eval file, or one that cannot be read (nnfi_eval_load reports that later,
 * located): the copy says 0 (unknown). The copy borrows mc's strings. */
struct nnfi_campaign;
struct nnfi_model_cfg;
void nnfi_eval_model_cfg(const struct nnfi_campaign *c, const struct nnfi_model_cfg *mc, struct nnfi_model_cfg *out);

#ifdef __cplusplus
}
#endif
#endif /* NNFI_EVAL_SET_H */
