/* torch_internal.h - private to src/plugins/host_torch: struct nnfi_model (the
 * torch host's model) and what its TUs share. Includes the JIT's module
 * header, so every TU that includes it costs several seconds to compile: keep
 * their number small (host_torch.cpp, torch_graph.cpp, torch_params.cpp,
 * torch_quant.cpp, torch_cuts.cpp) and put code that needs no model in torch_env.h's TUs.
 *
 * Who does what (each file's opening comment has the details):
 *   host_torch.cpp    the C ABI: open / close / forward / set_hook, the host
 *                     table, nnfi_host_torch_* exports; one forward (run)
 *   torch_graph.cpp   the TorchScript graph rewrite that inserts nnfi::site
 *                     ops, the op's registration and kernel, the discovery of
 *                     activation/state sites
 *   torch_params.cpp  input, parameter and buffer sites; the info line;
 *                     reading a site back from the model
 *   torch_quant.cpp   int8 quantized weights behind host shadows: unpack,
 *                     expose, repack / restore at the start of a forward
 *   torch_cuts.cpp    prefix reuse: cuts of the top-level graph, the values
 *                     live across them, capture and resumed forwards
 *   torch_facts.cpp   (torch_env.h) versions, threads, BLAS, qengine
 *   torch_device.cpp  (torch_env.h) device auto/cpu/cuda, deterministic cuDNN
 * Internal names live in namespace nnfi_torch; the library is built with
 * hidden visibility, so only host_torch.cpp's extern "C" functions export.
 */
#ifndef NNFI_TORCH_INTERNAL_H
#define NNFI_TORCH_INTERNAL_H

#include "host_torch.h"
#include "torch_env.h"

#include <torch/csrc/jit/api/module.h>

#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace nnfi_torch {

enum class Mode { Discover, Hook };

struct Cuts; /* torch_cuts.cpp */

/* One nnfi::site operator in the rewritten graph (its `id` argument indexes
 * nnfi_model::ops). */
struct OpSite {
    std::string base; /* "<path>.<op>" or "<path>.loop<j>.<var>" */
    std::string suffix; /* output of a multi-output node: ".out", ".h", ".c", ".1", ...; "" otherwise */
    int64_t node = -1;  /* activation: index of the node it follows (outputs of one node share it) */
    nnfi_site_kind kind = NNFI_SITE_ACTIVATION;
    /* discovery */
    int64_t calls1 = 0, calls2 = 0;
    int64_t first = -1; /* order of the first call in discovery run 1 */
    bool bad = false;
    std::string why;
    std::vector<int64_t> sizes; /* run 1 (batch 1) */
    at::Tensor value1;          /* run 1's tensor when dim 0 is not 1 (to tell a folded batch's layout) */
    c10::ScalarType st = c10::ScalarType::Undefined;
    /* where the batch is: dimension bdim of the tensor follows it (the hook
     * gets the tensor with bdim moved to the front), or dim 0 holds `fold`
     * rows per sample, sample-major (e.g. attention's [N * heads, L, S]) */
    int64_t bdim = 0, fold = 1;
    int32_t site = -1; /* index in nnfi_model::sites, -1: not a site */
};

/* A hook (or the watchdog's wait) failed: the forward is aborted and returns
 * nnfi_model::hook_st, whose message is already recorded. */
struct HookAbort : std::exception {
    const char *what() const noexcept override { return "nnfi site hook failed"; }
};

/* Repacking a quantized module's weights from faulty values failed (the
 * quantized engine refused them); forward reports it as such. */
struct RepackError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/* Host memory that stands in for values the model keeps where a site's
 * pointer cannot reach (packed quantized weights, module attributes, int64
 * zero points): `cur` is the site's memory (the injector edits it), `pristine`
 * the values as loaded, `applied` what the model holds now. */
