/* fuzz_config.c - fuzz entry for the campaign loader (nnfi_campaign_load_text).
 *
 * One function, LLVMFuzzerTestOneInput(), built two ways:
 *   - with clang -fsanitize=fuzzer,address,undefined by run_fuzz.sh (libFuzzer
 *     supplies main() and mutates inputs);
 *   - with the project's compiler and replay_main.c as `fuzz_config_replay`, a
 *     CTest test that replays the seed corpus and the regressions (plus a few
 *     deterministic mutations of each) in every build, the asan preset included.
 *
 * The contract it enforces (abort() on any breach, so both drivers report it):
 *   - success: a campaign comes back, its defaults are filled, its text is the
 *     input, and a later error about one of its fields is located (FILE:L:C);
 *     it is then freed (leaks show under ASan/LeakSanitizer);
 *   - failure: no campaign comes back, the status is NNFI_E_CONFIG, and the
 *     message is "fuzz.yaml:LINE:COL: PATH: problem\n  hint: ..." with
 *     1 <= LINE, COL <= input size + 1 - every rejection has a position (an
 *     empty input is located at 1:1). The one exception is NNFI_E_NOMEM: an
 *     allocation failure has no position, and the loader never makes one up;
 *   - the loader's own checks (pass 2) and libcyaml (pass 3) never disagree:
 *     NNFI_E_BACKEND (libcyaml refused what pass 2 accepted) is a bug. The
 *     status, not the message, tells: messages quote the input, which the
 *     fuzzer controls.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nnfi/config.h"

#define FUZZ_NAME "fuzz.yaml"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void breach(const char *what, const char *msg, size_t size)
{
    fprintf(stderr, "fuzz_config: contract breach: %s\n  input: %zu bytes\n  message: %s\n", what, size,
            msg ? msg : "(none)");
    abort();
}

/* "fuzz.yaml:LINE:COL: " at the start of msg, with both numbers in [1, limit]. */
static int has_position(const char *msg, size_t limit)
{
    size_t n = strlen(FUZZ_NAME);
    if (strncmp(msg, FUZZ_NAME ":", n + 1) != 0) return 0;
    const char *p = msg + n + 1;
    for (int field = 0; field < 2; field++) {
        unsigned long long v = 0;
        const char *start = p;
        while (*p >= '0' && *p <= '9' && p - start < 12) v = v * 10 + (unsigned long long)(*p++ - '0');
        if (p == start || *p != ':' || v < 1 || v > limit) return 0;
        p++;
    }
    return *p == ' ';
}

static void check_loaded(const nnfi_campaign *c, const uint8_t *data, size_t size)
{
    if (!c) breach("NNFI_OK without a campaign", NULL, size);
    if (!c->name || !c->eval || !c->output || !c->output->path || !c->eval->images || !c->eval->labels)
        breach("a default was not filled", c->name, size);
    if (!c->source_text || memcmp(c->source_text, data, size) != 0 || c->source_text[size] != '\0')
        breach("source_text is not the input", NULL, size);
    if (c->models_count < 1 || c->experiments_count < 1 || !c->models || !c->experiments)
        breach("a campaign without models or experiments", NULL, size);
    for (unsigned i = 0; i < c->experiments_count; i++) {
        const nnfi_experiment_cfg *x = &c->experiments[i];
        unsigned m = 0;
        while (m < c->models_count && strcmp(c->models[m].name, x->model) != 0) m++;
        if (m == c->models_count) breach("an experiment names no model", x->name, size);
        if (x->groups_count < 1 || x->groups_count > NNFI_MAX_GROUPS) breach("group count out of range", x->name, size);
        for (unsigned g = 0; g < x->groups_count; g++)
            if (!x->groups[g].name || !x->groups[g].bits) breach("a group default was not filled", x->name, size);
    }
    /* A later error (as the plan or a host reports it) is located in the file. */
    nnfi_campaign_error(c, NNFI_E_CONFIG, "experiments[0].groups[0].sites", "probe");
    if (!has_position(nnfi_error_message(), size + 1))
        breach("nnfi_campaign_error without a position", nnfi_error_message(), size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    nnfi_campaign *c = (nnfi_campaign *)(uintptr_t)1; /* must become NULL on failure */
    nnfi_error_clear();
    nnfi_status st = nnfi_campaign_load_text((const char *)data, size, FUZZ_NAME, &c);
    if (st == NNFI_OK) {
        check_loaded(c, data, size);
        nnfi_campaign_free(c);
        return 0;
    }
    const char *msg = nnfi_error_message();
    if (c != NULL) breach("a failed load returned a campaign", msg, size);
    if (st == NNFI_E_NOMEM) return 0; /* documented: no position for an allocation failure */
    if (st == NNFI_E_BACKEND) breach("pass 2 accepted what libcyaml refused", msg, size);
    if (st != NNFI_E_CONFIG) breach("a rejection that is not NNFI_E_CONFIG", msg, size);
    if (!has_position(msg, size + 1)) breach("a rejection without FILE:LINE:COL", msg, size);
    if (!strstr(msg, "\n  hint: ")) breach("a rejection without a hint", msg, size);
    return 0;
}
