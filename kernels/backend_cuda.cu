/* backend_cuda.cu - the `cuda` injection backend: the table of nnfi/inject.h
 * for models whose tensors live on a GPU, bit-identical to the `cpu` backend.
 *
 * One trial, all on one stream (the legacy default stream, which is the
 * stream libtorch uses unless told otherwise; nnfi_cuda_injector_set_stream
 * picks another), with no host synchronisation until disarm:
 *   arm:        faults bucketed on the host exactly as the cpu backend does
 *               (permanent parameter faults in list order, transient ones by
 *               call, activation faults by site), copied to the device through
 *               a pinned buffer, keys built and radix-sorted by CUB (stable:
 *               equal keys keep list order); one kernel applies every
 *               permanent parameter fault, one thread per segment of equal
 *               keys (segment_apply.cuh), saving originals.
 *   begin_call: transient parameter faults of the call swapped in (one
 *               thread, list order: exact; they are few per call).
 *   on_site:    one launch per site call over the site's bucket x rows.
 *   disarm:     restore kernels, then ONE wait on the stream with the
 *               watchdog's deadline, so a failed or hung trial is reported
 *               by the trial that caused it (NNFI_E_TIMEOUT / NNFI_E_BACKEND).
 * `applied` is counted on the host with the cpu backend's filters.
 */
#include "nnfi/inject.h"

#include <cuda_runtime.h>

#include <cub/device/device_radix_sort.cuh>

#include <new>
#include <stdlib.h>
#include <string.h>

#include "nnfi/config.h" /* nnfi_transient_scope */
#include "nnfi/watchdog.h"
#include "segment_apply.cuh"

#define CUDA_TRY(expr)                                                                                     \
    do {                                                                                                   \
        cudaError_t e_ = (expr);                                                                           \
        if (e_ != cudaSuccess)                                                                             \
            return NNFI_FAIL(NNFI_E_BACKEND, "cuda backend: %s failed: %s\n  hint: check the device (nvidia-smi)", \
                             #expr, cudaGetErrorString(e_));                                               \
    } while (0)

static const unsigned kThreads = 256;
static const int kActShift = 40; /* activation key: site << 40 | element */

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

nnfi_status host_reserve(void **p, size_t *cap, size_t bytes, int pinned)
{
    if (bytes <= *cap) return NNFI_OK;
    size_t n = *cap ? *cap : 4096;
    while (n < bytes) n *= 2;
    if (pinned) {
        if (*p) cudaFreeHost(*p);
        *p = nullptr;
        *cap = 0;
        CUDA_TRY(cudaMallocHost(p, n));
    } else {
        void *q = realloc(*p, n);
        if (!q) return NNFI_FAIL(NNFI_E_NOMEM, "cuda backend: out of host memory for %zu bytes", n);
        *p = q;
    }
    *cap = n;
    return NNFI_OK;
}

} // namespace

struct nnfi_injector {
    const nnfi_site *sites;
    size_t n_sites;
    int device;
    cudaStream_t stream;
    cudaEvent_t done;
    int armed;
    const nnfi_fault *faults; /* host, borrowed from arm() to disarm() */
    size_t n_faults;
    uint64_t applied;
    /* host-side buckets (indices into faults) */
    uint32_t *h_idx;       /* [perm | trans by call | act by site] */
    size_t h_idx_cap;
    size_t n_perm, n_trans, n_act;
    size_t *site_start;    /* n_sites + 1, activation bucket offsets (relative to the act part) */
    uint64_t *param_off;   /* per site: offset among parameter elements (host); [n_sites] = total */
    /* transient parameter faults: calls with any, and the range of each */
    int64_t *trans_call;   /* per transient fault (sorted by call) */
    int64_t cur_call;      /* applied transient call, -1 none */
    size_t cur_lo, cur_hi; /* its range in the trans part */
    uint64_t call, first_sample, rows;
    /* device */
    DevBuf d_sites_base, d_sites_dt, d_param_off;
    DevBuf d_faults, d_keys_in, d_keys, d_vals, d_saved, d_saved_trans, d_tmp;
    void *pinned;
    size_t pinned_cap;
    int pinned_busy;
};

