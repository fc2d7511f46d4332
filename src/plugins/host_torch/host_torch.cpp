/* host_torch.cpp - the `torch` model host: TorchScript models run by libtorch
 * (Debian's 1.13.1 on the CPU, or a CUDA libtorch) behind the C table of
 * nnfi/model_host.h. This file is the C ABI: open / close / forward /
 * set_hook, the host table and the nnfi_host_torch_* exports of host_torch.h,
 * and one forward (run). Everything follows the `null` host's lifecycle
 * (src/plugins/host_null/host_null.c); the torch-specific parts live in
 *   torch_graph.cpp   activation/state sites: graph rewrite, nnfi::site op,
 *                     discovery forwards
 *   torch_params.cpp  input, parameter and buffer sites; info; read-back
 *   torch_quant.cpp   int8 quantized weights behind shadows (repack/restore)
 *   torch_facts.cpp   qengine, threads, BLAS, the golden run's facts
 *   torch_device.cpp  device auto/cpu/cuda, deterministic cuDNN
 *   torch_cuts.cpp    prefix reuse: cuts, forward_capture, forward_from
 * sharing torch_internal.h (struct nnfi_model) and torch_env.h.
 *
 * open(cfg, base_dir, seed)
 *   - cfg->path is relative to base_dir unless absolute. A missing file is
 *     NNFI_E_IO, a file torch::jit::load refuses is NNFI_E_BACKEND; both name
 *     the path and end with a hint.
 *   - threads and quantized engine are pinned before torch::jit::load
 *     (torch_facts.cpp); the device is chosen after it (torch_device.cpp) and
 *     the module moved there before any site exists.
 *   - the module is put in eval mode; it is never frozen (parameters must stay
 *     parameters so that faults written through their pointers are seen).
 *   - sites: "input", parameters, buffers (torch_params.cpp, quantized ones
 *     from torch_quant.cpp), then the graph is rewritten and two discovery
 *     forwards find the activation and state sites (torch_graph.cpp). The
 *     operator kinds whose outputs become sites are cfg->ops (resolve_ops:
 *     an unknown one is NNFI_E_CONFIG naming the model and the operator);
 *     cfg->fused keeps PyTorch's fused transformer kernels.
 *
 * forward(input, rows, logits): re-pins threads/engine if another model
 * changed them, synchronises the quantized shadows, seeds the default CPU
 * generator with the campaign seed (so a model that draws random numbers in
 * forward, e.g. rate-coded SNN input, sees the same numbers in golden and
 * faulty runs of the same batch; reproducible when one model runs forwards at
 * a time), builds a float32 tensor [rows] + input_shape from a copy of the
 * caller's input (never edited), converted to the model's input dtype
 * (cfg->input_dtype: fp16, bf16 or int64 token ids, all exact from fp32),
 * calls the "input" site's hook on it (in that dtype), runs the module and
 * expects a float32 (or quantized, then dequantized, or fp16/bf16) tensor
 * [rows, n_classes] or [rows, positions, n_classes] (a class per position,
 * e.g. a language model's next token; positions fixed at discovery) back, or
 * a tuple whose first element is one. On a GPU the input
 * is copied to the device before its site is called and the logits come back
 * after nnfi_device_stream_wait (include/nnfi/watchdog.h) with the watchdog's
 * deadline (a hung forward is NNFI_E_TIMEOUT). A hook that fails aborts the
 * forward, which returns the hook's status with the hook's message.
 *
 * forward_capture / forward_from (torch_cuts.cpp) share run()'s start
 * (begin_forward, input_tensor), its end (logits_of) and forward's mapping of
 * errors to statuses (guarded_forward); the cuts are found at open, after
 * discovery, and never fail it (nnfi_host_torch_info ends with "cuts: ...").
 */
#include "torch_internal.h"

#include <ATen/Context.h>
#include <ATen/ops/empty.h>
#include <c10/core/InferenceMode.h>
#include <torch/csrc/jit/serialization/import.h>

#include "nnfi/watchdog.h" /* nnfi_device_stream_wait: the watchdog's wait for the forward */

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <functional>

