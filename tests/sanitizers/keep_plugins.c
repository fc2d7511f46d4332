/* keep_plugins.c - libnnfi_keep_plugins.so, preloaded (LD_PRELOAD) into
 * the test processes of the sanitizer build only (CMakePresets.json, test
 * preset `asan`): a dlclose() that keeps every library mapped. Open MPI and
 * PMIx unload their plugins (mca_*.so) in MPI_Finalize, before
 * LeakSanitizer runs at exit; the allocations those plugins still
 * hold then have stacks in "<unknown module>", which no suppression can
 * name (tests/sanitizers/lsan.supp names Open MPI's libraries, never nnfi's
 * frames). Preloaded, it takes precedence over libc's for every library of
 * the process. Nothing in nnfi unloads code. Try it alone:
 *   LD_PRELOAD=build-asan/tests/sanitizers/libnnfi_keep_plugins.so \
 *   ASAN_OPTIONS=verify_asan_link_order=0 build-asan/src/nnfi run ... */
#include <stddef.h>

int dlclose(void *handle);

int dlclose(void *handle)
{
    (void)handle;
    return 0;
}