/* ---- layer 1: kernels --------------------------------------------------- */

__global__ void k_param_keys(const nnfi_fault *f, const uint32_t *idx, uint64_t n, const uint64_t *param_off,
                             uint64_t *keys)
{
    uint64_t i = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) keys[i] = param_off[f[idx[i]].site] + f[idx[i]].element;
}

__global__ void k_act_keys(const nnfi_fault *f, const uint32_t *idx, uint64_t n, uint64_t *keys)
{
    uint64_t i = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) keys[i] = ((uint64_t)f[idx[i]].site << kActShift) | f[idx[i]].element;
}

__global__ void k_apply_params(nnfi_seg_sites s, const nnfi_fault *f, const uint64_t *key, const uint32_t *idx,
                               uint64_t n, uint64_t *saved)
{
    nnfi_seg_apply_param(&s, f, key, idx, n, (uint64_t)blockIdx.x * blockDim.x + threadIdx.x, saved);
}

__global__ void k_restore_params(nnfi_seg_sites s, const nnfi_fault *f, const uint64_t *key, const uint32_t *idx,
                                 uint64_t n, const uint64_t *saved)
{
    nnfi_seg_restore_param(&s, f, key, idx, n, (uint64_t)blockIdx.x * blockDim.x + threadIdx.x, saved);
}

/* transient parameter faults idx[lo..hi): exact list order, one thread */
__global__ void k_apply_serial(nnfi_seg_sites s, const nnfi_fault *f, const uint32_t *idx, uint64_t lo, uint64_t hi,
                               uint64_t *saved)
{
    if (blockIdx.x != 0 || threadIdx.x != 0) return;
    for (uint64_t i = lo; i < hi; i++) {
        const nnfi_fault *fi = &f[idx[i]];
        nnfi_dtype dt = (nnfi_dtype)s.dtype[fi->site];
        uint64_t w = nnfi_elem_load(s.base[fi->site], dt, fi->element);
        saved[i - lo] = w;
        nnfi_elem_store(s.base[fi->site], dt, fi->element, nnfi_bits_apply(w, (nnfi_op)fi->op, fi->mask, fi->value));
    }
}

__global__ void k_restore_serial(nnfi_seg_sites s, const nnfi_fault *f, const uint32_t *idx, uint64_t lo, uint64_t hi,
                                 const uint64_t *saved)
{
    if (blockIdx.x != 0 || threadIdx.x != 0) return;
    for (uint64_t i = hi; i > lo; i--) {
        const nnfi_fault *fi = &f[idx[i - 1]];
        nnfi_elem_store(s.base[fi->site], (nnfi_dtype)s.dtype[fi->site], fi->element, saved[i - 1 - lo]);
    }
}

__global__ void k_apply_site(void *data, const nnfi_fault *f, const uint64_t *key, const uint32_t *idx, uint64_t lo,
                             uint64_t hi, nnfi_seg_call c)
{
    uint64_t i = lo + (uint64_t)blockIdx.x * blockDim.x + threadIdx.x;
    for (uint64_t r = blockIdx.y; r < c.rows; r += gridDim.y) nnfi_seg_apply_site(data, f, key, idx, lo, hi, i, r, &c);
}

/* ---- layer 2: launchers -------------------------------------------------- */

static unsigned blocks_for(uint64_t n) { return (unsigned)((n + kThreads - 1) / kThreads); }

static nnfi_seg_sites seg_sites(nnfi_injector *inj)
{
    nnfi_seg_sites s;
    s.base = (void *const *)inj->d_sites_base.p;
    s.dtype = (const uint8_t *)inj->d_sites_dt.p;
    return s;
}