struct Shadow {
    at::Tensor cur, pristine, applied;
    int32_t site = -1; /* index in nnfi_model::sites, -1: not exposed */
    size_t bytes() const { return cur.defined() ? (size_t)cur.numel() * cur.element_size() : 0; }
    bool changed() const { return bytes() && std::memcmp(cur.data_ptr(), applied.data_ptr(), bytes()) != 0; }
    bool is_pristine() const { return !bytes() || std::memcmp(cur.data_ptr(), pristine.data_ptr(), bytes()) == 0; }
    void commit() { if (bytes()) std::memcpy(applied.data_ptr(), cur.data_ptr(), bytes()); }
    void init(const at::Tensor &value) /* contiguous CPU tensor, copied three times */
    {
        cur = value.contiguous().clone();
        pristine = cur.clone();
        applied = cur.clone();
    }
};

/* One packed-params object of a quantized module (Conv{1,2,3}d / Linear
 * PackedParamsBase), held in slot `slot` of `owner`. */
struct Packed {
    std::string path;      /* "conv1", "fc1" (module path without ._packed_params) */
    std::string type_name; /* e.g. __torch__.torch.classes.quantized.LinearPackedParamsBase */
    c10::intrusive_ptr<c10::ivalue::Object> owner;
    size_t slot = 0;
    c10::IValue orig;  /* the object as loaded: restored by re-setting it (bit-exact) */
    c10::IValue state; /* orig.__getstate__(): the template of every repack */
    torch::jit::Function *getstate = nullptr, *setstate = nullptr;
    int w_leaf = -1, b_leaf = -1; /* indices of the weight and bias among the state's tensors */
    bool per_channel = false;
    int64_t axis = 0;
    Shadow w, b, scale, zp; /* int8/uint8 weight, f32 bias, f64 scale(s), i32 zero point(s) */
    bool faulty = false;    /* owner holds a repacked object, not orig */
};

/* A float `scale` or int `zero_point` attribute of a quantized module (its
 * output quantization), exposed as F64 / I32 [1]. */
struct AttrShadow {
    c10::intrusive_ptr<c10::ivalue::Object> owner;
    size_t slot = 0;
    bool is_int = false;
    Shadow v;
};

/* An int64 zero-point buffer (e.g. Quantize's `zero_point`), exposed as I32. */
struct LongShadow {
    at::Tensor target;
    Shadow v;
};

} // namespace nnfi_torch

/* The opaque nnfi_model of nnfi/model_host.h, for the torch host. */
struct nnfi_model {
    torch::jit::Module module;
    int device = -1; /* CUDA ordinal the module lives on, -1 the CPU */
    std::string path;
    std::vector<nnfi_torch::OpSite> ops;
    std::vector<nnfi_site> sites;
    std::vector<c10::ScalarType> site_st; /* per site */
    std::vector<int64_t> site_bdim, site_fold; /* per site: OpSite::bdim / fold (0 / 1 for non-activations) */
    std::vector<std::string> op_kinds; /* qualified operator kinds whose outputs become sites (resolve_ops) */
    bool fused = false;                /* keep the fused transformer kernels (models[].fused) */
    std::vector<std::string> unfused;  /* fused operators whose fast path was switched off */
    std::vector<uint32_t> counts;         /* per site: calls in the current forward */
    std::vector<int64_t> input_shape;     /* per sample */
    uint64_t input_numel = 0;
    c10::ScalarType input_st = c10::ScalarType::Float; /* what forward takes (cfg->input_dtype) */
    uint32_t classes = 0;
    uint32_t positions = 1; /* T of [N, T, C] outputs; 1 for [N, C] */
    uint32_t threads = 1;
    bool pin_qengine = false;
    c10::QEngine qengine = c10::QEngine::NoQEngine;
    uint64_t seed = 0;
    nnfi_site_hook hook = nullptr;
    void *user = nullptr;
    nnfi_torch::Mode mode = nnfi_torch::Mode::Hook;
    int disc_run = 0;
    int64_t disc_order = 0;
    int64_t rows = 0; /* of the running forward */
    nnfi_status hook_st = NNFI_OK;
    std::string info;
    std::vector<std::string> skipped;
    /* quantization state behind shadows (synchronised at the start of every forward) */
    std::vector<std::unique_ptr<nnfi_torch::Packed>> packed;
    std::vector<std::unique_ptr<nnfi_torch::AttrShadow>> attrs; /* scale, zero_point per module */
    std::vector<std::string> attr_paths;                        /* module path per pair of attrs */
    std::vector<std::unique_ptr<nnfi_torch::LongShadow>> longs;
    bool any_shadow = false;
    bool rebuild_packed = false; /* a forward failed: rebuild every packed object at the next sync */
    nnfi_host_torch_stats stats{};
    /* prefix reuse (torch_cuts.cpp; shared_ptr: the type is complete there only) */
    std::shared_ptr<nnfi_torch::Cuts> cuts;
    /* nnfi_host_torch_facts */
    std::vector<std::string> facts;
    std::vector<const char *> facts_c;
};

