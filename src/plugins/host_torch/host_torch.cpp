/* host_torch.cpp - the `torch` model host: TorchScript models run by libtorch
 * (Debian's 1.13.1, CPU) behind the C table of nnfi/model_host.h.
 *
 * This is the only translation unit that includes torch headers (one torch TU
 * compiles in ~10 s). Everything follows the `null` host's lifecycle
 * (src/host/host_null.c); what is torch-specific:
 *
 * open(cfg, base_dir, seed)
 *   - cfg->path is relative to base_dir unless absolute. A missing file is
 *     NNFI_E_IO, a file torch::jit::load refuses is NNFI_E_BACKEND; both name
 *     the path and end with a hint.
 *   - intra-op threads = cfg->threads (0 -> 1); quantized engine = cfg->qengine
 *     ("qnnpack", "onednn", "fbgemm", "x86", "none"), default qnnpack when this
 *     libtorch has it. Both are pinned BEFORE torch::jit::load (the load-time
 *     engine changes quantized outputs; at::set_num_threads also sizes the
 *     pthreadpool QNNPACK runs on) and re-pinned by a forward that finds them
 *     changed, since both are process-wide settings another model could change.
 *     OpenBLAS's own thread pool (one thread per core, not sized by
 *     at::set_num_threads) is pinned to the same count when the process has
 *     OpenBLAS (found with dlsym at run time; Debian's libopenblas0-pthread as
 *     the system BLAS).
 *   - device: `cuda` puts the module on a GPU (an error when this libtorch has
 *     no CUDA or no device is visible), `auto` does so when one is available
 *     and the model is not quantized (the quantized engines run on the CPU),
 *     `cpu` never. The GPU is local rank mod visible devices (topology.h),
 *     logged once per rank. On a GPU: cuDNN deterministic, no benchmark
 *     autotuning, no TF32, so reruns give the same bits; parameter and
 *     activation sites hold device pointers (nnfi_site.device >= 0), which
 *     makes the worker pick the `cuda` injection backend; the input is copied
 *     to the device before its site is called; the logits come back after a
 *     wait with the watchdog's deadline (a hung forward is NNFI_E_TIMEOUT).
 *   - the module is put in eval mode; it is never frozen (parameters must stay
 *     parameters so that faults written through their pointers are seen).
 *
 * Sites, in this order:
 *   "input"                    INPUT       the per-sample input shape
 *   named_parameters(recurse)  PARAM       e.g. "conv1.weight"
 *   named_buffers(recurse)     BUFFER      e.g. "bn1.running_mean"
 *   activations and states     ACTIVATION / STATE, in the order of their first
 *                                          call in a forward
 *   Parameters/buffers map float32/16/bf16/64, int8, uint8, int32 (and qint8,
 *   quint8, qint32 through their integer storage); others (int64, bool) and
 *   non-contiguous tensors are skipped and listed by nnfi_host_torch_info().
 *   A pruned model (prune.remove before scripting) is an ordinary float model:
 *   its weights are dense fp32 PARAM sites whose zeros are plain elements.
 *
 * Quantized modules (sites in the same order: PARAMs after the parameters,
 * BUFFERs after the buffers):
 *   "<m>.weight"             PARAM  int8 (uint8)  the packed int8 weight
 *   "<m>.bias"               PARAM  f32           the packed bias, if any
 *   "<m>.weight.scale"       BUFFER f64 [1] or [C] (per-channel) weight scale(s)
 *   "<m>.weight.zero_point"  BUFFER i32 [1] or [C] weight zero point(s)
 *   "<m>.scale"              BUFFER f64 [1]  output scale  (module attribute)
 *   "<m>.zero_point"         BUFFER i32 [1]  output zero point (attribute)
 *   "<b>.zero_point" int64 buffers (e.g. quant.zero_point of a Quantize
 *                            module)  BUFFER i32 (values must fit)
 *   <m> is the module path with the "._packed_params" parts dropped ("conv1",
 *   "fc1" for fc1._packed_params._packed_params). Found by walking every
 *   module's attributes: objects of the custom classes Conv2d/Conv3d/Linear
 *   PackedParamsBase whose state (__getstate__) holds a per-tensor or
 *   per-channel qint8/quint8 weight, and modules with a float `scale` and an
 *   int `zero_point` attribute. (fp16 / embedding packed params are skipped.)
 *   Why copies: the weights are not parameters, and the kernels read a
 *   prepacked form made inside the packed object (QNNPACK: at the first
 *   forward), so a write into the unpacked weight is never seen. Each of these
 *   sites therefore points at HOST MEMORY, a "shadow" of the model's value
 *   (struct Shadow: cur = the site's memory, pristine = as loaded, applied =
 *   what the model holds now). At the START OF EVERY FORWARD (sync_shadows,
 *   hook or not, before the graph runs) the host makes the model hold what the
 *   shadows hold:
 *     - packed params whose weight/bias/scale/zero point shadows all equal the
 *       loaded values again: the SAVED packed object is re-set into its slot
 *       (no repack; bit-exact: it is the object that was loaded);
 *     - packed params whose shadows differ from what the model holds: ONE
 *       repack for the tensor, however many of its elements changed: a copy of
 *       the saved object gets __setstate__(the saved state with the weight
 *       rebuilt from the shadows by _make_per_{tensor,channel}_quantized_tensor
 *       and the bias replaced) and is set into the slot. The saved object is
 *       never modified;
 *     - attributes are set (setSlot) and int64 zero points written.
 *   Without changes this costs one memcmp per shadow (qcnn: ~2 x 1 MB, about
 *   0.15 ms against a 75 ms forward of 256 rows). So the injector needs no
 *   notion of "commit": it writes a fault through `data` at arm() and restores
 *   it at disarm(), and the next forward sees the model it describes. An edit
 *   is visible to the model only from the next forward on (it must not happen
 *   during a forward: the worker's parameter faults never do).
 *   Engine semantics a campaign should know (QNNPACK): the kernels keep scales
 *   as float (low bits of an f64 scale may be lost) and a weight zero point as
 *   uint8 (zero_point + 128 mod 256: bits above 7 of a weight zero point have
 *   no effect); a scale that makes a requantization scale negative, zero or not
 *   finite, or a zero point out of range, makes the quantized op throw: the
 *   forward fails with a message naming the refusal (the worker counts the
 *   trial as failed / DUE). Measured here: such a failed op can leave the
 *   packed object it ran with changed (its cached packing), so that the saved
 *   object no longer gives the golden logits; after ANY failed forward of a
 *   model with packed params the host therefore rebuilds every packed object
 *   from its saved state (__setstate__ on a copy, as torch::jit::load made
 *   it) at the next forward, which restores the golden logits bit-exactly.
 *   nnfi_host_torch_read_live() reads a site's value back from the model (for
 *   packed params: __getstate__ of the object installed now), which is how the
 *   tests show that a fault changes that value and nothing else;
 *   nnfi_host_torch_get_stats() counts repacks, restores, rebuilds and their
 *   time.
 *
 * Activation and state sites: before the first forward the forward graph is
 * inlined (torch::jit::Inline) and the operator nnfi::site(x, id) is inserted
 *   - after every node whose kind is in kActivationOps (conv, linear, matmul,
 *     batch/layer norm, activation functions, quantize_per_tensor and the
 *     quantized:: conv/linear/add ops), named "<module path>.<op>#<k>":
 *     module path from the node's inlined call stack ("" at top level, then no
 *     leading dot), op = the node kind without namespace, k = 0,1,.. among live
 *     sites with the same "<path>.<op>" in call order. Examples: "conv1.conv2d#0",
 *     "relu#1" (F.relu in forward itself), "fc.linear#0".
 *   - at the top of the body of every prim::Loop, on each loop-carried tensor
 *     (the membrane potentials of a scripted SNN time loop), kind STATE, named
 *     "<module path>.loop<j>.<var>" where j numbers the loops that carry a
 *     tensor in graph order and var is the variable's name in the source (the
 *     loop's initial value), e.g. "loop0.mem1"; "#k" is appended only if two
 *     would collide. Called once per time step, in step order; t = step.
 *   The rewrite must happen before the first forward: the executor caches an
 *   optimized copy of the graph on the first call and ignores later edits.
 *   Two discovery forwards (batch 1, then batch 2, deterministic input) find
 *   the live sites (a site in an untaken branch is never called and is not
 *   reported), their per-sample shape and dtype (shape without dim 0, which
 *   must follow the batch), n_classes, and the site order. Sites whose tensor
 *   has no batch dimension, changes shape between calls, or has an unmapped
 *   dtype are skipped (see nnfi_host_torch_info).
 *   Quantized activations (quint8/qint8/qint32) are sites of dtype U8/I8/I32:
 *   the hook edits the integer storage in place.
 *
 * The operator's kernel: a thread-local pointer names the model whose forward
 * is running; it is NULL while the hook is NULL, so the fault-free path costs
 * one operator dispatch and a TLS load per site. With a hook, the kernel
 * counts the site's calls in this forward (t; every counter resets at the start
 * of forward), checks the tensor against the discovered dtype/shape, and calls
 * hook(user, site, data, rows, t) on its contiguous storage: in place for a
 * contiguous tensor; for a strided one (e.g. channels-last quantized conv
 * output) on a contiguous copy written back into the original, so the layout
 * (and the fault-free arithmetic) never changes. A STATE tensor is cloned
 * first: the initial value of a loop-carried tensor may be a buffer or a
 * constant, and an edit must not outlive the forward. The op is registered
 * with AliasAnalysisKind::CONSERVATIVE so the JIT neither removes nor
 * reorders it. A hook that fails aborts the forward; forward returns the
 * hook's status with the hook's message.
 *
 * Input shape: per sample [1, 28, 28] unless the top module has an attribute
 * `input_shape` (List[int] or Tuple[int, ...], without the batch dimension),
 * e.g. `self.input_shape: List[int] = [3, 32, 32]` in __init__ before scripting.
 * forward() builds a float32 tensor [rows] + input_shape from a copy of the
 * caller's input (never edited) and expects a float32 (or quantized, then
 * dequantized) tensor [rows, n_classes] back, or a tuple whose first element
 * is one.
 *
 * Randomness: the default CPU generator is seeded with the campaign seed at the
 * start of every forward, so a model that draws random numbers in forward
 * (rate-coded SNN input) sees the same numbers in golden and faulty runs of the
 * same batch (reproducible when one model runs forwards at a time).
 *
 * Facts (nnfi_host_torch_facts): "key=value" strings fixed at open for the
 * golden run's provenance: torch version, qengine, intra-op / inter-op / BLAS
 * threads, parallel backend, CPU capability, BLAS_INFO/LAPACK_INFO of the
 * build (at::show_config) and the BLAS library actually mapped
 * (/proc/self/maps, symlinks resolved), the quantized modules exposed.
 */