/* Sort n keys (with their fault indices) into d_keys/d_vals, stable. */
static nnfi_status sort_pairs(nnfi_injector *inj, const uint64_t *keys_in, const uint32_t *vals_in, uint64_t *keys_out,
                              uint32_t *vals_out, size_t n, int end_bit)
{
    size_t tmp = 0;
    CUDA_TRY(cub::DeviceRadixSort::SortPairs(nullptr, tmp, keys_in, keys_out, vals_in, vals_out, (int)n, 0, end_bit,
                                             inj->stream));
    NNFI_TRY(dev_reserve(&inj->d_tmp, tmp));
    CUDA_TRY(cub::DeviceRadixSort::SortPairs(inj->d_tmp.p, tmp, keys_in, keys_out, vals_in, vals_out, (int)n, 0,
                                             end_bit, inj->stream));
    return NNFI_OK;
}

static int bits_for(uint64_t max_key)
{
    int b = 1;
    while (b < 64 && (max_key >> b) != 0) b++;
    return b;
}

/* ---- layer 3: the backend table ----------------------------------------- */

static int is_param_site(const nnfi_site *s) { return s->kind == NNFI_SITE_PARAM || s->kind == NNFI_SITE_BUFFER; }

static void cuda_destroy(nnfi_injector *inj);

static nnfi_status cuda_create(const nnfi_site *sites, size_t n_sites, nnfi_injector **out)
{
    *out = nullptr;
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
    nnfi_status st = NNFI_OK;
    inj->site_start = (size_t *)calloc(n_sites + 1, sizeof(size_t));
    inj->param_off = (uint64_t *)calloc(n_sites + 1, sizeof(uint64_t));
    void **base = (void **)calloc(n_sites + 1, sizeof(void *));
    uint8_t *dt = (uint8_t *)calloc(n_sites + 1, 1);
    if (!inj->site_start || !inj->param_off || !base || !dt) st = NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    uint64_t off = 0;
    for (size_t i = 0; st == NNFI_OK && i < n_sites; i++) {
        inj->param_off[i] = off;
        dt[i] = (uint8_t)sites[i].dtype;
        if (is_param_site(&sites[i])) {
            base[i] = sites[i].device >= 0 ? sites[i].data : nullptr; /* host-memory sites cannot be faulted here */
            off += sites[i].numel;
        }
    }
    if (st == NNFI_OK) inj->param_off[n_sites] = off;
    if (st == NNFI_OK && cudaSetDevice(inj->device) != cudaSuccess)
        st = NNFI_FAIL(NNFI_E_BACKEND, "cuda backend: cannot use cuda:%d: %s\n  hint: check CUDA_VISIBLE_DEVICES and nvidia-smi",
                       inj->device, cudaGetErrorString(cudaGetLastError()));
    if (st == NNFI_OK) st = dev_reserve(&inj->d_sites_base, (n_sites + 1) * sizeof(void *));
    if (st == NNFI_OK) st = dev_reserve(&inj->d_sites_dt, n_sites + 1);
    if (st == NNFI_OK) st = dev_reserve(&inj->d_param_off, (n_sites + 1) * sizeof(uint64_t));
    if (st == NNFI_OK && (cudaMemcpy(inj->d_sites_base.p, base, (n_sites + 1) * sizeof(void *), cudaMemcpyHostToDevice) != cudaSuccess ||
                          cudaMemcpy(inj->d_sites_dt.p, dt, n_sites + 1, cudaMemcpyHostToDevice) != cudaSuccess ||
                          cudaMemcpy(inj->d_param_off.p, inj->param_off, (n_sites + 1) * sizeof(uint64_t),
                                     cudaMemcpyHostToDevice) != cudaSuccess))
        st = NNFI_FAIL(NNFI_E_BACKEND, "cuda backend: copying the site table failed: %s", cudaGetErrorString(cudaGetLastError()));
    if (st == NNFI_OK && cudaEventCreateWithFlags(&inj->done, cudaEventDisableTiming) != cudaSuccess)
        st = NNFI_FAIL(NNFI_E_BACKEND, "cuda backend: cudaEventCreate failed");
    free(base);
    free(dt);
    if (st != NNFI_OK) {
        cuda_destroy(inj);
        return st;
    }
    inj->stream = 0; /* legacy default stream: libtorch's default */
    *out = inj;
    return NNFI_OK;
}

