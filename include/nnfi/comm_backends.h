/* comm_backends.h - the comm plug-ins' entry points. Only the registry
 * (src/registry/) names them; everything else asks the registry. */
#ifndef NNFI_COMM_BACKENDS_H
#define NNFI_COMM_BACKENDS_H

#include "nnfi/comm.h"

#ifdef __cplusplus
extern "C" {
#endif

const nnfi_comm_backend *nnfi_comm_mpi(void);  /* src/plugins/comm_mpi (builds with MPI) */
const nnfi_comm_backend *nnfi_comm_self(void); /* src/plugins/comm_self (one process) */

#ifdef __cplusplus
}
#endif
#endif /* NNFI_COMM_BACKENDS_H */
