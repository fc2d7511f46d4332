/* h5_test_common.h - the campaign and the deterministic row and fault values
 * shared by test_h5_results.c and h5_kill_helper.c; check_h5.py recomputes the
 * same values from the trial index (keep the three in step). */
#ifndef NNFI_H5_TEST_COMMON_H
#define NNFI_H5_TEST_COMMON_H

#include <stdint.h>
#include <string.h>

#include "nnfi/h5_results.h"

/* 2 experiments: a 3-point sweep and a fixed count, 7 trials per point:
 * trials 0-6 N=1, 7-13 N=10, 14-20 N=100 (more than faults_max_n), 21-27. */
static const char h5_test_campaign[] =
    "name: h5test\n"
    "seed: 42\n"
    "models:\n"
    "  - name: mlp\n"
    "    host: null\n"
    "experiments:\n"
    "  - name: sweep\n"
    "    model: mlp\n"
    "    groups:\n"
    "      - target: weight\n"
    "        op: flip\n"
    "    sweep:\n"
    "      faults: [1, 10, 100]\n"
    "    trials: 7\n"
    "  - name: single\n"
    "    model: mlp\n"
    "    groups:\n"
    "      - target: bias\n"
    "        count: 2\n"
    "    trials: 7\n"
    "output:\n"
    "  faults_max_n: 10\n";

#define H5_TEST_TRIALS 28u

/* The row of trial t (done). Returns 0, or -1 when the plan cannot locate t. */
static inline int h5_test_row(const nnfi_plan *p, uint64_t t, nnfi_trial_row *row)
{
    memset(row, 0, sizeof *row);
    uint32_t e, pt;
    uint64_t k;
    if (nnfi_plan_locate(p, t, &e, &pt, &k) != NNFI_OK) return -1;
    row->trial = t;
    row->done = 1;
    row->experiment = e;
    row->point = pt;
    row->trial_in_point = k;
    row->n_faults = e == 0 ? (uint64_t)p->experiments[0].points[pt].x : 2;
    row->accuracy = (double)t / 1000.0;
    row->accuracy_drop = 0.75 - row->accuracy;
    row->sdc = t % 3;
    row->critical_sdc = t % 2;
    row->due_samples = t % 4 == 0;
    row->due = t % 4 == 0;
    row->max_abs_err = (double)t * 0.5;
    row->mean_abs_err = (double)t * 0.25;
    row->status = t % 7 == 6 ? NNFI_TRIAL_FAILED : NNFI_TRIAL_OK;
    row->pattern = (uint8_t)(t % 14); /* every code of NNFI_PATTERN_VALUES */
    row->rank = (int32_t)(t % 2);
    row->device = -1;
    row->wall_s = 0.001 * (double)t;
    return 0;
}

/* Fault i of trial t. */
static inline void h5_test_fault(uint64_t t, uint64_t i, nnfi_fault *f)
{
    memset(f, 0, sizeof *f);
    f->element = t * 100 + i;
    f->mask = 1ull << (i % 32);
    f->value = 0;
    f->site = (uint32_t)(i % 3);
    f->op = NNFI_OP_FLIP;
    f->transient = 0;
    f->scope = 0;
    f->group = 0;
    f->when = -1;
    f->t_first = 0;
    f->t_last = UINT32_MAX;
}

/* Put trial t's faults (n = its row's n_faults; lists over faults_max_n are
 * ignored by the writer). */
static inline nnfi_status h5_test_put_faults(nnfi_h5_results *r, const nnfi_trial_row *row)
{
    nnfi_fault f[100];
    uint64_t n = row->n_faults > 100 ? 100 : row->n_faults;
    for (uint64_t i = 0; i < n; i++) h5_test_fault(row->trial, i, &f[i]);
    return nnfi_h5_put_faults(r, row->trial, f, (size_t)n);
}

#endif
