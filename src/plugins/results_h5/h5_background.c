/* h5_background.c - the background writer of nnfi_h5_checkpoint_async()
 * (nnfi/h5_results.h): a thread that appends queued checkpoints to the
 * journal and folds it when due, so rank 0's coordinator pays only the
 * hand-over of its buffers.
 *
 * A queued checkpoint is a copy of the writer struct (same path, plan and
 * journal state `js`) that owns the buffers the caller had filled: the
 * caller's writer gets empty ones and goes on. The thread runs the jobs in
 * order through append_checkpoint() (h5_writer.c), the same code a sync
 * checkpoint runs. On a failure the thread stops taking jobs: the failed one
 * and those after it stay queued, the next call on the caller's side returns
 * the failure, and bg_stop() (close) retries them on the caller's thread.
 * While jobs are queued only the thread touches `js` and HDF5. */
#include "h5_writer.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BG_MAX_QUEUED 2

typedef struct bg_job {
    nnfi_h5_results w; /* the writer's copy owning one checkpoint's buffers */
    uint64_t n_done;
    struct bg_job *next;
} bg_job;

struct bg_writer {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bg_job *head, *tail;
    int queued;    /* jobs in the list, the running one included */
    int quit;
    int failed;    /* the thread stopped on a failure: message in msg */
    nnfi_status st;
    char msg[4096];
};

static void job_free(bg_job *j)
{
    if (!j) return;
    for (size_t i = 0; i < j->w.n_cols; i++) free(j->w.col[i]);
    free(j->w.col);
    free(j->w.trials);
    free(j->w.faults);
    free(j);
}

static void *bg_main(void *arg)
{
    struct bg_writer *b = arg;
    pthread_mutex_lock(&b->mu);
    for (;;) {
        while (!b->quit && (!b->head || b->failed)) pthread_cond_wait(&b->cv, &b->mu);
        if (b->quit && (!b->head || b->failed)) break;
        bg_job *j = b->head;
        pthread_mutex_unlock(&b->mu);
        nnfi_status st = append_checkpoint(&j->w, j->n_done);
        pthread_mutex_lock(&b->mu);
        if (st != NNFI_OK) {
            b->failed = 1;
            b->st = st;
            snprintf(b->msg, sizeof b->msg, "%s", nnfi_error_message());
        } else {
            b->head = j->next;
            if (!b->head) b->tail = NULL;
            b->queued--;
            job_free(j);
        }
        pthread_cond_broadcast(&b->cv);
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

static nnfi_status failure(struct bg_writer *b)
{
    return NNFI_FAIL(b->st, "%s", b->msg);
}

nnfi_status bg_enqueue(nnfi_h5_results *r)
{
    if (!r->bg) {
        struct bg_writer *b = calloc(1, sizeof *b);
        if (!b) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory starting the background writer of %s", r->path);
        pthread_mutex_init(&b->mu, NULL);
        pthread_cond_init(&b->cv, NULL);
        if (pthread_create(&b->th, NULL, bg_main, b) != 0) {
            pthread_mutex_destroy(&b->mu);
            pthread_cond_destroy(&b->cv);
            free(b);
            return nnfi_h5_checkpoint(r); /* no thread: checkpoint here */
        }
        r->bg = b;
    }
    struct bg_writer *b = r->bg;
    bg_job *j = calloc(1, sizeof *j);
    uint8_t **fresh = calloc(r->n_cols, sizeof *fresh);
    if (!j || !fresh) {
        free(j);
        free(fresh);
        return NNFI_FAIL(NNFI_E_NOMEM, "out of memory queueing a checkpoint of %s", r->path);
    }
    pthread_mutex_lock(&b->mu);
    while (b->queued >= BG_MAX_QUEUED && !b->failed) pthread_cond_wait(&b->cv, &b->mu);
    int failed = b->failed;
    pthread_mutex_unlock(&b->mu);
    if (failed) {
        free(j);
        free(fresh);
        return failure(b);
    }
    /* the job takes the buffers; the writer starts empty ones */
    r->checkpoints++;
    j->w = *r;
    j->w.bg = NULL;
    j->n_done = r->n_done;
    r->col = fresh;
    r->trials = NULL;
    r->faults = NULL;
    r->n_rows = r->cap_rows = 0;
    r->n_faults = r->cap_faults = 0;
    pthread_mutex_lock(&b->mu);
    if (b->tail) b->tail->next = j;
    else b->head = j;
    b->tail = j;
    b->queued++;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
    return NNFI_OK;
}

nnfi_status bg_drain(nnfi_h5_results *r)
{
    struct bg_writer *b = r->bg;
    if (!b) return NNFI_OK;
    pthread_mutex_lock(&b->mu);
    while (b->head && !b->failed) pthread_cond_wait(&b->cv, &b->mu);
    int failed = b->failed;
    pthread_mutex_unlock(&b->mu);
    return failed ? failure(b) : NNFI_OK;
}

nnfi_status bg_stop(nnfi_h5_results *r)
{
    struct bg_writer *b = r->bg;
    if (!b) return NNFI_OK;
    pthread_mutex_lock(&b->mu);
    b->quit = 1;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
    pthread_join(b->th, NULL);
    r->bg = NULL;
    /* what a failure left queued: retried here, in order, once */
    nnfi_status st = NNFI_OK;
    for (bg_job *j = b->head, *next; j; j = next) {
        next = j->next;
        if (st == NNFI_OK) {
            st = append_checkpoint(&j->w, j->n_done);
            if (st != NNFI_OK) r->checkpoints = j->w.checkpoints - 1; /* the journal ends before this one */
        }
        job_free(j);
    }
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->cv);
    free(b);
    return st;
}
