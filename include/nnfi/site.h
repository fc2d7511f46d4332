/* site.h - sites: the places a fault can land, as a model host reports them.
 *
 * A site is a named parameter or buffer (its elements live in memory the host
 * owns), a layer output (activation), the model input, or recurrent state of
 * an SNN. For activation, input and state sites `numel` counts the elements of
 * ONE eval sample (the shape without the batch dimension); the engine applies
 * a fault to every sample of a call or to one sample (transient, scope sample).
 *
 * Site tables are owned by the model host; everyone else borrows them for the
 * lifetime of the open model.
 */
#ifndef NNFI_SITE_H
#define NNFI_SITE_H

#include <stdint.h>

#include "nnfi/fault_bits.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NNFI_SITE_NAME_MAX 160
#define NNFI_SITE_MAX_DIMS 8

typedef enum nnfi_site_kind {
    NNFI_SITE_PARAM = 0,      /* a parameter (weight, bias, quantized weight) */
    NNFI_SITE_BUFFER = 1,     /* a buffer (running stats, quantization scale/zero point) */
    NNFI_SITE_ACTIVATION = 2, /* a layer's output, per forward call */
    NNFI_SITE_INPUT = 3,      /* the model input, per forward call */
    NNFI_SITE_STATE = 4       /* recurrent state (membrane potential), per time step */
} nnfi_site_kind;

typedef struct nnfi_site {
    char name[NNFI_SITE_NAME_MAX]; /* stable: module path + role, e.g. "fc1.weight", "fc1.out" */
    nnfi_site_kind kind;
    nnfi_dtype dtype;
    int ndim;                          /* of one sample for activation/input/state */
    int64_t shape[NNFI_SITE_MAX_DIMS];
    uint64_t numel;                    /* product of shape */
    void *data;                        /* PARAM/BUFFER: host memory of the elements; else NULL */
    int device;                        /* -1: host memory; >= 0: CUDA device ordinal */
} nnfi_site;

const char *nnfi_site_kind_name(nnfi_site_kind k);

#ifdef __cplusplus
}
#endif
#endif /* NNFI_SITE_H */
