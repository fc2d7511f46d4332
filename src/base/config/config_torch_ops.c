/* config_torch_ops.c - checks models[].ops and models[].fused (pass 3): the
 * operator kinds a torch model's activation sites follow.
 *
 * An entry is "default" (the host's built-in list), "NS::NAME" (a TorchScript
 * node kind, e.g. aten::softmax, quantized::linear) or "NAME" (= aten::NAME).
 * Names of the namespaces aten and quantized must be in torch_op_names.inc
 * (generated from torch 1.13's operator registry by
 * scripts/gen/torch_op_names.py): a misspelt one is refused here with its
 * line and column and the nearest names as a hint. Other namespaces (prim,
 * custom operators) are only checked for their spelling; the host checks
 * every name again against its own libtorch when it opens the model.
 */
#include "config_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const known_ops[] = {
#include "torch_op_names.inc"
};

static int cmp_name(const void *key, const void *elem)
{
    return strcmp((const char *)key, *(const char *const *)elem);
}

static int is_ident(const char *s, size_t n)
{
    if (n == 0 || (s[0] >= '0' && s[0] <= '9')) return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_'))
            return 0;
    }
    return 1;
}

/* Levenshtein distance of a and b, capped at cap + 1 (names are short). */
static unsigned distance(const char *a, const char *b, unsigned cap)
{
    size_t na = strlen(a), nb = strlen(b);
    if (na > 127 || nb > 127) return cap + 1;
    unsigned row[128];
    for (size_t j = 0; j <= nb; j++) row[j] = (unsigned)j;
    for (size_t i = 1; i <= na; i++) {
        unsigned diag = row[0], best = row[0] = (unsigned)i;
        for (size_t j = 1; j <= nb; j++) {
            unsigned up = row[j];
            unsigned v = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < v) v = up + 1;
            if (row[j - 1] + 1 < v) v = row[j - 1] + 1;
            row[j] = v;
            diag = up;
            if (v < best) best = v;
        }
        if (best > cap) return cap + 1;
    }
    return row[nb];
}

int nnfi_torch_op_known(const char *qualified)
{
    return bsearch(qualified, known_ops, N_OF(known_ops), sizeof known_ops[0], cmp_name) != NULL;
}

/* Up to three known names nearest to `qualified` (edit distance <= 3, or
 * sharing its name as a prefix), "; did you mean a, b?" or "". */
static void suggest(const char *qualified, char *out, size_t n)
{
    const char *best[3] = {NULL, NULL, NULL};
    unsigned dist[3] = {99, 99, 99};
    const char *colon = strstr(qualified, "::");
    const char *leaf = colon ? colon + 2 : qualified;
    for (size_t i = 0; i < N_OF(known_ops); i++) {
        const char *k = known_ops[i];
        const char *kc = strstr(k, "::");
        unsigned d = distance(qualified, k, 3);
        if (d > 3 && kc && strlen(leaf) >= 3 && strncmp(kc + 2, leaf, strlen(leaf)) == 0) d = 3;
        for (int s = 0; s < 3; s++)
            if (d < dist[s]) {
                for (int t = 2; t > s; t--) best[t] = best[t - 1], dist[t] = dist[t - 1];
                best[s] = k, dist[s] = d;
                break;
            }
    }
    out[0] = '\0';
    if (!best[0] || dist[0] > 3) return;
    size_t used = (size_t)snprintf(out, n, "did you mean");
    for (int s = 0; s < 3 && best[s] && dist[s] <= 3 && used < n; s++)
        used += (size_t)snprintf(out + used, n - used, "%s %s", s ? "," : "", best[s]);
    if (used < n) snprintf(out + used, n - used, "? ");
}

static nnfi_status fail_op(const nnfi_campaign *c, unsigned mi, unsigned oi, const char *what, const char *hint)
{
    char path[96];
    int line = 1, col = 1;
    snprintf(path, sizeof path, "models[%u].ops[%u]", mi, oi);
    nnfi_cfg_index_find(c->index, path, &line, &col);
    return nnfi_cfg_fail_at(c->source_path, line, col, path, what, hint);
}

nnfi_status nnfi_cfg_check_torch_ops(const nnfi_campaign *c, unsigned mi)
{
    const nnfi_model_cfg *m = &c->models[mi];
    static const char general[] =
        "an entry is 'default' (the built-in list), a TorchScript node kind NS::NAME (aten::softmax, "
        "quantized::linear) or NAME for aten::NAME; `nnfi sites MODEL.pt --ops NAME` shows its sites";
    if (m->host != NNFI_HOST_TORCH) {
        char path[96];
        int line = 1, col = 1;
        snprintf(path, sizeof path, "models[%u].fused", mi);
        int fused = nnfi_cfg_index_has(c->index, path);
        if (m->ops || fused) {
            if (!fused) snprintf(path, sizeof path, "models[%u].ops", mi);
            nnfi_cfg_index_find(c->index, path, &line, &col);
            return nnfi_cfg_fail_at(c->source_path, line, col, path,
                                    fused ? "'fused' only applies to torch models" : "'ops' only apply to torch models",
                                    "remove it from this model, or set 'host: torch'");
        }
        return NNFI_OK;
    }
    for (unsigned i = 0; i < m->ops_count; i++) {
        const char *op = m->ops[i];
        char what[256], hint[768], qualified[160], near[256];
        if (strcmp(op, "default") == 0) continue;
        const char *colon = strstr(op, "::");
        int ok = colon ? is_ident(op, (size_t)(colon - op)) && is_ident(colon + 2, strlen(colon + 2))
                       : is_ident(op, strlen(op));
        if (!ok) {
            snprintf(what, sizeof what, "'%s' is not an operator name", op);
            return fail_op(c, mi, i, what, general);
        }
        snprintf(qualified, sizeof qualified, "%s%s", colon ? "" : "aten::", op);
        int checked = !colon || strncmp(op, "aten::", 6) == 0 || strncmp(op, "quantized::", 11) == 0;
        if (checked && !nnfi_torch_op_known(qualified)) {
            suggest(qualified, near, sizeof near);
            snprintf(what, sizeof what, "unknown operator '%s'", qualified);
            snprintf(hint, sizeof hint, "%s%s", near, general);
            return fail_op(c, mi, i, what, hint);
        }
        for (unsigned j = 0; j < i; j++) {
            char other[160];
            snprintf(other, sizeof other, "%s%s", strstr(m->ops[j], "::") ? "" : "aten::", m->ops[j]);
            if (strcmp(other, qualified) == 0) {
                snprintf(what, sizeof what, "operator '%s' listed twice", qualified);
                return fail_op(c, mi, i, what, "list each operator once");
            }
        }
    }
    return NNFI_OK;
}