struct EventPoll {
    cudaEvent_t ev;
};

static int poll_event(void *ctx)
{
    cudaError_t e = cudaEventQuery(((EventPoll *)ctx)->ev);
    if (e == cudaSuccess) return 1;
    if (e == cudaErrorNotReady) return 0;
    cudaGetLastError();
    NNFI_FAIL(NNFI_E_BACKEND, "cuda backend: the device reported an error: %s\n"
              "  hint: the trial counts as failed (DUE); a sticky error (illegal address) needs a new process",
              cudaGetErrorString(e));
    return -1;
}

/* Wait for everything queued on the stream, with the watchdog's deadline. */
static nnfi_status wait_stream(nnfi_injector *inj, const char *what)
{
    CUDA_TRY(cudaEventRecord(inj->done, inj->stream));
    EventPoll p = {inj->done};
    return nnfi_wait_deadline(poll_event, &p, nnfi_device_timeout_s(), what);
}

static nnfi_status cuda_arm(nnfi_injector *inj, const nnfi_fault *faults, size_t n)
{
    if (inj->armed) return NNFI_FAIL(NNFI_E_INVALID, "injector armed twice\n  hint: call disarm() after each trial");
    if (n > UINT32_MAX) return NNFI_FAIL(NNFI_E_INVALID, "cuda backend: %zu faults in one trial (at most 2^32-1)", n);
    size_t n_perm = 0, n_trans = 0;
    memset(inj->site_start, 0, (inj->n_sites + 1) * sizeof(size_t));
    for (size_t i = 0; i < n; i++) {
        const nnfi_fault *f = &faults[i];
        if (f->site >= inj->n_sites)
            return NNFI_FAIL(NNFI_E_INVALID, "fault %zu names site %u of %zu\n  hint: faults must come from this model's site table",
                             i, f->site, inj->n_sites);
        const nnfi_site *s = &inj->sites[f->site];
        if (f->element >= s->numel)
            return NNFI_FAIL(NNFI_E_INVALID, "fault %zu: element %llu outside site '%s' (%llu elements)", i,
                             (unsigned long long)f->element, s->name, (unsigned long long)s->numel);
        if (is_param_site(s)) {
            if (!s->data || s->device < 0)
                return NNFI_FAIL(NNFI_E_UNSUPPORTED, "cuda backend: site '%s' is in host memory\n"
                                 "  hint: the cuda backend faults device tensors; run this model with device: cpu",
                                 s->name);
            if (f->transient) n_trans++;
            else n_perm++;
        } else {
            if (f->site >= (1u << (64 - kActShift)) || f->element >= ((uint64_t)1 << kActShift))
                return NNFI_FAIL(NNFI_E_UNSUPPORTED, "cuda backend: site %u element %llu is beyond the sort key's range",
                                 f->site, (unsigned long long)f->element);
            inj->site_start[f->site + 1]++;
        }
    }
    for (size_t s = 0; s < inj->n_sites; s++) inj->site_start[s + 1] += inj->site_start[s];
    size_t n_act = inj->site_start[inj->n_sites];
    /* host buckets: [perm (list order) | trans (by call, list order) | act (by site, list order)] */
    NNFI_TRY(host_reserve((void **)&inj->h_idx, &inj->h_idx_cap, (n ? n : 1) * sizeof(uint32_t), 0));
    size_t *fill = (size_t *)malloc((inj->n_sites + 1) * sizeof(size_t));
    int64_t *tc = (int64_t *)realloc(inj->trans_call, (n_trans ? n_trans : 1) * sizeof(int64_t));
    if (!fill || !tc) {
        free(fill);
        if (tc) inj->trans_call = tc;
        return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    }
    inj->trans_call = tc;
    memcpy(fill, inj->site_start, (inj->n_sites + 1) * sizeof(size_t));
    uint32_t *perm = inj->h_idx, *trans = inj->h_idx + n_perm, *act = inj->h_idx + n_perm + n_trans;
    size_t kp = 0, kt = 0;
    for (size_t i = 0; i < n; i++) {
        const nnfi_fault *f = &faults[i];
        if (!is_param_site(&inj->sites[f->site])) act[fill[f->site]++] = (uint32_t)i;
        else if (f->transient) trans[kt++] = (uint32_t)i;
        else perm[kp++] = (uint32_t)i;
    }
    free(fill);
    /* transient parameter faults by call, stable (insertion sort: few per trial) */
    for (size_t i = 1; i < n_trans; i++) {
        uint32_t v = trans[i];
        size_t j = i;
        while (j > 0 && faults[trans[j - 1]].when > faults[v].when) {
            trans[j] = trans[j - 1];
            j--;
        }
        trans[j] = v;
    }
    for (size_t i = 0; i < n_trans; i++) inj->trans_call[i] = faults[trans[i]].when;

    inj->faults = faults;
    inj->n_faults = n;
    inj->n_perm = n_perm;
    inj->n_trans = n_trans;
    inj->n_act = n_act;
    inj->applied = n_perm;
    inj->cur_call = -1;
    inj->armed = 1;
    if (n == 0) return NNFI_OK;

    /* copy to the device through the pinned buffer (the previous trial's copy
     * finished at its disarm's wait) */
    size_t fbytes = n * sizeof(nnfi_fault), ibytes = n * sizeof(uint32_t);
    NNFI_TRY(host_reserve(&inj->pinned, &inj->pinned_cap, fbytes + ibytes, 1));
    memcpy(inj->pinned, faults, fbytes);
    memcpy((char *)inj->pinned + fbytes, inj->h_idx, ibytes);
    NNFI_TRY(dev_reserve(&inj->d_faults, fbytes + ibytes));
    CUDA_TRY(cudaMemcpyAsync(inj->d_faults.p, inj->pinned, fbytes + ibytes, cudaMemcpyHostToDevice, inj->stream));
    const nnfi_fault *d_f = (const nnfi_fault *)inj->d_faults.p;
    const uint32_t *d_idx = (const uint32_t *)((char *)inj->d_faults.p + fbytes);
    size_t n_sorted = n_perm + n_act;
    NNFI_TRY(dev_reserve(&inj->d_keys_in, (n_sorted ? n_sorted : 1) * sizeof(uint64_t)));
    NNFI_TRY(dev_reserve(&inj->d_keys, (n_sorted ? n_sorted : 1) * sizeof(uint64_t)));
    NNFI_TRY(dev_reserve(&inj->d_vals, (n ? n : 1) * sizeof(uint32_t)));
    uint64_t *keys_in = (uint64_t *)inj->d_keys_in.p, *keys = (uint64_t *)inj->d_keys.p;
    uint32_t *vals = (uint32_t *)inj->d_vals.p;
    /* d_vals layout: [perm sorted | trans (copied as is) | act sorted] */
    if (n_perm) {
        k_param_keys<<<blocks_for(n_perm), kThreads, 0, inj->stream>>>(d_f, d_idx, n_perm,
                                                                       (const uint64_t *)inj->d_param_off.p, keys_in);
        CUDA_TRY(cudaGetLastError());
        NNFI_TRY(sort_pairs(inj, keys_in, d_idx, keys, vals, n_perm, bits_for(inj->param_off[inj->n_sites])));
    }
    if (n_trans)
        CUDA_TRY(cudaMemcpyAsync(vals + n_perm, d_idx + n_perm, n_trans * sizeof(uint32_t), cudaMemcpyDeviceToDevice,
                                 inj->stream));
    if (n_act) {
        k_act_keys<<<blocks_for(n_act), kThreads, 0, inj->stream>>>(d_f, d_idx + n_perm + n_trans, n_act, keys_in + n_perm);
        CUDA_TRY(cudaGetLastError());
        NNFI_TRY(sort_pairs(inj, keys_in + n_perm, d_idx + n_perm + n_trans, keys + n_perm, vals + n_perm + n_trans, n_act,
                            bits_for(((uint64_t)inj->n_sites << kActShift) | (((uint64_t)1 << kActShift) - 1))));
    }
    if (n_perm) {
        NNFI_TRY(dev_reserve(&inj->d_saved, n_perm * sizeof(uint64_t)));
        k_apply_params<<<blocks_for(n_perm), kThreads, 0, inj->stream>>>(seg_sites(inj), d_f, keys, vals, n_perm,
                                                                        (uint64_t *)inj->d_saved.p);
        CUDA_TRY(cudaGetLastError());
    }
    return NNFI_OK;
}