namespace nnfi_torch {

/* The first line of a torch message (what() carries a C++ backtrace). */
static std::string first_line(const char *what)
{
    std::string s(what ? what : "");
    size_t nl = s.find('\n');
    if (nl != std::string::npos) s.resize(nl);
    return s;
}

/* The first line, or for an error raised inside the TorchScript interpreter
 * (whose first line only says so) the last line, which names the error, e.g.
 * "RuntimeError: ...". */
std::string torch_message(const std::exception &e)
{
    auto *ce = dynamic_cast<const c10::Error *>(&e);
    std::string s = ce ? ce->what_without_backtrace() : (e.what() ? e.what() : "");
    std::string first = first_line(s.c_str());
    if (first.rfind("The following operation failed in the TorchScript interpreter", 0) != 0) return first;
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    size_t nl = s.rfind('\n');
    return nl == std::string::npos ? first : s.substr(nl + 1);
}

/* Wait for the model's GPU work with the watchdog's deadline; a timeout or a
 * device error aborts the forward with that status (torch_forward returns it). */
void device_wait(nnfi_model *m, const char *what)
{
    nnfi_status st = nnfi_device_stream_wait(nullptr, what);
    if (st != NNFI_OK) {
        m->hook_st = st;
        throw HookAbort();
    }
}

void begin_forward(nnfi_model *m)
{
    pin_settings(m->threads, m->pin_qengine, m->qengine, false);
    m->stats.forwards++;
    sync_shadows(m); /* before the guard: packed objects must not hold inference tensors */
}

at::Tensor input_tensor(nnfi_model *m, const float *input, int64_t rows)
{
    std::vector<int64_t> shape{rows};
    shape.insert(shape.end(), m->input_shape.begin(), m->input_shape.end());
    at::Tensor x = at::empty(shape, at::kFloat);
    std::memcpy(x.data_ptr(), input, (size_t)rows * m->input_numel * sizeof(float));
    if (m->input_st != at::kFloat) x = x.to(m->input_st); /* fp16/bf16 values and token ids: exact */
    if (m->device >= 0) {
        device_wait(m, "the device before a forward"); /* the copy below would wait unbounded (pageable memory) */
        x = x.to(at::Device(at::kCUDA, (c10::DeviceIndex)m->device));
    }
    return x;
}

c10::IValue call_guarded(nnfi_model *m, const std::function<c10::IValue()> &call)
{
    try {
        return call();
    } catch (...) {
        if (!m->packed.empty()) m->rebuild_packed = true;
        throw;
    }
}

at::Tensor logits_of(nnfi_model *m, c10::IValue out, int64_t rows)
{
    if (out.isTuple() && !out.toTupleRef().elements().empty()) out = out.toTupleRef().elements()[0];
    if (!out.isTensor())
        throw std::runtime_error("forward returned a " + out.tagKind() + ", not a tensor [rows, classes]");
    at::Tensor o = out.toTensor();
    if (o.is_quantized()) o = o.dequantize();
    if ((o.dim() != 2 && o.dim() != 3) || o.size(0) != rows)
        throw std::runtime_error("forward returned a tensor of shape " + c10::str(o.sizes()) +
                                 ", not [rows, classes] or [rows, positions, classes] with rows = " +
                                 std::to_string(rows));
    o = o.to(at::kFloat).contiguous();
    if (m->device >= 0) {
        device_wait(m, "the forward on the GPU");
        o = o.to(at::kCPU);
    }
    return o;
}

at::Tensor run(nnfi_model *m, const float *input, int64_t rows)
{
    begin_forward(m);
    c10::InferenceMode guard;
    at::manual_seed(m->seed);
    at::Tensor x = input_tensor(m, input, rows);
    m->rows = rows;
    m->hook_st = NNFI_OK;
    bool discovering = m->mode == Mode::Discover;
    ActiveModel active(discovering || m->hook ? m : nullptr);
    if (m->hook && !discovering) {
        std::fill(m->counts.begin(), m->counts.end(), 0u);
        m->counts[0] = 1;
        nnfi_status st = m->hook(m->user, 0, x.data_ptr(), (uint64_t)rows, 0);
        if (st != NNFI_OK) {
            m->hook_st = st;
            throw HookAbort();
        }
    }
    c10::IValue out = call_guarded(m, [&] { return m->module.forward({x}); });
    return logits_of(m, out, rows);
}

namespace {

/* ---- the table -------------------------------------------------------- */

void torch_close(nnfi_model *m)
{
    try {
        delete m;
    } catch (...) {
    }
}

/* The device decision (torch_device.cpp), before any site exists. */
nnfi_status place_on_device(nnfi_model *m, const nnfi_model_cfg *cfg, const char *mname)
{
    bool quantized = cfg->device != NNFI_DEVICE_CPU && has_packed_params(m->module);
    NNFI_TRY(choose_device(cfg, mname, quantized, &m->device));
    if (m->device >= 0) m->module.to(at::Device(at::kCUDA, (c10::DeviceIndex)m->device));
    return NNFI_OK;
}

void set_facts(nnfi_model *m)
{
    std::string q;
    for (const auto &p : m->packed) q += (q.empty() ? "" : ",") + (p->path.empty() ? std::string("(top)") : p->path);
    m->facts = build_facts(m->device, m->threads, q);
    m->facts_c.clear();
    for (const std::string &f : m->facts) m->facts_c.push_back(f.c_str());
    m->facts_c.push_back(nullptr);
}

nnfi_status open_impl(const nnfi_model_cfg *cfg, const char *base_dir, uint64_t seed, nnfi_model **out)
{
    const char *mname = cfg->name ? cfg->name : "?";
    if (!cfg->path || !*cfg->path)
        return NNFI_FAIL(NNFI_E_INVALID, "torch host: model '%s' has no path\n"
                         "  hint: set models[].path to a TorchScript file written by torch.jit.save", mname);
    NNFI_TRY(check_device_request(cfg, mname));
    std::string path = cfg->path;
    if (path[0] != '/' && base_dir && *base_dir) path = std::string(base_dir) + "/" + path;
    struct stat sb;
    const char *why = nullptr;
    if (stat(path.c_str(), &sb) != 0) why = std::strerror(errno);
    else if (!S_ISREG(sb.st_mode)) why = "not a regular file";
    if (why)
        return NNFI_FAIL(NNFI_E_IO, "torch host: cannot open model file '%s': %s\n"
                         "  hint: a relative models[].path is taken from the campaign file's directory (%s); "
                         "write the model with torch.jit.save(torch.jit.script(model), path)",
                         path.c_str(), why, base_dir && *base_dir ? base_dir : ".");
    bool pin_qengine = false;
    c10::QEngine qengine = c10::QEngine::NoQEngine;
    NNFI_TRY(choose_qengine(cfg->qengine, mname, &pin_qengine, &qengine));
    nnfi_model *m = new nnfi_model;
    m->path = path;
    m->seed = seed;
    m->threads = cfg->threads ? cfg->threads : 1;
    m->pin_qengine = pin_qengine;
    m->qengine = qengine;
    pin_settings(m->threads, m->pin_qengine, m->qengine, true); /* before load: packed quantized weights depend on the engine */
    try {
        m->module = torch::jit::load(path);
    } catch (const std::exception &e) {
        std::string msg = torch_message(e);
        torch_close(m);
        return NNFI_FAIL(NNFI_E_BACKEND, "torch host: cannot load '%s' as a TorchScript module: %s\n"
                         "  hint: save the model with torch.jit.save(torch.jit.script(model), path) "
                         "(torch 1.13 or older format); is the file complete?", path.c_str(), msg.c_str());
    }
    nnfi_status st = NNFI_OK;
    try {
        m->module.eval();
        st = place_on_device(m, cfg, mname);
        if (st == NNFI_OK) st = read_input_shape(m, cfg);
        if (st == NNFI_OK) st = resolve_ops(m, cfg);
        if (st == NNFI_OK) {
            add_param_buffer_sites(m);
            rewrite(m);
            st = discover_sites(m);
        }
    } catch (const std::exception &e) {
        std::string msg = torch_message(e), shape = "[N";
        for (int64_t d : m->input_shape) shape += ", " + std::to_string(d);
        shape += "]";
        const char *dtype = c10::toString(m->input_st);
        torch_close(m);
        return NNFI_FAIL(NNFI_E_BACKEND, "torch host: %s: a discovery forward on a dummy batch failed: %s\n"
                         "  hint: the model must take [N] + the eval set's per-sample shape (%s here) in the eval "
                         "images' dtype (%s here; 'nnfi sites MODEL.pt --input-shape C,H,W --input-dtype int64' for "
                         "a model alone) and return logits [N, classes] or [N, positions, classes]",
                         path.c_str(), msg.c_str(), shape.c_str(), dtype);
    }
    if (st != NNFI_OK) {
        torch_close(m);
        return st;
    }
    find_cuts(m); /* never fails the open: without usable cuts a model runs whole */
    build_info(m);
    m->info += "; cuts: " + cuts_note(m);
    if (!m->unfused.empty()) {
        m->info += "; fused fast paths switched off (models[].fused: false):";
        for (const std::string &u : m->unfused) m->info += " " + u;
    }
    set_facts(m);
    *out = m;
    return NNFI_OK;
}

nnfi_status torch_open(const nnfi_model_cfg *cfg, const char *base_dir, uint64_t seed, nnfi_model **out)
{
    if (!out) return NNFI_FAIL(NNFI_E_INVALID, "torch host: open without an output pointer");
    *out = nullptr;
    if (!cfg) return NNFI_FAIL(NNFI_E_INVALID, "torch host: open without a model configuration");
    try {
        return open_impl(cfg, base_dir, seed, out);
    } catch (const std::bad_alloc &) {
        return NNFI_FAIL(NNFI_E_NOMEM, "torch host: out of memory opening '%s'", cfg->path ? cfg->path : "?");
    } catch (const std::exception &e) {
        return NNFI_FAIL(NNFI_E_BACKEND, "torch host: opening '%s' failed: %s\n  hint: see the message above",
                         cfg->path ? cfg->path : "?", torch_message(e).c_str());
    }
}

size_t torch_n_sites(const nnfi_model *m) { return m->sites.size(); }
const nnfi_site *torch_sites(const nnfi_model *m) { return m->sites.data(); }
uint32_t torch_n_classes(const nnfi_model *m) { return m->classes; }
uint32_t torch_positions(const nnfi_model *m) { return m->positions; }
uint64_t torch_input_numel(const nnfi_model *m) { return m->input_numel; }

nnfi_status torch_set_hook(nnfi_model *m, nnfi_site_hook hook, void *user)
{
    m->hook = hook;
    m->user = user;
    return NNFI_OK;
}

/* One forward (`body` returns its logits [rows, C] on the CPU) with the
 * errors of a forward mapped to statuses; `what` names it in messages. */
nnfi_status guarded_forward(nnfi_model *m, uint64_t rows, float *logits, const char *what,
                            const std::function<at::Tensor()> &body)
{
    m->hook_st = NNFI_OK;
    try {
        at::Tensor o = body();
        bool per_position = m->positions > 1 || o.dim() == 3;
        if (o.dim() != (per_position ? 3 : 2) || o.size(o.dim() - 1) != (int64_t)m->classes ||
            (per_position && o.size(1) != (int64_t)m->positions))
            return NNFI_FAIL(NNFI_E_BACKEND, "torch host: %s: %s returned logits of shape %s, [N, %s%u] at discovery\n"
                             "  hint: the output shape must not depend on the batch",
                             m->path.c_str(), what, c10::str(o.sizes()).c_str(),
                             per_position ? (std::to_string(m->positions) + ", ").c_str() : "", m->classes);
        std::memcpy(logits, o.data_ptr(), (size_t)rows * m->positions * m->classes * sizeof(float));
        return NNFI_OK;
    } catch (const std::bad_alloc &) {
        return NNFI_FAIL(NNFI_E_NOMEM, "torch host: out of memory in a %s of %llu rows\n"
                         "  hint: lower eval.batch", what, (unsigned long long)rows);
    } catch (const RepackError &e) {
        return NNFI_FAIL(NNFI_E_BACKEND, "torch host: %s of '%s': %s\n"
                         "  hint: the quantized engine refuses some faulty quantization parameters (e.g. a zero "
                         "point out of range, a scale that is not finite and positive): count the trial as failed",
                         what, m->path.c_str(), e.what());
    } catch (const std::exception &e) {
        if (m->hook_st != NNFI_OK) return m->hook_st; /* the hook recorded its message */
        if (shadows_faulty(m))
            return NNFI_FAIL(NNFI_E_BACKEND, "torch host: %s of '%s' (%llu rows) with faulty quantized weights or "
                             "quantization parameters failed: %s\n"
                             "  hint: the quantized engine refuses some faulty values (e.g. a scale that is not finite "
                             "and positive): count the trial as failed",
                             what, m->path.c_str(), (unsigned long long)rows, torch_message(e).c_str());
        return NNFI_FAIL(NNFI_E_BACKEND, "torch host: %s of '%s' (%llu rows) failed: %s\n"
                         "  hint: check that the input shape (%s) is what the model expects%s",
                         what, m->path.c_str(), (unsigned long long)rows, torch_message(e).c_str(),
                         c10::str(c10::IntArrayRef(m->input_shape)).c_str(),
                         m->packed.empty() && m->attrs.empty()
                             ? ""
                             : "; in a quantized model a faulty buffer (e.g. a scale) can also make an operator "
                               "refuse to run: count the trial as failed");
    }
}

nnfi_status check_rows(uint64_t rows, uint64_t per_row)
{
    if (rows > (uint64_t)INT64_MAX / (per_row ? per_row : 1))
        return NNFI_FAIL(NNFI_E_INVALID, "torch host: batch of %llu rows is too large", (unsigned long long)rows);
    return NNFI_OK;
}

nnfi_status torch_forward(nnfi_model *m, const float *input, uint64_t rows, float *logits)
{
    if (rows == 0) return NNFI_OK;
    NNFI_TRY(check_rows(rows, m->input_numel));
    return guarded_forward(m, rows, logits, "forward", [&] { return run(m, input, (int64_t)rows); });
}

/* ---- prefix reuse (torch_cuts.cpp) ------------------------------------ */

uint32_t torch_n_cuts(const nnfi_model *m) { return n_cuts_impl(m); }
uint64_t torch_cut_bytes(const nnfi_model *m, uint32_t c) { return cut_bytes_impl(m, c); }
int32_t torch_site_cut(const nnfi_model *m, uint32_t site) { return site_cut_impl(m, site); }
int32_t torch_site_value_cut(const nnfi_model *m, uint32_t site) { return site_value_cut_impl(m, site); }

nnfi_status torch_forward_capture(nnfi_model *m, const float *input, uint64_t rows, float *logits, void *const *out)
{
    for (uint32_t c = 0; out && c < n_cuts_impl(m); c++)
        if (out[c] && cut_bytes_impl(m, c) == 0)
            return NNFI_FAIL(NNFI_E_INVALID, "torch host: %s: capture of cut %u, which cannot be used (cut_bytes 0)\n"
                             "  hint: pass NULL for cuts with cut_bytes 0 (nnfi_host_torch_info says why they are "
                             "unusable)", m->path.c_str(), c);
    if (rows == 0) return NNFI_OK;
    NNFI_TRY(check_rows(rows, m->input_numel));
    return guarded_forward(m, rows, logits, "capture forward",
                           [&] { return capture_forward(m, input, (int64_t)rows, out); });
}

nnfi_status torch_forward_from(nnfi_model *m, uint32_t c, const void *live, uint64_t rows, float *logits)
{
    uint64_t bytes = cut_bytes_impl(m, c);
    if (bytes == 0)
        return NNFI_FAIL(NNFI_E_INVALID, "torch host: %s: forward from cut %u, which %s\n"
                         "  hint: use a cut with cut_bytes > 0 (nnfi_host_torch_info lists why a cut is unusable)",
                         m->path.c_str(), c, c < n_cuts_impl(m) ? "cannot be used (cut_bytes 0)" : "does not exist");
    if (rows == 0) return NNFI_OK;
    NNFI_TRY(check_rows(rows, bytes));
    std::string what = "forward from cut " + std::to_string(c);
    return guarded_forward(m, rows, logits, what.c_str(), [&] { return resume_forward(m, c, live, (int64_t)rows); });
}

const char *const *torch_facts(const nnfi_model *m) { return m->facts_c.data(); }

const nnfi_model_host torch_host = {
    NNFI_MODEL_HOST_ABI,
    sizeof(nnfi_model_host),
    "torch",
    torch_open,
    torch_n_sites,
    torch_sites,
    torch_n_classes,
    torch_input_numel,
    torch_set_hook,
    torch_forward,
    torch_close,
    nullptr, /* builtin_eval: a torch model needs an eval file */
    torch_facts,
    torch_n_cuts,
    torch_cut_bytes,
    torch_site_cut,
    torch_forward_capture,
    torch_forward_from,
    torch_site_value_cut,
    torch_positions,
};

} // namespace
} // namespace nnfi_torch

