/* philox_portable.c - helper for test_philox: nnfi_mulhi64 compiled with its
 * portable branch (the one compilers without unsigned __int128 take), so the
 * test can check both branches in one executable. */
#undef __SIZEOF_INT128__
#include "nnfi/philox.h"

uint64_t test_portable_mulhi64(uint64_t a, uint64_t b);

uint64_t test_portable_mulhi64(uint64_t a, uint64_t b) { return nnfi_mulhi64(a, b); }