static nnfi_status restore_transient(nnfi_injector *inj)
{
    if (inj->cur_call < 0) return NNFI_OK;
    if (inj->cur_hi > inj->cur_lo) {
        k_restore_serial<<<1, 1, 0, inj->stream>>>(seg_sites(inj), (const nnfi_fault *)inj->d_faults.p,
                                                   (const uint32_t *)inj->d_vals.p + inj->n_perm, inj->cur_lo,
                                                   inj->cur_hi, (const uint64_t *)inj->d_saved_trans.p);
        CUDA_TRY(cudaGetLastError());
    }
    inj->cur_call = -1;
    return NNFI_OK;
}

static nnfi_status cuda_begin_call(nnfi_injector *inj, uint64_t call, uint64_t first_sample, uint64_t rows)
{
    if (!inj->armed) return NNFI_FAIL(NNFI_E_INVALID, "begin_call on a disarmed injector\n  hint: arm() first");
    inj->call = call;
    inj->first_sample = first_sample;
    inj->rows = rows;
    if (inj->n_trans == 0 || inj->cur_call == (int64_t)call) return NNFI_OK;
    NNFI_TRY(restore_transient(inj));
    size_t lo = 0, hi;
    while (lo < inj->n_trans && inj->trans_call[lo] < (int64_t)call) lo++;
    hi = lo;
    while (hi < inj->n_trans && inj->trans_call[hi] == (int64_t)call) hi++;
    if (hi > lo) {
        NNFI_TRY(dev_reserve(&inj->d_saved_trans, (hi - lo) * sizeof(uint64_t)));
        k_apply_serial<<<1, 1, 0, inj->stream>>>(seg_sites(inj), (const nnfi_fault *)inj->d_faults.p,
                                                 (const uint32_t *)inj->d_vals.p + inj->n_perm, lo, hi,
                                                 (uint64_t *)inj->d_saved_trans.p);
        CUDA_TRY(cudaGetLastError());
    }
    inj->applied += hi - lo;
    inj->cur_call = (int64_t)call;
    inj->cur_lo = lo;
    inj->cur_hi = hi;
    return NNFI_OK;
}

