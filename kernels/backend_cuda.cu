/* backend_cuda.cu - the `cuda` injection backend: the table of nnfi/inject.h
 * for models whose tensors live on a GPU, bit-identical to the `cpu` backend.
 *
 * One trial, on one stream (the legacy default stream, which libtorch uses
 * unless told otherwise; nnfi_cuda_injector_set_stream picks another), with
 * no host synchronisation and no device-to-host copy until disarm:
 *   arm:           the fault list reaches the device (copied through a pinned
 *                  buffer, or generated there by arm_generated with the CPU
 *                  sampler's code), every fault gets a key
 *                  (segment_apply.cuh), one stable CUB radix sort orders
 *                  them, and one kernel applies every permanent parameter
 *                  fault, one thread per segment (faults on one element, in
 *                  list order), saving originals.
 *   begin_call:    the previous call's transient parameter faults restored,
 *                  this call's applied (same kernels, class 1 of this call).
 *   on_site:       one launch over the sorted faults x rows; threads heading
 *                  a segment of this site apply it with the faults' filters.
 *   disarm:        restore kernels, then ONE wait with the watchdog's deadline
 *                  (nnfi/watchdog.h) and one 16-byte copy back (applied count,
 *                  error flag), so a failed or hung trial is reported by the
 *                  trial that caused it (NNFI_E_TIMEOUT / NNFI_E_BACKEND).
 * Kernel launches never depend on counts known only on the device: each
 * kernel runs over all n sorted faults and threads check their class.
 *
 * The call order (arm only when disarmed, begin_call/on_site only while
 * armed) is checked by the guard the registry wraps every backend in
 * (src/base/inject_guard.c), not here. What stands for "armed" here is `n`,
 * the faults armed and not yet restored: a failed arm leaves it 0 (nothing
 * applied), and disarm zeroes it before restoring, so a second disarm, and
 * destroy after disarm, have nothing to do.
 */
#include "nnfi/inject.h"

#include <cuda_runtime.h>

#include <cub/device/device_radix_sort.cuh>

#include <new>
#include <stdlib.h>
#include <string.h>

#include "fault_gen.cuh"
#include "inject_apply.cuh" /* nnfi_cuda_stream_wait: the watchdog's wait */
#include "segment_apply.cuh"