namespace nnfi_torch {

/* ---- small helpers ---------------------------------------------------- */

inline std::string join(const std::string &path, const std::string &leaf)
{
    return path.empty() ? leaf : path + "." + leaf;
}

inline bool ends_with(const std::string &s, const std::string &suffix)
{
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/* ---- host_torch.cpp --------------------------------------------------- */

/* The message of a torch exception in one line (no C++ backtrace; for an
 * error raised inside the TorchScript interpreter its last line). */
std::string torch_message(const std::exception &e);

/* One forward on `rows` samples (hook or discovery as m->mode says); the
 * output tensor [rows, C] or [rows, T, C] (float32, on the CPU). Throws on
 * failure. */
at::Tensor run(nnfi_model *m, const float *input, int64_t rows);

/* The parts of run() that torch_cuts.cpp's forwards share:
 *   begin_forward  re-pin threads/engine, count the forward, sync the shadows
 *                  (before the InferenceMode guard)
 *   input_tensor   [rows] + input_shape from a copy of `input`, converted to
 *                  the model's input dtype (m->input_st), on its device
 *   call_guarded   runs `call` (the graph); on failure marks packed params for
 *                  a rebuild and rethrows
 *   logits_of      the graph's output (a tuple: its first element) as float32
 *                  [rows, C] or [rows, T, C] on the CPU, after the device's work
 *   device_wait    the watchdog's wait; aborts the forward (HookAbort) with
 *                  its status */
void begin_forward(nnfi_model *m);
at::Tensor input_tensor(nnfi_model *m, const float *input, int64_t rows);
c10::IValue call_guarded(nnfi_model *m, const std::function<c10::IValue()> &call);
at::Tensor logits_of(nnfi_model *m, c10::IValue out, int64_t rows);
void device_wait(nnfi_model *m, const char *what);

/* ---- torch_graph.cpp -------------------------------------------------- */

/* Makes m the model whose nnfi::site ops call back on this thread (NULL: the
 * fault-free path) for the lifetime of the object; restores the previous. */
class ActiveModel {
public:
    explicit ActiveModel(nnfi_model *m);
    ~ActiveModel();
    ActiveModel(const ActiveModel &) = delete;
    ActiveModel &operator=(const ActiveModel &) = delete;

private:
    nnfi_model *prev_;
};

/* m->op_kinds and m->fused from cfg (ops: "default", "NS::NAME", "NAME" =
 * aten::NAME); NNFI_E_CONFIG naming the model and the operator when libtorch
 * has no operator of that kind. */
nnfi_status resolve_ops(nnfi_model *m, const nnfi_model_cfg *cfg);

/* Inlines forward's graph, switches off fused fast paths (unless m->fused)
 * and inserts the nnfi::site ops (m->ops). Before the first forward. */
void rewrite(nnfi_model *m);

/* Two discovery forwards (batch 1 and 2) -> live activation/state sites
 * appended to m->sites, m->classes. */
nnfi_status discover_sites(nnfi_model *m);

/* ---- torch_params.cpp ------------------------------------------------- */

/* The site dtype of a tensor's scalar type (quantized: its integer storage). */
bool map_dtype(c10::ScalarType st, nnfi_dtype *dt);

/* Adds a PARAM/BUFFER site over t's memory; its index, or -1 (skipped, listed). */
int32_t add_tensor_site(nnfi_model *m, const std::string &name, nnfi_site_kind kind, const at::Tensor &t);

/* The "input" site from the module's input_shape attribute (default [1, 28, 28]). */
nnfi_status read_input_shape(nnfi_model *m, const nnfi_model_cfg *cfg);

/* Parameter and buffer sites in their order, quantized ones included
 * (torch_quant.cpp's shadows). */
void add_param_buffer_sites(nnfi_model *m);

/* m->info, the line of nnfi_host_torch_info. */
void build_info(nnfi_model *m);

/* nnfi_host_torch_read_live without the argument checks. */
nnfi_status read_live_impl(const nnfi_model *m, uint32_t site, void *out);

/* ---- torch_quant.cpp -------------------------------------------------- */

/* Is `qualified_name` a packed-params class (Conv2d/Conv3d/Linear)? */
bool is_packed_type(const std::string &qualified_name);

/* Does any module hold quantized packed weights (CPU engines only)? */
bool has_packed_params(const torch::jit::Module &mod);

/* PARAM sites over shadows of every packed weight and bias; remembers the
 * modules' output scale / zero point attributes. */
void find_quantized(nnfi_model *m);

/* An int64 zero-point buffer: an I32 shadow BUFFER site, or skipped. */
void add_long_shadow(nnfi_model *m, const std::string &name, const at::Tensor &t);

/* BUFFER sites: packed weights' scale and zero point, then the modules'
 * output scale and zero point attributes. */
void add_quantized_buffer_sites(nnfi_model *m);

/* Start of every forward: make the model hold what the shadows hold. */
void sync_shadows(nnfi_model *m);

/* Does any shadow hold other values than the loaded ones (for messages)? */
bool shadows_faulty(const nnfi_model *m);

/* Read-back of a shadowed site from the model: true (and *st) when `site` is
 * one, false for any other site. */
bool read_live_shadow(const nnfi_model *m, uint32_t site, void *out, nnfi_status *st);

/* ---- torch_cuts.cpp --------------------------------------------------- */

/* After discover_sites: the cuts, each site's cut, the live values' layouts
 * (one capture forward on a dummy batch). Never fails: problems leave no cut
 * or unusable cuts, told by cuts_note. */
void find_cuts(nnfi_model *m);

/* "N (K usable)[, cut i: why unusable]..." for the info line. */
std::string cuts_note(const nnfi_model *m);

uint32_t n_cuts_impl(const nnfi_model *m);
uint64_t cut_bytes_impl(const nnfi_model *m, uint32_t c);
int32_t site_cut_impl(const nnfi_model *m, uint32_t site);
/* site_value_cut: the cut whose single live tensor is exactly what the hook
 * gets for activation site `site` (its input, before its faults; contiguous,
 * the site's dtype and numel), on the CPU only; else -1. */
int32_t site_value_cut_impl(const nnfi_model *m, uint32_t site);

/* forward_capture / forward_from without the status mapping: the logits
 * [rows, C] on the CPU; throw on failure. resume_forward needs cut_bytes(c) > 0. */
at::Tensor capture_forward(nnfi_model *m, const float *input, int64_t rows, void *const *out);
at::Tensor resume_forward(nnfi_model *m, uint32_t c, const void *live, int64_t rows);

} // namespace nnfi_torch

#endif /* NNFI_TORCH_INTERNAL_H */