static nnfi_status cuda_on_site(nnfi_injector *inj, uint32_t site, void *data, uint32_t t)
{
    if (!inj->armed) return NNFI_FAIL(NNFI_E_INVALID, "on_site on a disarmed injector\n  hint: arm() first");
    if (site >= inj->n_sites) return NNFI_FAIL(NNFI_E_INVALID, "on_site: no site %u", site);
    size_t lo = inj->site_start[site], hi = inj->site_start[site + 1];
    if (lo == hi || inj->rows == 0) return NNFI_OK;
    const nnfi_site *s = &inj->sites[site];
    nnfi_seg_call c;
    c.call = inj->call;
    c.first_sample = inj->first_sample;
    c.rows = inj->rows;
    c.numel = s->numel;
    c.t = t;
    c.dtype = (uint8_t)s->dtype;
    /* host count, the cpu backend's rule: a fault counts once per call it hits */
    const uint32_t *act = inj->h_idx + inj->n_perm + inj->n_trans;
    for (size_t j = lo; j < hi; j++) {
        const nnfi_fault *f = &inj->faults[act[j]];
        if (t < f->t_first || t > f->t_last) continue;
        if (f->transient) {
            if (f->scope == NNFI_SCOPE_CALL ? f->when != (int64_t)inj->call
                                            : (f->when < (int64_t)inj->first_sample ||
                                               f->when >= (int64_t)(inj->first_sample + inj->rows)))
                continue;
        }
        inj->applied++;
    }
    dim3 grid(blocks_for(hi - lo), (unsigned)(inj->rows < 65535 ? inj->rows : 65535));
    k_apply_site<<<grid, kThreads, 0, inj->stream>>>(data, (const nnfi_fault *)inj->d_faults.p,
                                                     (const uint64_t *)inj->d_keys.p + inj->n_perm,
                                                     (const uint32_t *)inj->d_vals.p + inj->n_perm + inj->n_trans, lo, hi,
                                                     c);
    CUDA_TRY(cudaGetLastError());
    return NNFI_OK;
}