#include "host_torch.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <torch/csrc/jit/passes/inliner.h>
#include <torch/cuda.h>
#include <torch/script.h>
#include <torch/version.h>

#include "nnfi/topology.h"
#include "nnfi/watchdog.h" /* nnfi_device_stream_wait: the watchdog's wait for the forward */

#include <dlfcn.h>
#include <sys/stat.h>

#include <climits>
#include <cstdlib>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <memory>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using torch::jit::Node;
using torch::jit::Value;

/* Node kinds after which an activation site is inserted. */
const char *const kActivationOps[] = {
    "aten::conv1d", "aten::conv2d", "aten::conv3d", "aten::_convolution", "aten::convolution",
    "aten::conv_transpose1d", "aten::conv_transpose2d", "aten::conv_transpose3d",
    "aten::linear", "aten::addmm", "aten::matmul",
    "aten::batch_norm", "aten::layer_norm", "aten::group_norm",
    "aten::relu", "aten::relu_", "aten::relu6", "aten::leaky_relu", "aten::leaky_relu_",
    "aten::gelu", "aten::silu", "aten::sigmoid", "aten::tanh", "aten::elu", "aten::hardtanh",
    "aten::hardtanh_", "aten::hardswish", "aten::softplus",
    "aten::quantize_per_tensor",
    "quantized::conv1d", "quantized::conv2d", "quantized::conv3d",
    "quantized::conv1d_relu", "quantized::conv2d_relu", "quantized::conv3d_relu",
    "quantized::conv_transpose1d", "quantized::conv_transpose2d",
    "quantized::linear", "quantized::linear_relu", "quantized::linear_dynamic",
    "quantized::add", "quantized::add_relu", "quantized::mul", "quantized::batch_norm2d",
};

enum class Mode { Discover, Hook };

/* One nnfi::site operator in the rewritten graph (its `id` argument indexes
 * nnfi_model::ops). */
struct OpSite {
    std::string base; /* "<path>.<op>" or "<path>.loop<j>.<var>" */
    nnfi_site_kind kind = NNFI_SITE_ACTIVATION;
    /* discovery */
    int64_t calls1 = 0, calls2 = 0;
    int64_t first = -1; /* order of the first call in discovery run 1 */
    bool bad = false;
    std::string why;
    std::vector<int64_t> sizes; /* run 1 (batch 1) */
    c10::ScalarType st = c10::ScalarType::Undefined;
    int32_t site = -1; /* index in nnfi_model::sites, -1: not a site */
};

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

} // namespace

struct nnfi_model {
    torch::jit::Module module;
    int device = -1; /* CUDA ordinal the module lives on, -1 the CPU */
    std::string path;
    std::vector<OpSite> ops;
    std::vector<nnfi_site> sites;
    std::vector<c10::ScalarType> site_st; /* per site */
    std::vector<uint32_t> counts;         /* per site: calls in the current forward */
    std::vector<int64_t> input_shape;     /* per sample */
    uint64_t input_numel = 0;
    uint32_t classes = 0;
    uint32_t threads = 1;
    bool pin_qengine = false;
    c10::QEngine qengine = c10::QEngine::NoQEngine;
    uint64_t seed = 0;
    nnfi_site_hook hook = nullptr;
    void *user = nullptr;
    Mode mode = Mode::Hook;
    int disc_run = 0;
    int64_t disc_order = 0;
    int64_t rows = 0; /* of the running forward */
    nnfi_status hook_st = NNFI_OK;
    std::string info;
    std::vector<std::string> skipped;
    /* quantization state behind shadows (synchronised at the start of every forward) */
    std::vector<std::unique_ptr<Packed>> packed;
    std::vector<std::unique_ptr<AttrShadow>> attrs; /* scale, zero_point per module */
    std::vector<std::string> attr_paths;            /* module path per pair of attrs */
    std::vector<std::unique_ptr<LongShadow>> longs;
    bool any_shadow = false;
    bool rebuild_packed = false; /* a forward failed: rebuild every packed object at the next sync */
    nnfi_host_torch_stats stats{};
    /* nnfi_host_torch_facts */
    std::vector<std::string> facts;
    std::vector<const char *> facts_c;
};

