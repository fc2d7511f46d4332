/* test_dispatch.c - the dispatcher: every trial handed out exactly once,
 * guided range sizes, resume skips done trials, and stopping rules cut a
 * point at the same trial whatever the number of ranks and the order in
 * which results come back. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "nnfi/dispatch.h"
#include "nnfi/philox.h"

static const char *campaign_text =
    "seed: 3\n"
    "models: [{name: m, host: null}]\n"
    "experiments:\n"
    "  - name: fixed\n"
    "    model: m\n"
    "    groups: [{target: weight}]\n"
    "    sweep: {faults: [1, 2]}\n"
    "    trials: 50\n"
    "  - name: stopped\n"
    "    model: m\n"
    "    groups: [{target: weight}]\n"
    "    sweep: {faults: [1, 10]}\n"
    "    stop: {watch: sdc, width: 0.25, min: 8, max: 300}\n";

/* the "outcome" of a trial: an SDC with probability ~1/3, from the index */
static void fake_row(uint64_t trial, nnfi_trial_row *row)
{
    memset(row, 0, sizeof *row);
    row->trial = trial;
    row->done = 1;
    nnfi_philox_ctr c = {{(uint32_t)trial, 0, 0, 0}};
    nnfi_philox_key k = {{99, 0}};
    row->sdc = nnfi_philox4x32_10(c, k).v[0] % 3 == 0;
}

/* Run the whole campaign with `ranks` simulated ranks that finish their
 * ranges in a scrambled order; returns the executed mask (caller frees). */
static uint8_t *simulate(const nnfi_campaign *c, const nnfi_plan *p, int ranks, uint32_t scramble,
                         const uint8_t *pre_done)
{
    nnfi_dispatch *d = NULL;
    assert_int_equal(nnfi_dispatch_create(c, p, ranks, 0, 1, &d), NNFI_OK);
    uint8_t *ran = calloc(p->total_trials, 1);
    for (uint64_t i = 0; pre_done && i < p->total_trials; i++)
        if (pre_done[i]) {
            nnfi_trial_row r;
            fake_row(i, &r);
            nnfi_dispatch_finished(d, &r);
            ran[i] = 1;
        }
    /* in-flight ranges, one slot per rank */
    uint64_t lo[16] = {0}, hi[16] = {0};
    uint32_t step = 0;
    for (;;) {
        int busy = 0, ended = 0;
        for (int r = 0; r < ranks; r++) {
            if (lo[r] == hi[r]) {
                nnfi_next nx = nnfi_dispatch_next(d, r == 0 ? 4 : 1, &lo[r], &hi[r]);
                if (nx == NNFI_NEXT_END) ended++;
            }
            busy += lo[r] < hi[r];
        }
        if (!busy) {
            assert_true(ended == ranks); /* nobody busy and something waiting would be a deadlock */
            break;
        }
        /* finish one trial of a pseudo-randomly chosen busy rank */
        nnfi_philox_ctr cc = {{step++, scramble, 0, 0}};
        nnfi_philox_key kk = {{1, 2}};
        int pick = (int)(nnfi_philox4x32_10(cc, kk).v[0] % (uint32_t)ranks);
        while (lo[pick] == hi[pick]) pick = (pick + 1) % ranks;
        nnfi_trial_row row;
        fake_row(lo[pick], &row);
        assert_int_equal(ran[lo[pick]], 0); /* never handed out twice */
        ran[lo[pick]] = 1;
        nnfi_dispatch_finished(d, &row);
        lo[pick]++;
    }
    nnfi_dispatch_destroy(d);
    return ran;
}