static nnfi_status cuda_disarm(nnfi_injector *inj)
{
    if (!inj->armed) return NNFI_OK;
    nnfi_status st = restore_transient(inj);
    if (st == NNFI_OK && inj->n_perm) {
        k_restore_params<<<blocks_for(inj->n_perm), kThreads, 0, inj->stream>>>(
            seg_sites(inj), (const nnfi_fault *)inj->d_faults.p, (const uint64_t *)inj->d_keys.p,
            (const uint32_t *)inj->d_vals.p, inj->n_perm, (const uint64_t *)inj->d_saved.p);
        cudaError_t e = cudaGetLastError();
        if (e != cudaSuccess)
            st = NNFI_FAIL(NNFI_E_BACKEND, "cuda backend: restore launch failed: %s", cudaGetErrorString(e));
    }
    if (st == NNFI_OK && inj->n_faults) st = wait_stream(inj, "restoring the model after a trial");
    inj->armed = 0;
    inj->faults = nullptr;
    inj->n_faults = 0;
    inj->cur_call = -1;
    return st;
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
    cuda_disarm(inj);
    DevBuf *bufs[] = {&inj->d_sites_base, &inj->d_sites_dt, &inj->d_param_off, &inj->d_faults,
                      &inj->d_keys_in,    &inj->d_keys,     &inj->d_vals,      &inj->d_saved,  &inj->d_saved_trans,
                      &inj->d_tmp};
    for (DevBuf *b : bufs) free_buf(b);
    if (inj->pinned) cudaFreeHost(inj->pinned);
    if (inj->done) cudaEventDestroy(inj->done);
    free(inj->h_idx);
    free(inj->trans_call);
    free(inj->site_start);
    free(inj->param_off);
    delete inj;
}

static uint64_t cuda_applied(const nnfi_injector *inj) { return inj->applied; }

static const nnfi_inject_backend cuda_backend = {
    NNFI_INJECT_ABI, sizeof(nnfi_inject_backend), "cuda", cuda_create, cuda_arm, cuda_begin_call,
    cuda_on_site,    cuda_disarm,                 cuda_destroy, cuda_applied,
};

extern "C" const nnfi_inject_backend *nnfi_inject_cuda(void) { return &cuda_backend; }

extern "C" void nnfi_cuda_injector_set_stream(nnfi_injector *inj, void *stream)
{
    if (inj) inj->stream = (cudaStream_t)stream;
}