namespace {

/* The model whose forward is running on this thread while its hook is set or
 * it is discovering sites; NULL otherwise (the fast path). */
thread_local nnfi_model *tl_model = nullptr;

struct ActiveModel {
    nnfi_model *prev;
    explicit ActiveModel(nnfi_model *m) : prev(tl_model) { tl_model = m; }
    ~ActiveModel() { tl_model = prev; }
    ActiveModel(const ActiveModel &) = delete;
    ActiveModel &operator=(const ActiveModel &) = delete;
};

bool map_dtype(c10::ScalarType st, nnfi_dtype *dt)
{
    switch (st) {
    case c10::ScalarType::Float: *dt = NNFI_DT_F32; return true;
    case c10::ScalarType::Half: *dt = NNFI_DT_F16; return true;
    case c10::ScalarType::BFloat16: *dt = NNFI_DT_BF16; return true;
    case c10::ScalarType::Double: *dt = NNFI_DT_F64; return true;
    case c10::ScalarType::Char: *dt = NNFI_DT_I8; return true;
    case c10::ScalarType::Byte: *dt = NNFI_DT_U8; return true;
    case c10::ScalarType::Int: *dt = NNFI_DT_I32; return true;
    case c10::ScalarType::QInt8: *dt = NNFI_DT_I8; return true;
    case c10::ScalarType::QUInt8: *dt = NNFI_DT_U8; return true;
    case c10::ScalarType::QInt32: *dt = NNFI_DT_I32; return true;
    default: return false;
    }
}

/* The first line of a torch message (what() carries a C++ backtrace). */
std::string first_line(const char *what)
{
    std::string s(what ? what : "");
    size_t nl = s.find('\n');
    if (nl != std::string::npos) s.resize(nl);
    return s;
}

/* The message of a torch exception in one line: the first line, or for an
 * error raised inside the TorchScript interpreter (whose first line only says
 * so) the last line, which names the error, e.g. "RuntimeError: ...". */
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

void discover(nnfi_model *m, OpSite &op, const at::Tensor &x)
{
    if (op.bad) return;
    auto mark = [&op](const char *why) {
        op.bad = true;
        op.why = why;
    };
    if (!x.defined()) return mark("undefined tensor");
    if (m->disc_run == 1) {
        if (op.calls1++ == 0) {
            op.first = m->disc_order++;
            op.sizes = x.sizes().vec();
            op.st = x.scalar_type();
        } else if (x.sizes().vec() != op.sizes || x.scalar_type() != op.st) {
            mark("shape or dtype changes between calls");
        }
        return;
    }
    op.calls2++;
    if (op.calls1 == 0) return; /* only live with 2 rows: not reported */
    auto s = x.sizes();
    if (op.sizes.empty() || op.sizes[0] != 1 || s.size() != op.sizes.size() || s[0] != 2)
        return mark("no batch dimension");
    for (size_t i = 1; i < s.size(); i++)
        if (s[i] != op.sizes[i]) return mark("per-sample shape depends on the batch");
}

at::Tensor call_hook(nnfi_model *m, uint32_t si, const at::Tensor &x)
{
    const nnfi_site &s = m->sites[si];
    if (!x.defined() || x.scalar_type() != m->site_st[si] || x.dim() != s.ndim + 1 || x.size(0) != m->rows ||
        (uint64_t)x.numel() != (uint64_t)m->rows * s.numel)
        throw std::runtime_error(std::string("nnfi torch host: site '") + s.name +
                                 "' got a tensor of another dtype or shape than at discovery");
    uint32_t t = m->counts[si]++;
    /* a state may be the loop's initial value (a buffer, a constant): edit a copy */
    at::Tensor y = s.kind == NNFI_SITE_STATE ? x.clone() : x;
    nnfi_status st;
    if (y.is_contiguous()) {
        st = m->hook(m->user, si, y.data_ptr(), (uint64_t)m->rows, t);
    } else {
        at::Tensor c = y.contiguous();
        st = m->hook(m->user, si, c.data_ptr(), (uint64_t)m->rows, t);
        if (st == NNFI_OK) y.copy_(c); /* keep the original layout */
    }
    if (st != NNFI_OK) {
        m->hook_st = st;
        throw HookAbort();
    }
    return y;
}

/* nnfi::site(Tensor x, int id) -> Tensor */
at::Tensor site_kernel(const at::Tensor &x, int64_t id)
{
    nnfi_model *m = tl_model;
    if (!m) return x; /* no hook: the fault-free path */
    if (id < 0 || (size_t)id >= m->ops.size()) return x;
    OpSite &op = m->ops[(size_t)id];
    if (m->mode == Mode::Discover) {
        discover(m, op, x);
        return x;
    }
    if (op.site < 0) return x;
    return call_hook(m, (uint32_t)op.site, x);
}

} // namespace

TORCH_LIBRARY(nnfi, lib)
{
    lib.def(torch::schema("site(Tensor x, int id) -> Tensor", c10::AliasAnalysisKind::CONSERVATIVE), &site_kernel);
}

namespace {

/* ---- graph rewrite ---------------------------------------------------- */

std::string module_path(const Node *n)
{
    auto cs = n->callstack();
    if (!cs) return "";
    std::string p;
    for (auto &e : (*cs)->vec()) {
        const auto &mi = std::get<2>(e);
        if (!mi) continue;
        std::string name = mi->instance_name();
        if (name.empty() || name == "SELF" || name == "INSTANCE_NAME_UNKNOWN") continue;
        if (!p.empty()) p += ".";
        p += name;
    }
    return p;
}

std::string join(const std::string &path, const std::string &leaf)
{
    return path.empty() ? leaf : path + "." + leaf;
}

bool is_tensor(const Value *v) { return v->type()->isSubtypeOf(*c10::TensorType::get()); }

void collect(torch::jit::Block *b, const std::set<c10::Symbol> &kinds, std::vector<Node *> &acts,
             std::vector<Node *> &loops)
{
    for (Node *n : b->nodes()) {
        if (kinds.count(n->kind()) && n->outputs().size() == 1 && is_tensor(n->output())) acts.push_back(n);
        if (n->kind() == c10::prim::Loop) loops.push_back(n);
        for (torch::jit::Block *sub : n->blocks()) collect(sub, kinds, acts, loops);
    }
}

Value *insert_site(torch::jit::Graph &g, Value *v, int64_t id)
{
    static const c10::Symbol sym = c10::Symbol::fromQualString("nnfi::site");
    Value *s = g.insert(sym, {v, id});
    v->replaceAllUsesWith(s);
    s->node()->replaceInput(0, v); /* the line above redirected our own input too */
    return s;
}

void rewrite(nnfi_model *m)
{
    std::shared_ptr<torch::jit::Graph> g = m->module.get_method("forward").graph();
    torch::jit::Inline(*g);
    std::set<c10::Symbol> kinds;
    for (const char *k : kActivationOps) kinds.insert(c10::Symbol::fromQualString(k));
    std::vector<Node *> acts, loops;
    collect(g->block(), kinds, acts, loops);

    for (Node *n : acts) {
        OpSite op;
        op.base = join(module_path(n), n->kind().toUnqualString());
        op.kind = NNFI_SITE_ACTIVATION;
        torch::jit::WithInsertPoint ip(n->next());
        insert_site(*g, n->output(), (int64_t)m->ops.size());
        m->ops.push_back(op);
    }
    int j = 0;
    for (Node *loop : loops) {
        torch::jit::Block *body = loop->blocks()[0];
        /* body inputs: [iteration, carried...]; loop inputs: [max_trip, cond, initial...] */
        Node *anchor = body->nodes().begin() == body->nodes().end() ? body->return_node() : body->nodes().front();
        bool any = false;
        std::string prefix = join(module_path(loop), "loop" + std::to_string(j));
        for (size_t i = 1; i < body->inputs().size(); i++) {
            Value *p = body->inputs()[i];
            if (!is_tensor(p)) continue;
            Value *init = i + 1 < loop->inputs().size() ? loop->inputs()[i + 1] : nullptr;
            std::string var = init && init->hasDebugName() ? init->debugNameBase()
                              : p->hasDebugName()          ? p->debugNameBase()
                                                           : "v" + std::to_string(i - 1);
            OpSite op;
            op.base = prefix + "." + var;
            op.kind = NNFI_SITE_STATE;
            torch::jit::WithInsertPoint ip(anchor); /* in carried order, before the body */
            insert_site(*g, p, (int64_t)m->ops.size());
            m->ops.push_back(op);
            any = true;
        }
        if (any) j++;
    }
}

/* ---- helpers ---------------------------------------------------------- */

/* Adds a PARAM/BUFFER site over t's memory; its index, or -1 (skipped, listed). */
int32_t add_tensor_site(nnfi_model *m, const std::string &name, nnfi_site_kind kind, const at::Tensor &t)
{
    nnfi_dtype dt;
    if (!t.defined()) return -1;
    if (!map_dtype(t.scalar_type(), &dt)) {
        m->skipped.push_back(name + " (dtype " + std::string(c10::toString(t.scalar_type())) + ")");
        return -1;
    }
    if (!(t.device().is_cpu() || t.device().is_cuda()) || !t.is_contiguous() || t.dim() > NNFI_SITE_MAX_DIMS ||
        name.size() >= NNFI_SITE_NAME_MAX) {
        m->skipped.push_back(name + " (not a contiguous CPU or CUDA tensor of at most 8 dims)");
        return -1;
    }
    for (const nnfi_site &o : m->sites)
        if (name == o.name) {
            m->skipped.push_back(name + " (name taken)");
            return -1;
        }
    nnfi_site s;
    std::memset(&s, 0, sizeof s);
    std::snprintf(s.name, sizeof s.name, "%s", name.c_str());
    s.kind = kind;
    s.dtype = dt;
    s.ndim = (int)t.dim();
    for (int64_t i = 0; i < t.dim(); i++) s.shape[i] = t.size(i);
    s.numel = (uint64_t)t.numel();
    s.data = t.numel() ? t.data_ptr() : nullptr;
    s.device = t.device().is_cuda() ? (int)t.get_device() : -1;
    m->sites.push_back(s);
    m->site_st.push_back(t.scalar_type());
    return (int32_t)m->sites.size() - 1;
}

bool parse_qengine(const char *name, c10::QEngine *out)
{
    static const struct {
        const char *name;
        c10::QEngine e;
    } table[] = {{"qnnpack", c10::QEngine::QNNPACK}, {"onednn", c10::QEngine::ONEDNN},
                 {"fbgemm", c10::QEngine::FBGEMM},   {"x86", c10::QEngine::X86},
                 {"none", c10::QEngine::NoQEngine}};
    for (const auto &e : table)
        if (strcasecmp(name, e.name) == 0) {
            *out = e.e;
            return true;
        }
    return false;
}

std::string qengine_name(c10::QEngine e)
{
    std::string s = c10::toString(e);
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return (char)std::tolower(c); });
    return s == "noqengine" ? "none" : s;
}