static void test_ranks_and_order_do_not_matter(void **state)
{
    (void)state;
    nnfi_campaign *c = NULL;
    assert_int_equal(nnfi_campaign_load_text(campaign_text, strlen(campaign_text), "t.yaml", &c), NNFI_OK);
    nnfi_plan *p = NULL;
    assert_int_equal(nnfi_plan_create(c, NULL, &p), NNFI_OK);
    assert_int_equal(p->total_trials, 100 + 600);
    uint8_t *ref = simulate(c, p, 1, 0, NULL);
    uint64_t n_ref = 0, stopped0 = 0, stopped1 = 0;
    for (uint64_t i = 0; i < p->total_trials; i++) n_ref += ref[i];
    for (uint64_t i = 100; i < 400; i++) stopped0 += ref[i];
    for (uint64_t i = 400; i < 700; i++) stopped1 += ref[i];
    for (uint64_t i = 0; i < 100; i++) assert_int_equal(ref[i], 1); /* fixed budget: all */
    /* the rule cut both points early, at a multiple of min */
    assert_true(stopped0 > 8 && stopped0 < 300 && stopped0 % 8 == 0);
    assert_true(stopped1 > 8 && stopped1 < 300 && stopped1 % 8 == 0);
    /* a prefix: the first stopped0 trials ran, none after */
    for (uint64_t i = 100; i < 400; i++) assert_int_equal(ref[i], i < 100 + stopped0);
    for (int ranks = 2; ranks <= 7; ranks += 5)
        for (uint32_t s = 1; s <= 3; s++) {
            uint8_t *ran = simulate(c, p, ranks, s, NULL);
            assert_memory_equal(ran, ref, p->total_trials);
            free(ran);
        }
    /* resume: whatever was done before, the same trials end up done */
    uint8_t *pre = calloc(p->total_trials, 1);
    for (uint64_t i = 0; i < p->total_trials; i += 3) pre[i] = ref[i];
    uint8_t *ran = simulate(c, p, 3, 9, pre);
    assert_memory_equal(ran, ref, p->total_trials);
    free(ran);
    free(pre);
    free(ref);
    nnfi_plan_free(p);
    nnfi_campaign_free(c);
}

/* Shards partition the trials; a stop-rule point stays in one shard; the
 * union of the shards' trials is the single run's. */
static void test_shards(void **state)
{
    (void)state;
    nnfi_campaign *c = NULL;
    assert_int_equal(nnfi_campaign_load_text(campaign_text, strlen(campaign_text), "t.yaml", &c), NNFI_OK);
    nnfi_plan *p = NULL;
    assert_int_equal(nnfi_plan_create(c, NULL, &p), NNFI_OK);
    uint8_t *ref = simulate(c, p, 1, 0, NULL);
    for (unsigned n = 1; n <= 3; n++) {
        uint8_t *all = calloc(p->total_trials, 1);
        for (unsigned i = 0; i < n; i++) {
            nnfi_dispatch *d = NULL;
            assert_int_equal(nnfi_dispatch_create(c, p, 2, i, n, &d), NNFI_OK);
            uint64_t lo, hi;
            nnfi_next nx;
            while ((nx = nnfi_dispatch_next(d, 1, &lo, &hi)) == NNFI_NEXT_RANGE)
                for (uint64_t t = lo; t < hi; t++) {
                    assert_int_equal(nnfi_shard_of(p, c, t, n), i);
                    assert_int_equal(all[t], 0);
                    all[t] = 1;
                    nnfi_trial_row row;
                    fake_row(t, &row);
                    nnfi_dispatch_finished(d, &row);
                }
            assert_int_equal(nx, NNFI_NEXT_END);
            nnfi_dispatch_destroy(d);
        }
        assert_memory_equal(all, ref, p->total_trials);
        free(all);
    }
    /* a stop-rule point is never split: every trial of point [100, 400) in one shard */
    for (uint64_t t = 100; t < 400; t++) assert_int_equal(nnfi_shard_of(p, c, t, 3), nnfi_shard_of(p, c, 100, 3));
    free(ref);
    nnfi_plan_free(p);
    nnfi_campaign_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_ranks_and_order_do_not_matter),
                                       cmocka_unit_test(test_shards)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