#define CUDA_TRY(expr)                                                                                     \
    do {                                                                                                   \
        cudaError_t e_ = (expr);                                                                           \
        if (e_ != cudaSuccess)                                                                             \
            return NNFI_FAIL(NNFI_E_BACKEND, "cuda backend: %s failed: %s\n  hint: check the device (nvidia-smi)", \
                             #expr, cudaGetErrorString(e_));                                               \
    } while (0)

static const unsigned kThreads = 256;
#define MAX_PLANS 64

namespace {

struct DevBuf {
    void *p = nullptr;
    size_t cap = 0;
};

nnfi_status dev_reserve(DevBuf *b, size_t bytes)
{
    if (bytes <= b->cap) return NNFI_OK;
    size_t n = b->cap ? b->cap : 4096;
    while (n < bytes) n *= 2;
    if (b->p) cudaFree(b->p);
    b->p = nullptr;
    b->cap = 0;
    CUDA_TRY(cudaMalloc(&b->p, n));
    b->cap = n;
    return NNFI_OK;
}

/* device counters of one trial */
struct Counters {
    unsigned long long applied;
    unsigned long long invalid;
};

} // namespace

struct nnfi_injector {
    const nnfi_site *sites;
    size_t n_sites;
    int device;
    cudaStream_t stream;
    uint64_t n;            /* faults armed and not yet restored (0: nothing to undo) */
    int64_t cur_call;      /* call whose transient parameter faults are applied, -1 none */
    uint64_t call, first_sample, rows;
    uint64_t applied;      /* read back at disarm */
    int has_transient;     /* any transient fault in this trial (host knowledge, or assumed) */
    nnfi_seg_sites seg;    /* device pointers */
    DevBuf d_table, d_faults, d_keys_in, d_keys, d_vals_in, d_vals, d_saved, d_saved_trans, d_tmp, d_counters;
    void *pinned;
    size_t pinned_cap;
    Counters *h_counters;  /* pinned */
    /* device copies of group plans for arm_generated, by host plan address */
    const nnfi_group_plan *plan_key[MAX_PLANS];
    nnfi_cuda_plan *plan_dev[MAX_PLANS];
    int n_plans;
};

/* ---- layer 1: kernels --------------------------------------------------- */

__global__ void k_keys(nnfi_seg_sites s, const nnfi_fault *f, uint64_t n, uint64_t *keys, uint32_t *vals,
                       Counters *cnt)
{
    uint64_t i = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    uint64_t k = nnfi_seg_key(&s, &f[i]);
    if (k == NNFI_SEG_INVALID) atomicAdd(&cnt->invalid, 1ull);
    keys[i] = k;
    vals[i] = (uint32_t)i;
}

__global__ void k_apply_params(nnfi_seg_sites s, const nnfi_fault *f, const uint64_t *key, const uint32_t *idx,
                               uint64_t n, uint32_t cls, uint64_t call, uint64_t *saved, Counters *cnt)
{
    uint64_t i = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x;
    uint64_t k = nnfi_seg_apply_param(&s, f, key, idx, n, i, cls, call, saved);
    if (k) atomicAdd(&cnt->applied, (unsigned long long)k);
}

__global__ void k_restore_params(nnfi_seg_sites s, const nnfi_fault *f, const uint64_t *key, const uint32_t *idx,
                                 uint64_t n, uint32_t cls, uint64_t call, const uint64_t *saved)
{
    nnfi_seg_restore_param(&s, f, key, idx, n, (uint64_t)blockIdx.x * blockDim.x + threadIdx.x, cls, call, saved);
}

__global__ void k_apply_site(void *data, const nnfi_fault *f, const uint64_t *key, const uint32_t *idx, uint64_t n,
                             nnfi_seg_call c, Counters *cnt)
{
    uint64_t i = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x;
    uint64_t k = nnfi_seg_site_count(f, key, idx, n, i, &c); /* 0 unless i heads a segment of this site */
    if (!k) return;
    atomicAdd(&cnt->applied, (unsigned long long)k);
    /* one thread per element, looping over the rows: a launch costs O(n)
     * threads whatever the batch, and threads of other sites leave at once */
    for (uint64_t r = 0; r < c.rows; r++) nnfi_seg_apply_site(data, f, key, idx, n, i, r, &c);
}

/* ---- layer 2: launchers -------------------------------------------------- */

static unsigned blocks_for(uint64_t n) { return (unsigned)((n + kThreads - 1) / kThreads); }

static Counters *d_cnt(nnfi_injector *inj) { return (Counters *)inj->d_counters.p; }

/* keys, one stable sort, and the permanent parameter faults applied */
static nnfi_status classify_and_apply(nnfi_injector *inj)
{
    uint64_t n = inj->n;
    const nnfi_fault *d_f = (const nnfi_fault *)inj->d_faults.p;
    NNFI_TRY(dev_reserve(&inj->d_keys_in, n * sizeof(uint64_t)));
    NNFI_TRY(dev_reserve(&inj->d_keys, n * sizeof(uint64_t)));
    NNFI_TRY(dev_reserve(&inj->d_vals_in, n * sizeof(uint32_t)));
    NNFI_TRY(dev_reserve(&inj->d_vals, n * sizeof(uint32_t)));
    NNFI_TRY(dev_reserve(&inj->d_saved, n * sizeof(uint64_t)));
    uint64_t *kin = (uint64_t *)inj->d_keys_in.p, *kout = (uint64_t *)inj->d_keys.p;
    uint32_t *vin = (uint32_t *)inj->d_vals_in.p, *vout = (uint32_t *)inj->d_vals.p;
    k_keys<<<blocks_for(n), kThreads, 0, inj->stream>>>(inj->seg, d_f, n, kin, vin, d_cnt(inj));
    CUDA_TRY(cudaGetLastError());
    size_t tmp = 0;
    CUDA_TRY(cub::DeviceRadixSort::SortPairs(nullptr, tmp, kin, kout, vin, vout, (int64_t)n, 0, 64, inj->stream));
    NNFI_TRY(dev_reserve(&inj->d_tmp, tmp));
    CUDA_TRY(cub::DeviceRadixSort::SortPairs(inj->d_tmp.p, tmp, kin, kout, vin, vout, (int64_t)n, 0, 64, inj->stream));
    k_apply_params<<<blocks_for(n), kThreads, 0, inj->stream>>>(inj->seg, d_f, kout, vout, n, 0, 0,
                                                                (uint64_t *)inj->d_saved.p, d_cnt(inj));
    CUDA_TRY(cudaGetLastError());
    return NNFI_OK;
}

/* ---- layer 3: the backend table ----------------------------------------- */

static int is_param_site(const nnfi_site *s) { return s->kind == NNFI_SITE_PARAM || s->kind == NNFI_SITE_BUFFER; }

static void cuda_destroy(nnfi_injector *inj);

static nnfi_status cuda_create(const nnfi_site *sites, size_t n_sites, nnfi_injector **out)
{
    *out = nullptr;
    if (n_sites > NNFI_SEG_MID_MASK)
        return NNFI_FAIL(NNFI_E_UNSUPPORTED, "cuda backend: %zu sites (at most %llu)", n_sites,
                         (unsigned long long)NNFI_SEG_MID_MASK);
    nnfi_injector *inj = new (std::nothrow) nnfi_injector();
    if (!inj) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    inj->sites = sites;
    inj->n_sites = n_sites;
    inj->device = -1;
    inj->cur_call = -1;
    for (size_t i = 0; i < n_sites; i++)
        if (sites[i].device >= 0) {
            if (inj->device >= 0 && sites[i].device != inj->device) {
                cuda_destroy(inj);
                return NNFI_FAIL(NNFI_E_UNSUPPORTED, "cuda backend: site '%s' is on cuda:%d, others on cuda:%d\n"
                                 "  hint: one model must live on one device", sites[i].name, sites[i].device, inj->device);
            }
            inj->device = sites[i].device;
        }
    if (inj->device < 0) inj->device = 0;
    /* the site table, one device block: base[], param_off[], numel[], dtype[], is_param[] */
    size_t ns = n_sites ? n_sites : 1;
    size_t o_base = 0, o_off = o_base + ns * sizeof(void *), o_numel = o_off + ns * sizeof(uint64_t),
           o_dt = o_numel + ns * sizeof(uint64_t), o_isp = o_dt + ns, total = o_isp + ns;
    unsigned char *h = (unsigned char *)calloc(1, total);
    nnfi_status st = h ? NNFI_OK : NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    uint64_t off = 0;
    for (size_t i = 0; st == NNFI_OK && i < n_sites; i++) {
        void *base = is_param_site(&sites[i]) && sites[i].device >= 0 ? sites[i].data : nullptr;
        memcpy(h + o_base + i * sizeof(void *), &base, sizeof base);
        memcpy(h + o_off + i * sizeof(uint64_t), &off, sizeof off);
        memcpy(h + o_numel + i * sizeof(uint64_t), &sites[i].numel, sizeof(uint64_t));
        h[o_dt + i] = (unsigned char)sites[i].dtype;
        h[o_isp + i] = (unsigned char)is_param_site(&sites[i]);
        if (is_param_site(&sites[i])) off += sites[i].numel;
    }
    if (st == NNFI_OK && cudaSetDevice(inj->device) != cudaSuccess)
        st = NNFI_FAIL(NNFI_E_BACKEND, "cuda backend: cannot use cuda:%d: %s\n  hint: check CUDA_VISIBLE_DEVICES and nvidia-smi",
                       inj->device, cudaGetErrorString(cudaGetLastError()));
    if (st == NNFI_OK) st = dev_reserve(&inj->d_table, total);
    if (st == NNFI_OK) st = dev_reserve(&inj->d_counters, sizeof(Counters));
    if (st == NNFI_OK && cudaMemcpy(inj->d_table.p, h, total, cudaMemcpyHostToDevice) != cudaSuccess)
        st = NNFI_FAIL(NNFI_E_BACKEND, "cuda backend: copying the site table failed: %s", cudaGetErrorString(cudaGetLastError()));
    if (st == NNFI_OK && cudaMallocHost((void **)&inj->h_counters, sizeof(Counters)) != cudaSuccess)
        st = NNFI_FAIL(NNFI_E_BACKEND, "cuda backend: cudaMallocHost failed");
    free(h);
    if (st != NNFI_OK) {
        cuda_destroy(inj);
        return st;
    }
    unsigned char *d = (unsigned char *)inj->d_table.p;
    inj->seg.base = (void *const *)(d + o_base);
    inj->seg.param_off = (const uint64_t *)(d + o_off);
    inj->seg.numel = (const uint64_t *)(d + o_numel);
    inj->seg.dtype = d + o_dt;
    inj->seg.is_param = d + o_isp;
    inj->seg.n_sites = (uint32_t)n_sites;
    inj->stream = 0; /* legacy default stream: libtorch's default */
    *out = inj;
    return NNFI_OK;
}

static nnfi_status begin_arm(nnfi_injector *inj, uint64_t n)
{
    if (n > UINT32_MAX) return NNFI_FAIL(NNFI_E_INVALID, "cuda backend: %llu faults in one trial (at most 2^32-1)",
                                         (unsigned long long)n);
    inj->n = n;
    inj->cur_call = -1;
    inj->applied = 0;
    CUDA_TRY(cudaMemsetAsync(inj->d_counters.p, 0, sizeof(Counters), inj->stream));
    return dev_reserve(&inj->d_faults, (n ? n : 1) * sizeof(nnfi_fault));
}

static nnfi_status arm_list(nnfi_injector *inj, const nnfi_fault *faults, size_t n)
{
    /* the same refusals as the cpu backend, before anything changes */
    int transient = 0;
    for (size_t i = 0; i < n; i++) {
        const nnfi_fault *f = &faults[i];
        if (f->site >= inj->n_sites)
            return NNFI_FAIL(NNFI_E_INVALID, "fault %zu names site %u of %zu\n  hint: faults must come from this model's site table",
                             i, f->site, inj->n_sites);
        const nnfi_site *s = &inj->sites[f->site];
        if (f->element >= s->numel)
            return NNFI_FAIL(NNFI_E_INVALID, "fault %zu: element %llu outside site '%s' (%llu elements)", i,
                             (unsigned long long)f->element, s->name, (unsigned long long)s->numel);
        if (is_param_site(s) && (!s->data || s->device < 0))
            return NNFI_FAIL(NNFI_E_UNSUPPORTED, "cuda backend: site '%s' is in host memory\n"
                             "  hint: the cuda backend faults device tensors; run this model with device: cpu", s->name);
        transient |= f->transient && is_param_site(s);
    }
    NNFI_TRY(begin_arm(inj, n));
    inj->has_transient = transient;
    if (n == 0) return NNFI_OK;
    /* through the pinned buffer (the previous trial's copy ended before its disarm returned) */
    size_t bytes = n * sizeof(nnfi_fault);
    if (bytes > inj->pinned_cap) {
        if (inj->pinned) cudaFreeHost(inj->pinned);
        inj->pinned = nullptr;
        inj->pinned_cap = 0;
        CUDA_TRY(cudaMallocHost(&inj->pinned, bytes));
        inj->pinned_cap = bytes;
    }
    memcpy(inj->pinned, faults, bytes);
    CUDA_TRY(cudaMemcpyAsync(inj->d_faults.p, inj->pinned, bytes, cudaMemcpyHostToDevice, inj->stream));
    return classify_and_apply(inj);
}

/* A failed arm leaves nothing to restore: classify_and_apply's only failure
 * after its apply kernel is that kernel's launch, which then never ran. */
static nnfi_status cuda_arm(nnfi_injector *inj, const nnfi_fault *faults, size_t n)
{
    nnfi_status st = arm_list(inj, faults, n);
    if (st != NNFI_OK) inj->n = 0;
    return st;
}

static nnfi_status plan_on_device(nnfi_injector *inj, const nnfi_group_plan *g, nnfi_cuda_plan **out)
{
    for (int i = 0; i < inj->n_plans; i++)
        if (inj->plan_key[i] == g) {
            *out = inj->plan_dev[i];
            return NNFI_OK;
        }
    if (inj->n_plans == MAX_PLANS)
        return NNFI_FAIL(NNFI_E_UNSUPPORTED, "cuda backend: more than %d fault groups on one model", MAX_PLANS);
    NNFI_TRY(nnfi_cuda_plan_upload(g, out));
    inj->plan_key[inj->n_plans] = g;
    inj->plan_dev[inj->n_plans++] = *out;
    return NNFI_OK;
}

static nnfi_status arm_generated(nnfi_injector *inj, const nnfi_group_plan *const *groups, const nnfi_fault_id *ids,
                                 const uint64_t *counts, unsigned n_groups)
{
    uint64_t n = 0;
    int transient = 0;
    for (unsigned g = 0; g < n_groups; g++) {
        n += counts[g];
        transient |= counts[g] && groups[g]->transient;
    }
    NNFI_TRY(begin_arm(inj, n));
    nnfi_fault *d = (nnfi_fault *)inj->d_faults.p;
    uint64_t at = 0;
    for (unsigned g = 0; g < n_groups; g++) {
        if (!counts[g]) continue;
        nnfi_cuda_plan *p = NULL;
        NNFI_TRY(plan_on_device(inj, groups[g], &p));
        NNFI_TRY(nnfi_cuda_generate(p, ids[g], 0, counts[g], d + at, (void *)inj->stream));
        at += counts[g];
    }
    inj->has_transient = transient;
    return n ? classify_and_apply(inj) : NNFI_OK;
}

static nnfi_status cuda_arm_generated(nnfi_injector *inj, const nnfi_group_plan *const *groups, const nnfi_fault_id *ids,
                                      const uint64_t *counts, unsigned n_groups)
{
    nnfi_status st = arm_generated(inj, groups, ids, counts, n_groups);
    if (st != NNFI_OK) inj->n = 0; /* as cuda_arm */
    return st;
}

static nnfi_status transient_launch(nnfi_injector *inj, uint64_t n, int apply, uint64_t call)
{
    const nnfi_fault *d_f = (const nnfi_fault *)inj->d_faults.p;
    const uint64_t *key = (const uint64_t *)inj->d_keys.p;
    const uint32_t *idx = (const uint32_t *)inj->d_vals.p;
    if (apply)
        k_apply_params<<<blocks_for(n), kThreads, 0, inj->stream>>>(inj->seg, d_f, key, idx, n, 1, call,
                                                                    (uint64_t *)inj->d_saved_trans.p, d_cnt(inj));
    else
        k_restore_params<<<blocks_for(n), kThreads, 0, inj->stream>>>(inj->seg, d_f, key, idx, n, 1, call,
                                                                      (const uint64_t *)inj->d_saved_trans.p);
    CUDA_TRY(cudaGetLastError());
    return NNFI_OK;
}

static nnfi_status cuda_begin_call(nnfi_injector *inj, uint64_t call, uint64_t first_sample, uint64_t rows)
{
    inj->call = call;
    inj->first_sample = first_sample;
    inj->rows = rows;
    if (!inj->has_transient || inj->n == 0 || inj->cur_call == (int64_t)call) return NNFI_OK;
    NNFI_TRY(dev_reserve(&inj->d_saved_trans, inj->n * sizeof(uint64_t)));
    if (inj->cur_call >= 0) NNFI_TRY(transient_launch(inj, inj->n, 0, (uint64_t)inj->cur_call));
    inj->cur_call = (int64_t)call;
    return transient_launch(inj, inj->n, 1, call);
}

static nnfi_status cuda_on_site(nnfi_injector *inj, uint32_t site, void *data, uint32_t t)
{
    if (site >= inj->n_sites) return NNFI_FAIL(NNFI_E_INVALID, "on_site: no site %u", site);
    if (inj->n == 0 || inj->rows == 0) return NNFI_OK;
    const nnfi_site *s = &inj->sites[site];
    nnfi_seg_call c;
    c.call = inj->call;
    c.first_sample = inj->first_sample;
    c.rows = inj->rows;
    c.numel = s->numel;
    c.site = site;
    c.t = t;
    c.dtype = (uint8_t)s->dtype;
    k_apply_site<<<blocks_for(inj->n), kThreads, 0, inj->stream>>>(data, (const nnfi_fault *)inj->d_faults.p,
                                                     (const uint64_t *)inj->d_keys.p, (const uint32_t *)inj->d_vals.p,
                                                     inj->n, c, d_cnt(inj));
    CUDA_TRY(cudaGetLastError());
    return NNFI_OK;
}

static nnfi_status cuda_disarm(nnfi_injector *inj)
{
    uint64_t n = inj->n;
    inj->n = 0; /* restored once, even when the restore fails */
    if (n == 0) return NNFI_OK;
    const nnfi_fault *d_f = (const nnfi_fault *)inj->d_faults.p;
    const uint64_t *key = (const uint64_t *)inj->d_keys.p;
    const uint32_t *idx = (const uint32_t *)inj->d_vals.p;
    int64_t cur = inj->cur_call;
    inj->cur_call = -1;
    if (cur >= 0) NNFI_TRY(transient_launch(inj, n, 0, (uint64_t)cur));
    k_restore_params<<<blocks_for(n), kThreads, 0, inj->stream>>>(inj->seg, d_f, key, idx, n, 0, 0,
                                                                  (const uint64_t *)inj->d_saved.p);
    CUDA_TRY(cudaGetLastError());
    CUDA_TRY(cudaMemcpyAsync(inj->h_counters, inj->d_counters.p, sizeof(Counters), cudaMemcpyDeviceToHost, inj->stream));
    NNFI_TRY(nnfi_cuda_stream_wait((void *)inj->stream, "restoring the model after a trial"));
    inj->applied = inj->h_counters->applied;
    if (inj->h_counters->invalid)
        return NNFI_FAIL(NNFI_E_INVALID, "cuda backend: %llu generated fault(s) named a site or element this model lacks "
                         "(never applied)\n  hint: a bug: the group plan does not match the model's sites",
                         (unsigned long long)inj->h_counters->invalid);
    return NNFI_OK;
}

static void free_buf(DevBuf *b)
{
    if (b->p) cudaFree(b->p);
    b->p = nullptr;
    b->cap = 0;
}

static void cuda_destroy(nnfi_injector *inj)
{
    if (!inj) return;
    cuda_disarm(inj); /* destroy while armed restores first */
    DevBuf *bufs[] = {&inj->d_table,     &inj->d_faults, &inj->d_keys_in, &inj->d_keys,
                      &inj->d_vals_in,   &inj->d_vals,   &inj->d_saved,   &inj->d_saved_trans,
                      &inj->d_tmp,       &inj->d_counters};
    for (DevBuf *b : bufs) free_buf(b);
    for (int i = 0; i < inj->n_plans; i++) nnfi_cuda_plan_free(inj->plan_dev[i]);
    if (inj->pinned) cudaFreeHost(inj->pinned);
    if (inj->h_counters) cudaFreeHost(inj->h_counters);
    delete inj;
}

/* Valid after disarm (the count lives on the device during a trial). */
static uint64_t cuda_applied(const nnfi_injector *inj) { return inj->applied; }

static const nnfi_inject_backend cuda_backend = {
    NNFI_INJECT_ABI, sizeof(nnfi_inject_backend), "cuda",      cuda_create,  cuda_arm,
    cuda_begin_call, cuda_on_site,                cuda_disarm, cuda_destroy, cuda_applied,
    cuda_arm_generated,
};

extern "C" const nnfi_inject_backend *nnfi_inject_cuda(void) { return &cuda_backend; }

extern "C" void nnfi_cuda_injector_set_stream(nnfi_injector *inj, void *stream)
{
    if (inj) inj->stream = (cudaStream_t)stream;
}
