/* leak_control.c - the control for the valgrind tests: proof that the harness
 * can fail. It initialises MPI as nnfi does (so nnfi.supp's Open MPI entries
 * apply), then loses one malloc'd block from its own frame; valgrind with the
 * same options and suppressions must report it and exit 1 (the CTest checks both). */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *volatile lost; /* volatile: the stores (and the malloc) stay */

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    char *p = malloc(64);
    if (!p) return 2;
    strcpy(p, "definitely lost");
    lost = p;
    lost = NULL; /* the only pointer is gone: a definite leak */
    MPI_Finalize();
    printf("leak_control: leaked 64 bytes on purpose\n");
    return 0;
}