std::string supported_qengines()
{
    std::string s;
    for (c10::QEngine e : at::globalContext().supportedQEngines()) {
        if (!s.empty()) s += ", ";
        s += qengine_name(e);
    }
    return s;
}

bool qengine_supported(c10::QEngine e)
{
    const auto &v = at::globalContext().supportedQEngines();
    return std::find(v.begin(), v.end(), e) != v.end();
}

/* OpenBLAS (Debian's libopenblas0-pthread, when it is the system BLAS) runs
 * its own thread pool, one thread per core, which at::set_num_threads does not
 * size: found in the process at run time, it is pinned with the rest. */
struct BlasThreads {
    int (*get)() = nullptr;
    void (*set)(int) = nullptr;
};

const BlasThreads &blas_threads()
{
    static const BlasThreads bt = [] {
        BlasThreads b;
        b.get = reinterpret_cast<int (*)()>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
        b.set = reinterpret_cast<void (*)(int)>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
        return b;
    }();
    return bt;
}

/* Threads and quantized engine are process-wide: pin this model's settings.
 * `force` (at open): at::get_num_threads() reports OpenMP's count only, while
 * QNNPACK runs on caffe2's pthreadpool, which starts with one thread per core
 * and is resized only by at::set_num_threads (measured: the quantized fixture
 * took 56 ms instead of 7 ms per batch of 256 on 2 cores with the default
 * pool and a reported thread count of 1). set_num_threads rebuilds that pool,
 * so forward() calls it only when the count differs. */
void pin_settings(const nnfi_model *m, bool force)
{
    if (force || at::get_num_threads() != (int)m->threads) at::set_num_threads((int)m->threads);
    const BlasThreads &bt = blas_threads();
    if (bt.get && bt.set && (force || bt.get() != (int)m->threads)) bt.set((int)m->threads);
    if (m->pin_qengine && at::globalContext().qEngine() != m->qengine) at::globalContext().setQEngine(m->qengine);
}

/* ---- quantized state behind shadows ----------------------------------- */