/* the only symbols the library exports (it is built with hidden visibility) */
#define NNFI_TORCH_EXPORT __attribute__((visibility("default")))

extern "C" NNFI_TORCH_EXPORT const nnfi_model_host *nnfi_host_torch(void) { return &nnfi_torch::torch_host; }

extern "C" NNFI_TORCH_EXPORT const char *nnfi_host_torch_info(const nnfi_model *m) { return m ? m->info.c_str() : ""; }

extern "C" NNFI_TORCH_EXPORT const char *const *nnfi_host_torch_facts(const nnfi_model *m)
{
    static const char *const none[] = {nullptr};
    return m ? m->facts_c.data() : none;
}

extern "C" NNFI_TORCH_EXPORT void nnfi_host_torch_get_stats(const nnfi_model *m, nnfi_host_torch_stats *out)
{
    if (!out) return;
    std::memset(out, 0, sizeof *out);
    if (m) *out = m->stats;
}

extern "C" NNFI_TORCH_EXPORT nnfi_status nnfi_host_torch_read_live(const nnfi_model *m, uint32_t site, void *out)
{
    if (!m || !out) return NNFI_FAIL(NNFI_E_INVALID, "torch host: read_live without a model or an output buffer");
    try {
        c10::InferenceMode guard;
        return nnfi_torch::read_live_impl(m, site, out);
    } catch (const std::exception &e) {
        return NNFI_FAIL(NNFI_E_BACKEND, "torch host: reading site %u back failed: %s\n  hint: see the message",
                         site, nnfi_torch::torch_message(e).c_str());
    }
}