bool ends_with(const std::string &s, const std::string &suffix)
{
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool is_packed_type(const std::string &q)
{
    static const char *const names[] = {"__torch__.torch.classes.quantized.Conv2dPackedParamsBase",
                                        "__torch__.torch.classes.quantized.Conv3dPackedParamsBase",
                                        "__torch__.torch.classes.quantized.LinearPackedParamsBase"};
    for (const char *n : names)
        if (q == n) return true;
    return false;
}

/* The tensors of a packed object's state (tuples and lists walked in order;
 * None entries of optional lists are not counted). */
void leaves(const c10::IValue &v, std::vector<at::Tensor> &out)
{
    if (v.isTensor()) {
        out.push_back(v.toTensor());
    } else if (v.isTuple()) {
        for (const c10::IValue &e : v.toTupleRef().elements()) leaves(e, out);
    } else if (v.isList()) {
        for (const c10::IValue &e : v.toListRef()) leaves(e, out);
    }
}

/* A copy of state `v` whose tensors number k (in the order of leaves()) are
 * replaced by repl[k]; lists and tuples are copied, not shared. */
c10::IValue replace_leaves(const c10::IValue &v, int &k, const std::map<int, at::Tensor> &repl)
{
    if (v.isTensor()) {
        auto it = repl.find(k++);
        return it == repl.end() ? v : c10::IValue(it->second);
    }
    if (v.isTuple()) {
        std::vector<c10::IValue> e;
        for (const c10::IValue &x : v.toTupleRef().elements()) e.push_back(replace_leaves(x, k, repl));
        return c10::ivalue::Tuple::create(std::move(e));
    }
    if (v.isList()) {
        c10::List<c10::IValue> l = v.toList().copy();
        for (size_t i = 0; i < l.size(); i++) l.set(i, replace_leaves(l.get(i), k, repl));
        return c10::IValue(l);
    }
    return v;
}

/* A packed-params object found in attribute `attr` (slot `slot`) of the
 * module at `mpath`: keep it, read its state, make the shadows of its weight
 * (and bias); sites for weight and bias now (PARAM), scale and zero point
 * later (BUFFER, add_quantized_buffer_sites). */
void add_packed(nnfi_model *m, const std::string &mpath, const c10::intrusive_ptr<c10::ivalue::Object> &owner,
                size_t slot, const std::string &attr, const c10::IValue &value)
{
    static const std::string pp = "_packed_params";
    std::string path = join(mpath, attr);
    for (;;) { /* conv1._packed_params -> conv1; fc1._packed_params._packed_params -> fc1 */
        if (path == pp) path.clear();
        else if (ends_with(path, "." + pp)) path.resize(path.size() - pp.size() - 1);
        else break;
        if (path.empty()) break;
    }
    auto p = std::make_unique<Packed>();
    p->path = path;
    c10::ClassTypePtr ct = value.toObject()->type();
    p->type_name = ct->name() ? ct->name()->qualifiedName() : "?";
    p->owner = owner;
    p->slot = slot;
    p->orig = value;
    p->getstate = ct->findMethod("__getstate__");
    p->setstate = ct->findMethod("__setstate__");
    const std::string label = join(path, "weight");
    if (!p->getstate || !p->setstate) {
        m->skipped.push_back(label + " (packed " + p->type_name + " has no __getstate__/__setstate__)");
        return;
    }
    p->state = (*p->getstate)(std::vector<c10::IValue>{value});
    std::vector<at::Tensor> lv;
    leaves(p->state, lv);
    for (size_t i = 0; i < lv.size(); i++) {
        if (!lv[i].defined()) continue;
        if (p->w_leaf < 0 && lv[i].is_quantized()) p->w_leaf = (int)i;
        else if (p->b_leaf < 0 && !lv[i].is_quantized() && lv[i].scalar_type() == at::kFloat) p->b_leaf = (int)i;
    }
    if (p->w_leaf < 0) {
        m->skipped.push_back(label + " (packed weights without a quantized tensor, e.g. fp16)");
        return;
    }
    const at::Tensor &qw = lv[(size_t)p->w_leaf];
    at::QScheme qs = qw.qscheme();
    if (qw.scalar_type() != at::kQInt8 && qw.scalar_type() != at::kQUInt8) {
        m->skipped.push_back(label + " (packed weight of dtype " + std::string(c10::toString(qw.scalar_type())) + ")");
        return;
    }
    if (qs == at::kPerTensorAffine || qs == at::kPerTensorSymmetric) {
        p->per_channel = false;
        p->scale.init(at::full({1}, qw.q_scale(), at::kDouble));
        p->zp.init(at::full({1}, qw.q_zero_point(), at::kLong).to(at::kInt));
    } else if (qs == at::kPerChannelAffine || qs == at::kPerChannelSymmetric) {
        p->per_channel = true;
        p->axis = qw.q_per_channel_axis();
        p->scale.init(qw.q_per_channel_scales().to(at::kDouble));
        p->zp.init(qw.q_per_channel_zero_points().to(at::kInt));
    } else {
        m->skipped.push_back(label + " (quantization scheme " + std::string(c10::toString(qs)) + ")");
        return;
    }
    p->w.init(qw.int_repr());
    if (p->b_leaf >= 0) p->b.init(lv[(size_t)p->b_leaf]);
    p->w.site = add_tensor_site(m, label, NNFI_SITE_PARAM, p->w.cur);
    if (p->b.bytes()) p->b.site = add_tensor_site(m, join(path, "bias"), NNFI_SITE_PARAM, p->b.cur);
    m->packed.push_back(std::move(p));
    m->any_shadow = true;
}

/* Every packed-params object (PARAM sites for its weight and bias) and every
 * module with a float `scale` and an int `zero_point` attribute (kept for
 * add_quantized_buffer_sites). */
void find_quantized(nnfi_model *m)
{
    for (const auto &nm : m->module.named_modules()) {
        c10::intrusive_ptr<c10::ivalue::Object> obj = nm.value._ivalue();
        c10::ClassTypePtr t = obj->type();
        int scale_slot = -1, zp_slot = -1;
        for (size_t i = 0; i < t->numAttributes(); i++) {
            const c10::TypePtr &ty = t->getAttribute(i);
            const std::string &an = t->getAttributeName(i);
            const c10::IValue &v = obj->getSlot(i);
            if (auto ct = ty->cast<c10::ClassType>()) {
                if (!ct->is_module() && v.isObject() && ct->name() && is_packed_type(ct->name()->qualifiedName()))
                    add_packed(m, nm.name, obj, i, an, v);
            } else if (an == "scale" && ty->kind() == c10::TypeKind::FloatType && v.isDouble()) {
                scale_slot = (int)i;
            } else if (an == "zero_point" && ty->kind() == c10::TypeKind::IntType && v.isInt()) {
                zp_slot = (int)i;
            }
        }
        if (scale_slot < 0 || zp_slot < 0) continue;
        int64_t zp = obj->getSlot((size_t)zp_slot).toInt();
        if (zp < INT32_MIN || zp > INT32_MAX) {
            m->skipped.push_back(join(nm.name, "zero_point") + " (does not fit int32)");
            continue;
        }
        auto a = std::make_unique<AttrShadow>();
        a->owner = obj;
        a->slot = (size_t)scale_slot;
        a->v.init(at::full({1}, obj->getSlot((size_t)scale_slot).toDouble(), at::kDouble));
        auto z = std::make_unique<AttrShadow>();
        z->owner = obj;
        z->slot = (size_t)zp_slot;
        z->is_int = true;
        z->v.init(at::full({1}, zp, at::kLong).to(at::kInt));
        /* sites named later; remember the module path in the shadow's order */
        m->attr_paths.push_back(nm.name);
        m->attrs.push_back(std::move(a));
        m->attrs.push_back(std::move(z));
    }
}

/* An int64 zero-point buffer: an I32 shadow site, or skipped. */
void add_long_shadow(nnfi_model *m, const std::string &name, const at::Tensor &t)
{
    at::Tensor c = t.contiguous();
    int64_t lo = c.numel() ? c.min().item<int64_t>() : 0, hi = c.numel() ? c.max().item<int64_t>() : 0;
    if (!t.is_contiguous() || lo < INT32_MIN || hi > INT32_MAX) {
        m->skipped.push_back(name + " (int64 zero point that is not contiguous or does not fit int32)");
        return;
    }
    auto l = std::make_unique<LongShadow>();
    l->target = t;
    l->v.init(t.to(at::kInt));
    l->v.site = add_tensor_site(m, name, NNFI_SITE_BUFFER, l->v.cur);
    m->longs.push_back(std::move(l));
    m->any_shadow = true;
}

/* BUFFER sites: packed weights' scale and zero point, then the modules'
 * output scale and zero point attributes. */
void add_quantized_buffer_sites(nnfi_model *m)
{
    for (auto &p : m->packed) {
        p->scale.site = add_tensor_site(m, join(p->path, "weight.scale"), NNFI_SITE_BUFFER, p->scale.cur);
        p->zp.site = add_tensor_site(m, join(p->path, "weight.zero_point"), NNFI_SITE_BUFFER, p->zp.cur);
    }
    for (size_t i = 0; i < m->attrs.size(); i++) {
        AttrShadow &a = *m->attrs[i];
        a.v.site = add_tensor_site(m, join(m->attr_paths[i / 2], a.is_int ? "zero_point" : "scale"), NNFI_SITE_BUFFER,
                                   a.v.cur);
        m->any_shadow = true;
    }
}

double seconds_since(std::chrono::steady_clock::time_point t0)
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/* The packed object rebuilt from the shadows' values: the saved state with
 * the weight (and bias) replaced, set into a copy of the saved object (its
 * __setstate__ repacks for the current engine), installed in the owner. */
void repack(Packed &p)
{
    at::Tensor w = p.w.cur.clone();
    at::Tensor qw = p.per_channel
                        ? at::_make_per_channel_quantized_tensor(w, p.scale.cur.clone(), p.zp.cur.to(at::kLong), p.axis)
                        : at::_make_per_tensor_quantized_tensor(w, p.scale.cur.data_ptr<double>()[0],
                                                                (int64_t)p.zp.cur.data_ptr<int32_t>()[0]);
    std::map<int, at::Tensor> repl;
    repl[p.w_leaf] = qw;
    if (p.b_leaf >= 0) repl[p.b_leaf] = p.b.cur.clone();
    int k = 0;
    c10::IValue st = replace_leaves(p.state, k, repl);
    c10::intrusive_ptr<c10::ivalue::Object> fresh = p.orig.toObject()->copy();
    (*p.setstate)(std::vector<c10::IValue>{c10::IValue(fresh), st});
    p.owner->setSlot(p.slot, c10::IValue(fresh));
    p.faulty = true;
}

/* A new object equal to the loaded one: the saved state set into a copy. */
c10::IValue fresh_packed(const Packed &p)
{
    c10::intrusive_ptr<c10::ivalue::Object> fresh = p.orig.toObject()->copy();
    (*p.setstate)(std::vector<c10::IValue>{c10::IValue(fresh), p.state});
    return c10::IValue(fresh);
}

/* Start of every forward: make the model hold what the shadows hold. A
 * packed object whose shadows all equal the loaded values gets its saved
 * object back (no repack); one that differs is repacked once; attributes and
 * int64 zero points are written. Cost without changes: one memcmp per shadow.
 * After a failed forward every packed object is first rebuilt from its saved
 * state (see the opening comment: a failed quantized op can leave the object
 * it ran with changed). */
void sync_shadows(nnfi_model *m)
{
    if (!m->any_shadow) return;
    auto t0 = std::chrono::steady_clock::now();
    bool rebuild = m->rebuild_packed;
    m->rebuild_packed = false;
    for (auto &pp : m->packed) {
        Packed &p = *pp;
        if (rebuild) {
            try {
                p.orig = fresh_packed(p);
            } catch (const std::exception &e) {
                m->rebuild_packed = true;
                throw RepackError("rebuilding the quantized weights of '" + p.path + "' after a failed forward failed: " +
                                  torch_message(e));
            }
            p.owner->setSlot(p.slot, p.orig);
            p.faulty = false;
            p.w.applied.copy_(p.w.pristine); /* the model now holds the loaded values */
            if (p.b.bytes()) p.b.applied.copy_(p.b.pristine);
            p.scale.applied.copy_(p.scale.pristine);
            p.zp.applied.copy_(p.zp.pristine);
            m->stats.rebuilds++;
        }
        if (!p.w.changed() && !p.b.changed() && !p.scale.changed() && !p.zp.changed()) continue;
        if (p.w.is_pristine() && p.b.is_pristine() && p.scale.is_pristine() && p.zp.is_pristine()) {
            p.owner->setSlot(p.slot, p.orig);
            p.faulty = false;
            m->stats.restores++;
        } else {
            auto t1 = std::chrono::steady_clock::now();
            try {
                repack(p);
            } catch (const std::exception &e) {
                throw RepackError("repacking the quantized weights of '" + p.path + "' (" + p.type_name +
                                  ") with the faulty values failed: " + torch_message(e));
            }
            m->stats.repacks++;
            m->stats.repack_s += seconds_since(t1);
        }
        p.w.commit();
        p.b.commit();
        p.scale.commit();
        p.zp.commit();
    }
    for (auto &ap : m->attrs) {
        AttrShadow &a = *ap;
        if (!a.v.changed()) continue;
        if (a.is_int) a.owner->setSlot(a.slot, c10::IValue((int64_t)a.v.cur.data_ptr<int32_t>()[0]));
        else a.owner->setSlot(a.slot, c10::IValue(a.v.cur.data_ptr<double>()[0]));
        a.v.commit();
        m->stats.writes++;
    }
    for (auto &lp : m->longs) {
        LongShadow &l = *lp;
        if (!l.v.changed()) continue;
        const int32_t *src = l.v.cur.data_ptr<int32_t>();
        int64_t *dst = l.target.data_ptr<int64_t>();
        for (int64_t i = 0; i < l.v.cur.numel(); i++) dst[i] = src[i];
        l.v.commit();
        m->stats.writes++;
    }
    m->stats.sync_s += seconds_since(t0);
}

/* ---- facts ------------------------------------------------------------ */

/* "KEY=value" from at::show_config()'s build settings (value up to ',' or end of line). */
std::string config_value(const std::string &cfg, const std::string &key)
{
    size_t at = cfg.find(key + "=");
    if (at == std::string::npos) return "unknown";
    at += key.size() + 1;
    size_t end = cfg.find_first_of(",\n", at);
    return cfg.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

/* The rest of the line after `prefix` in `text`. */
std::string line_after(const std::string &text, const std::string &prefix)
{
    size_t at = text.find(prefix);
    if (at == std::string::npos) return "unknown";
    at += prefix.size();
    while (at < text.size() && text[at] == ' ') at++;
    size_t end = text.find('\n', at);
    return text.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

/* The BLAS library mapped into this process (symlinks resolved), or "none". */
std::string blas_library()
{
    FILE *f = std::fopen("/proc/self/maps", "r");
    if (!f) return "unknown";
    char line[4096];
    std::string found = "none";
    static const char *const libs[] = {"/libblas.so", "/libopenblas", "/libmkl_rt", "/libblis", "/libcblas.so"};
    while (std::fgets(line, sizeof line, f)) {
        char *path = std::strchr(line, '/');
        if (!path) continue;
        path[std::strcspn(path, "\n")] = '\0';
        for (const char *l : libs)
            if (std::strstr(path, l)) {
                char real[PATH_MAX];
                found = realpath(path, real) ? real : path;
                break;
            }
        if (found != "none") break;
    }
    std::fclose(f);
    return found;
}

std::string qengines_list()
{
    std::string s;
    for (c10::QEngine e : at::globalContext().supportedQEngines())
        if (e != c10::QEngine::NoQEngine) s += (s.empty() ? "" : ",") + qengine_name(e);
    return s.empty() ? "none" : s;
}

void build_facts(nnfi_model *m)
{
    std::string cfg = at::show_config();
    std::string par = at::get_parallel_info();
    std::string q;
    for (const auto &p : m->packed) q += (q.empty() ? "" : ",") + (p->path.empty() ? std::string("(top)") : p->path);
    m->facts = {
        std::string("torch_version=") + TORCH_VERSION,
        m->device >= 0 ? "device=cuda:" + std::to_string(m->device) : std::string("device=cpu"),
        "cuda_available=" + std::string(torch::cuda::is_available() ? "yes" : "no"),
        "cuda_devices=" + std::to_string(torch::cuda::device_count()),
        "qengine=" + qengine_name(at::globalContext().qEngine()),
        "qengines=" + qengines_list(),
        "intra_op_threads=" + std::to_string(m->threads),
        "inter_op_threads=" + std::to_string(at::get_num_interop_threads()),
        "parallel_backend=" + line_after(par, "ATen parallel backend:"),
        "cpu_capability=" + line_after(cfg, "CPU capability usage:"),
        "blas_info=" + config_value(cfg, "BLAS_INFO"),
        "lapack_info=" + config_value(cfg, "LAPACK_INFO"),
        "blas_library=" + blas_library(),
        "blas_threads=" + (blas_threads().get ? std::to_string(blas_threads().get()) : std::string("n/a")),
        "quantized_modules=" + (q.empty() ? std::string("none") : q),
    };
    m->facts_c.clear();
    for (const std::string &f : m->facts) m->facts_c.push_back(f.c_str());
    m->facts_c.push_back(nullptr);
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

/* One forward on `rows` samples; the output tensor [rows, C] (float32). */
at::Tensor run(nnfi_model *m, const float *input, int64_t rows)
{
    pin_settings(m, false);
    m->stats.forwards++;
    sync_shadows(m); /* before the guard: packed objects must not hold inference tensors */
    c10::InferenceMode guard;
    at::manual_seed(m->seed);
    std::vector<int64_t> shape{rows};
    shape.insert(shape.end(), m->input_shape.begin(), m->input_shape.end());
    at::Tensor x = at::empty(shape, at::kFloat);
    std::memcpy(x.data_ptr(), input, (size_t)rows * m->input_numel * sizeof(float));
    if (m->device >= 0) {
        device_wait(m, "the device before a forward"); /* the copy below would wait unbounded (pageable memory) */
        x = x.to(at::Device(at::kCUDA, (c10::DeviceIndex)m->device));
    }
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
    c10::IValue out;
    try {
        out = m->module.forward({x});
    } catch (...) {
        if (!m->packed.empty()) m->rebuild_packed = true;
        throw;
    }
    if (out.isTuple() && !out.toTupleRef().elements().empty()) out = out.toTupleRef().elements()[0];
    if (!out.isTensor())
        throw std::runtime_error("forward returned a " + out.tagKind() + ", not a tensor [rows, classes]");
    at::Tensor o = out.toTensor();
    if (o.is_quantized()) o = o.dequantize();
    if (o.dim() != 2 || o.size(0) != rows)
        throw std::runtime_error("forward returned a tensor of shape " + c10::str(o.sizes()) +
                                 ", not [rows, classes] with rows = " + std::to_string(rows));
    o = o.to(at::kFloat).contiguous();
    if (m->device >= 0) {
        device_wait(m, "the forward on the GPU");
        o = o.to(at::kCPU);
    }
    return o;
}

/* Two discovery forwards (batch 1 and 2) -> live sites, n_classes. */
nnfi_status discover_sites(nnfi_model *m)
{
    std::vector<float> in(2 * m->input_numel);
    for (size_t i = 0; i < in.size(); i++) /* deterministic, in [0, 1) */
        in[i] = (float)((((uint32_t)i * 2654435761u) >> 8) & 0xffff) / 65536.0f;
    m->mode = Mode::Discover;
    at::Tensor o;
    m->disc_run = 1;
    o = run(m, in.data(), 1);
    m->disc_run = 2;
    run(m, in.data(), 2);
    m->mode = Mode::Hook;
    if (o.size(1) < 1)
        return NNFI_FAIL(NNFI_E_UNSUPPORTED, "torch host: %s: forward returns no classes (shape [1, 0])\n"
                         "  hint: the model must return logits [rows, classes]", m->path.c_str());
    m->classes = (uint32_t)o.size(1);

    std::vector<size_t> live;
    for (size_t i = 0; i < m->ops.size(); i++) {
        OpSite &op = m->ops[i];
        nnfi_dtype dt;
        if (op.calls1 == 0) continue; /* never called: dead branch */
        if (!op.bad && op.calls2 == 0) op.bad = true, op.why = "not called with batch 2";
        if (!op.bad && !map_dtype(op.st, &dt)) op.bad = true, op.why = std::string("dtype ") + c10::toString(op.st);
        if (!op.bad && (int64_t)op.sizes.size() - 1 > NNFI_SITE_MAX_DIMS) op.bad = true, op.why = "too many dims";
        if (op.bad) {
            m->skipped.push_back(op.base + " (" + op.why + ")");
            continue;
        }
        live.push_back(i);
    }
    std::sort(live.begin(), live.end(), [m](size_t a, size_t b) { return m->ops[a].first < m->ops[b].first; });
    std::map<std::string, int> seen;
    std::set<std::string> names;
    for (const nnfi_site &s : m->sites) names.insert(s.name);
    for (size_t i : live) {
        OpSite &op = m->ops[i];
        int k = seen[op.base]++;
        std::string name = op.base;
        if (op.kind == NNFI_SITE_ACTIVATION || k > 0) name += "#" + std::to_string(k);
        if (name.size() >= NNFI_SITE_NAME_MAX || names.count(name)) {
            m->skipped.push_back(name + " (name too long or taken)");
            continue;
        }
        names.insert(name);
        nnfi_site s;
        std::memset(&s, 0, sizeof s);
        std::snprintf(s.name, sizeof s.name, "%s", name.c_str());
        s.kind = op.kind;
        map_dtype(op.st, &s.dtype);
        s.ndim = (int)op.sizes.size() - 1;
        s.numel = 1;
        for (int d = 0; d < s.ndim; d++) {
            s.shape[d] = op.sizes[(size_t)d + 1];
            s.numel *= (uint64_t)s.shape[d];
        }
        s.data = nullptr;
        s.device = m->device;
        op.site = (int32_t)m->sites.size();
        m->sites.push_back(s);
        m->site_st.push_back(op.st);
    }
    m->counts.assign(m->sites.size(), 0u);
    return NNFI_OK;
}

nnfi_status read_input_shape(nnfi_model *m)
{
    m->input_shape = {1, 28, 28};
    if (m->module.hasattr("input_shape")) {
        c10::IValue v = m->module.attr("input_shape");
        std::vector<int64_t> shape;
        bool ok = true;
        if (v.isIntList()) {
            shape = v.toIntVector();
        } else if (v.isTuple()) {
            for (const auto &e : v.toTupleRef().elements()) {
                if (!e.isInt()) ok = false;
                else shape.push_back(e.toInt());
            }
        } else {
            ok = false;
        }
        for (int64_t d : shape) ok = ok && d > 0;
        if (!ok || shape.empty() || shape.size() >= NNFI_SITE_MAX_DIMS)
            return NNFI_FAIL(NNFI_E_INVALID, "torch host: %s: attribute input_shape is not a list of 1 to 7 positive ints\n"
                             "  hint: set `self.input_shape: List[int] = [C, H, W]` (per sample, no batch dim) before scripting",
                             m->path.c_str());
        m->input_shape = shape;
    }
    m->input_numel = 1;
    for (int64_t d : m->input_shape) m->input_numel *= (uint64_t)d;
    nnfi_site s;
    std::memset(&s, 0, sizeof s);
    std::snprintf(s.name, sizeof s.name, "input");
    s.kind = NNFI_SITE_INPUT;
    s.dtype = NNFI_DT_F32;
    s.ndim = (int)m->input_shape.size();
    for (int d = 0; d < s.ndim; d++) s.shape[d] = m->input_shape[(size_t)d];
    s.numel = m->input_numel;
    s.device = m->device;
    m->sites.push_back(s);
    m->site_st.push_back(c10::ScalarType::Float);
    return NNFI_OK;
}

void build_info(nnfi_model *m)
{
    size_t n[5] = {0, 0, 0, 0, 0};
    for (const nnfi_site &s : m->sites) n[s.kind]++;
    char buf[512];
    std::snprintf(buf, sizeof buf,
                  "libtorch %s %s, qengine %s, threads %u, sites: %zu param, %zu buffer, %zu activation, %zu state, "
                  "%zu input",
                  TORCH_VERSION, m->device >= 0 ? ("cuda:" + std::to_string(m->device)).c_str() : "cpu",
                  qengine_name(at::globalContext().qEngine()).c_str(), m->threads, n[NNFI_SITE_PARAM],
                  n[NNFI_SITE_BUFFER], n[NNFI_SITE_ACTIVATION], n[NNFI_SITE_STATE], n[NNFI_SITE_INPUT]);
    m->info = buf;
    if (!m->skipped.empty()) {
        m->info += "; skipped:";
        for (const std::string &s : m->skipped) m->info += " " + s + ",";
        m->info.pop_back();
    }
    if (m->packed.empty()) {
        m->info += "; quantized packed weights: none";
    } else {
        m->info += "; quantized packed weights: " + std::to_string(m->packed.size()) + " (";
        for (size_t i = 0; i < m->packed.size(); i++)
            m->info += (i ? ", " : "") + (m->packed[i]->path.empty() ? std::string("(top)") : m->packed[i]->path);
        m->info += ")";
    }
}

/* ---- the table -------------------------------------------------------- */

void torch_close(nnfi_model *m)
{
    try {
        delete m;
    } catch (...) {
    }
}

/* Does any module hold quantized packed weights (CPU engines only)? */
bool has_packed_params(const torch::jit::Module &mod)
{
    for (const auto &nm : mod.named_modules()) {
        c10::ClassTypePtr t = nm.value._ivalue()->type();
        for (size_t i = 0; i < t->numAttributes(); i++)
            if (auto ct = t->getAttribute(i)->cast<c10::ClassType>())
                if (!ct->is_module() && ct->name() && is_packed_type(ct->name()->qualifiedName())) return true;
    }
    return false;
}

/* The device decision (see the top of this file), before any site exists. */
nnfi_status place_on_device(nnfi_model *m, const nnfi_model_cfg *cfg, const char *mname)
{
    if (cfg->device == NNFI_DEVICE_CPU) return NNFI_OK;
    int visible = (int)torch::cuda::device_count();
    if (visible <= 0) return NNFI_OK; /* auto on a machine without a GPU; cuda was refused before load */
    if (has_packed_params(m->module)) {
        if (cfg->device == NNFI_DEVICE_CUDA)
            return NNFI_FAIL(NNFI_E_UNSUPPORTED, "torch host: model '%s' is quantized (packed int8 weights): its engines "
                             "run on the CPU only\n  hint: use device: cpu or auto for quantized models", mname);
        return NNFI_OK;
    }
    m->device = nnfi_topology_device(visible);
    nnfi_topology_log_once(m->device, visible);
    at::globalContext().setDeterministicCuDNN(true);
    at::globalContext().setBenchmarkCuDNN(false);
    at::globalContext().setAllowTF32CuDNN(false);
    at::globalContext().setAllowTF32CuBLAS(false);
    m->module.to(at::Device(at::kCUDA, (c10::DeviceIndex)m->device));
    return NNFI_OK;
}

nnfi_status open_impl(const nnfi_model_cfg *cfg, const char *base_dir, uint64_t seed, nnfi_model **out)
{
    const char *mname = cfg->name ? cfg->name : "?";
    if (!cfg->path || !*cfg->path)
        return NNFI_FAIL(NNFI_E_INVALID, "torch host: model '%s' has no path\n"
                         "  hint: set models[].path to a TorchScript file written by torch.jit.save", mname);
    if (cfg->device == NNFI_DEVICE_CUDA && !torch::cuda::is_available())
        return NNFI_FAIL(NNFI_E_UNSUPPORTED, "torch host: model '%s': device cuda, but this libtorch (%s) %s\n"
                         "  hint: use device: cpu or auto, or build nnfi against a CUDA libtorch (cmake "
                         "-DCMAKE_PREFIX_PATH=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)'))",
                         mname, TORCH_VERSION, "has no CUDA or sees no GPU");
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
    nnfi_model *m = new nnfi_model;
    m->path = path;
    m->seed = seed;
    m->threads = cfg->threads ? cfg->threads : 1;
    if (cfg->qengine) {
        c10::QEngine e;
        if (!parse_qengine(cfg->qengine, &e) || !qengine_supported(e)) {
            std::string sup = supported_qengines();
            torch_close(m);
            return NNFI_FAIL(NNFI_E_UNSUPPORTED, "torch host: model '%s': quantized engine '%s' is not available\n"
                             "  hint: this libtorch has: %s", mname, cfg->qengine, sup.c_str());
        }
        m->qengine = e;
        m->pin_qengine = true;
    } else if (qengine_supported(c10::QEngine::QNNPACK)) {
        m->qengine = c10::QEngine::QNNPACK;
        m->pin_qengine = true;
    }
    pin_settings(m, true); /* before load: packed quantized weights depend on the engine */
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
        if (st == NNFI_OK) st = read_input_shape(m);
        if (st == NNFI_OK) {
            for (const auto &p : m->module.named_parameters(true)) add_tensor_site(m, p.name, NNFI_SITE_PARAM, p.value);
            find_quantized(m); /* packed weights and biases: PARAM sites */
            for (const auto &b : m->module.named_buffers(true)) {
                if (b.value.scalar_type() == at::kLong && (b.name == "zero_point" || ends_with(b.name, ".zero_point")))
                    add_long_shadow(m, b.name, b.value);
                else
                    add_tensor_site(m, b.name, NNFI_SITE_BUFFER, b.value);
            }
            add_quantized_buffer_sites(m);
            rewrite(m);
            st = discover_sites(m);
        }
    } catch (const std::exception &e) {
        std::string msg = torch_message(e);
        torch_close(m);
        return NNFI_FAIL(NNFI_E_BACKEND, "torch host: %s: a discovery forward on a dummy batch failed: %s\n"
                         "  hint: the model must take float32 [N] + input_shape (default [1, 28, 28]; set the "
                         "module attribute input_shape: List[int]) and return logits [N, classes]",
                         path.c_str(), msg.c_str());
    }
    if (st != NNFI_OK) {
        torch_close(m);
        return st;
    }
    build_info(m);
    build_facts(m);
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
uint64_t torch_input_numel(const nnfi_model *m) { return m->input_numel; }

nnfi_status torch_set_hook(nnfi_model *m, nnfi_site_hook hook, void *user)
{
    m->hook = hook;
    m->user = user;
    return NNFI_OK;
}

/* Does any shadow hold other values than the loaded ones (for messages)? */
bool shadows_faulty(const nnfi_model *m)
{
    for (const auto &p : m->packed)
        if (!p->w.is_pristine() || !p->b.is_pristine() || !p->scale.is_pristine() || !p->zp.is_pristine()) return true;
    for (const auto &a : m->attrs)
        if (!a->v.is_pristine()) return true;
    for (const auto &l : m->longs)
        if (!l->v.is_pristine()) return true;
    return false;
}

nnfi_status torch_forward(nnfi_model *m, const float *input, uint64_t rows, float *logits)
{
    if (rows == 0) return NNFI_OK;
    if (rows > (uint64_t)INT64_MAX / (m->input_numel ? m->input_numel : 1))
        return NNFI_FAIL(NNFI_E_INVALID, "torch host: batch of %llu rows is too large", (unsigned long long)rows);
    m->hook_st = NNFI_OK;
    try {
        at::Tensor o = run(m, input, (int64_t)rows);
        if (o.size(1) != (int64_t)m->classes)
            return NNFI_FAIL(NNFI_E_BACKEND, "torch host: %s: forward returned %lld classes, %u at discovery\n"
                             "  hint: the number of outputs must not depend on the batch",
                             m->path.c_str(), (long long)o.size(1), m->classes);
        std::memcpy(logits, o.data_ptr(), (size_t)rows * m->classes * sizeof(float));
        return NNFI_OK;
    } catch (const std::bad_alloc &) {
        return NNFI_FAIL(NNFI_E_NOMEM, "torch host: out of memory in a forward of %llu rows\n"
                         "  hint: lower eval.batch", (unsigned long long)rows);
    } catch (const RepackError &e) {
        return NNFI_FAIL(NNFI_E_BACKEND, "torch host: forward of '%s': %s\n"
                         "  hint: the quantized engine refuses some faulty quantization parameters (e.g. a zero "
                         "point out of range, a scale that is not finite and positive): count the trial as failed",
                         m->path.c_str(), e.what());
    } catch (const std::exception &e) {
        if (m->hook_st != NNFI_OK) return m->hook_st; /* the hook recorded its message */
        if (shadows_faulty(m))
            return NNFI_FAIL(NNFI_E_BACKEND, "torch host: forward of '%s' (%llu rows) with faulty quantized weights or "
                             "quantization parameters failed: %s\n"
                             "  hint: the quantized engine refuses some faulty values (e.g. a scale that is not finite "
                             "and positive): count the trial as failed",
                             m->path.c_str(), (unsigned long long)rows, torch_message(e).c_str());
        return NNFI_FAIL(NNFI_E_BACKEND, "torch host: forward of '%s' (%llu rows) failed: %s\n"
                         "  hint: check that the input shape (%s) is what the model expects%s",
                         m->path.c_str(), (unsigned long long)rows, torch_message(e).c_str(),
                         c10::str(c10::IntArrayRef(m->input_shape)).c_str(),
                         m->packed.empty() && m->attrs.empty()
                             ? ""
                             : "; in a quantized model a faulty buffer (e.g. a scale) can also make an operator "
                               "refuse to run: count the trial as failed");
    }
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
};

} // namespace

/* the only symbols the library exports (it is built with hidden visibility) */
#define NNFI_TORCH_EXPORT __attribute__((visibility("default")))

extern "C" NNFI_TORCH_EXPORT const nnfi_model_host *nnfi_host_torch(void) { return &torch_host; }

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

namespace {

/* t (any dtype convertible to the site's) into out, checking the element count. */
nnfi_status copy_live(const nnfi_site &s, const at::Tensor &t, void *out)
{
    static const c10::ScalarType st[] = {at::kFloat, at::kHalf, at::kBFloat16, at::kDouble,
                                         at::kChar,  at::kByte, at::kInt};
    at::Tensor c = t.to(st[s.dtype]).contiguous();
    if ((uint64_t)c.numel() != s.numel)
        return NNFI_FAIL(NNFI_E_BACKEND, "torch host: site '%s': the model holds %lld elements, the site has %llu\n"
                         "  hint: a bug in the torch host", s.name, (long long)c.numel(), (unsigned long long)s.numel);
    std::memcpy(out, c.data_ptr(), (size_t)c.numel() * c.element_size());
    return NNFI_OK;
}

nnfi_status read_live_impl(const nnfi_model *m, uint32_t site, void *out)
{
    if (site >= m->sites.size())
        return NNFI_FAIL(NNFI_E_INVALID, "torch host: no site %u (the model has %zu)\n  hint: a site index from sites()",
                         site, m->sites.size());
    const nnfi_site &s = m->sites[site];
    for (const auto &pp : m->packed) {
        const Packed &p = *pp;
        int32_t i = (int32_t)site;
        if (i != p.w.site && i != p.b.site && i != p.scale.site && i != p.zp.site) continue;
        c10::IValue live = p.owner->getSlot(p.slot);
        c10::IValue state = (*p.getstate)(std::vector<c10::IValue>{live});
        std::vector<at::Tensor> lv;
        leaves(state, lv);
        if ((size_t)p.w_leaf >= lv.size() || (p.b_leaf >= 0 && (size_t)p.b_leaf >= lv.size()))
            return NNFI_FAIL(NNFI_E_BACKEND, "torch host: site '%s': the packed object's state changed shape\n"
                             "  hint: a bug in the torch host", s.name);
        const at::Tensor &qw = lv[(size_t)p.w_leaf];
        if (i == p.w.site) return copy_live(s, qw.int_repr(), out);
        if (i == p.b.site) return copy_live(s, lv[(size_t)p.b_leaf], out);
        if (i == p.scale.site)
            return copy_live(s, p.per_channel ? qw.q_per_channel_scales() : at::full({1}, qw.q_scale(), at::kDouble), out);
        return copy_live(s, p.per_channel ? qw.q_per_channel_zero_points() : at::full({1}, qw.q_zero_point(), at::kLong),
                         out);
    }
    for (const auto &ap : m->attrs) {
        if (ap->v.site != (int32_t)site) continue;
        const c10::IValue &v = ap->owner->getSlot(ap->slot);
        if (ap->is_int) return copy_live(s, at::full({1}, v.toInt(), at::kLong), out);
        return copy_live(s, at::full({1}, v.toDouble(), at::kDouble), out);
    }
    for (const auto &lp : m->longs)
        if (lp->v.site == (int32_t)site) return copy_live(s, lp->target, out);
    if ((s.kind == NNFI_SITE_PARAM || s.kind == NNFI_SITE_BUFFER) && s.data && s.device >= 0) {
        at::Tensor d = at::from_blob(s.data, {(int64_t)s.numel},
                                     at::TensorOptions().dtype(m->site_st[site]).device(at::kCUDA, (c10::DeviceIndex)s.device));
        at::Tensor h = d.to(at::kCPU).contiguous();
        std::memcpy(out, h.data_ptr(), (size_t)s.numel * (nnfi_dtype_bits(s.dtype) / 8));
        return NNFI_OK;
    }
    if ((s.kind == NNFI_SITE_PARAM || s.kind == NNFI_SITE_BUFFER) && s.data) {
        std::memcpy(out, s.data, (size_t)s.numel * (nnfi_dtype_bits(s.dtype) / 8));
        return NNFI_OK;
    }
    return NNFI_FAIL(NNFI_E_INVALID, "torch host: site '%s' (%s) has no value between forwards\n"
                     "  hint: only parameter and buffer sites can be read back", s.name, nnfi_site_kind_name(s.kind));
}

} // namespace

extern "C" NNFI_TORCH_EXPORT nnfi_status nnfi_host_torch_read_live(const nnfi_model *m, uint32_t site, void *out)
{
    if (!m || !out) return NNFI_FAIL(NNFI_E_INVALID, "torch host: read_live without a model or an output buffer");
    try {
        c10::InferenceMode guard;
        return read_live_impl(m, site, out);
    } catch (const std::exception &e) {
        return NNFI_FAIL(NNFI_E_BACKEND, "torch host: reading site %u back failed: %s\n  hint: see the message",
                         site, torch_message(e).c_str());
    }
}
