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
 *   - cfg->device cuda is refused (this libtorch is CPU-only).
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
 *   Quantized WEIGHTS of quantized modules live in packed-params objects
 *   (Conv2dPackedParamsBase, LinearPackedParamsBase), not in parameters or
 *   buffers; they are NOT exposed. (Measured with qnnpack: the int8 weight
 *   that unpack returns is the object's own storage, but the kernels read a
 *   prepacked copy made at the first forward, so edits after that are ignored.)
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
 */
#include "host_torch.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <torch/csrc/jit/passes/inliner.h>
#include <torch/script.h>
#include <torch/version.h>

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
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

} // namespace

struct nnfi_model {
    torch::jit::Module module;
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

std::string torch_message(const std::exception &e)
{
    if (auto *ce = dynamic_cast<const c10::Error *>(&e)) return first_line(ce->what_without_backtrace());
    return first_line(e.what());
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

void add_tensor_site(nnfi_model *m, const std::string &name, nnfi_site_kind kind, const at::Tensor &t)
{
    nnfi_dtype dt;
    if (!t.defined()) return;
    if (!map_dtype(t.scalar_type(), &dt)) {
        m->skipped.push_back(name + " (dtype " + std::string(c10::toString(t.scalar_type())) + ")");
        return;
    }
    if (!t.device().is_cpu() || !t.is_contiguous() || t.dim() > NNFI_SITE_MAX_DIMS ||
        name.size() >= NNFI_SITE_NAME_MAX) {
        m->skipped.push_back(name + " (not a contiguous CPU tensor of at most 8 dims)");
        return;
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
    s.device = -1;
    m->sites.push_back(s);
    m->site_st.push_back(t.scalar_type());
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
    if (m->pin_qengine && at::globalContext().qEngine() != m->qengine) at::globalContext().setQEngine(m->qengine);
}

/* One forward on `rows` samples; the output tensor [rows, C] (float32). */
at::Tensor run(nnfi_model *m, const float *input, int64_t rows)
{
    c10::InferenceMode guard;
    pin_settings(m, false);
    at::manual_seed(m->seed);
    std::vector<int64_t> shape{rows};
    shape.insert(shape.end(), m->input_shape.begin(), m->input_shape.end());
    at::Tensor x = at::empty(shape, at::kFloat);
    std::memcpy(x.data_ptr(), input, (size_t)rows * m->input_numel * sizeof(float));
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
    c10::IValue out = m->module.forward({x});
    if (out.isTuple() && !out.toTupleRef().elements().empty()) out = out.toTupleRef().elements()[0];
    if (!out.isTensor())
        throw std::runtime_error("forward returned a " + out.tagKind() + ", not a tensor [rows, classes]");
    at::Tensor o = out.toTensor();
    if (o.is_quantized()) o = o.dequantize();
    if (o.dim() != 2 || o.size(0) != rows)
        throw std::runtime_error("forward returned a tensor of shape " + c10::str(o.sizes()) +
                                 ", not [rows, classes] with rows = " + std::to_string(rows));
    return o.to(at::kFloat).contiguous();
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
        s.device = -1;
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
    s.device = -1;
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
                  "libtorch %s cpu, qengine %s, threads %u, sites: %zu param, %zu buffer, %zu activation, %zu state, "
                  "%zu input",
                  TORCH_VERSION, qengine_name(at::globalContext().qEngine()).c_str(), m->threads, n[NNFI_SITE_PARAM],
                  n[NNFI_SITE_BUFFER], n[NNFI_SITE_ACTIVATION], n[NNFI_SITE_STATE], n[NNFI_SITE_INPUT]);
    m->info = buf;
    if (!m->skipped.empty()) {
        m->info += "; skipped:";
        for (const std::string &s : m->skipped) m->info += " " + s + ",";
        m->info.pop_back();
    }
    m->info += "; quantized packed weights: not exposed";
}

/* ---- the table -------------------------------------------------------- */

void torch_close(nnfi_model *m)
{
    try {
        delete m;
    } catch (...) {
    }
}

nnfi_status open_impl(const nnfi_model_cfg *cfg, const char *base_dir, uint64_t seed, nnfi_model **out)
{
    const char *mname = cfg->name ? cfg->name : "?";
    if (!cfg->path || !*cfg->path)
        return NNFI_FAIL(NNFI_E_INVALID, "torch host: model '%s' has no path\n"
                         "  hint: set models[].path to a TorchScript file written by torch.jit.save", mname);
    if (cfg->device == NNFI_DEVICE_CUDA)
        return NNFI_FAIL(NNFI_E_UNSUPPORTED, "torch host: model '%s': device cuda is not supported\n"
                         "  hint: this libtorch (%s) runs on the CPU only; use device: cpu or auto", mname, TORCH_VERSION);
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
        st = read_input_shape(m);
        if (st == NNFI_OK) {
            for (const auto &p : m->module.named_parameters(true)) add_tensor_site(m, p.name, NNFI_SITE_PARAM, p.value);
            for (const auto &b : m->module.named_buffers(true)) add_tensor_site(m, b.name, NNFI_SITE_BUFFER, b.value);
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
    } catch (const std::exception &e) {
        if (m->hook_st != NNFI_OK) return m->hook_st; /* the hook recorded its message */
        return NNFI_FAIL(NNFI_E_BACKEND, "torch host: forward of '%s' (%llu rows) failed: %s\n"
                         "  hint: check that the input shape (%s) is what the model expects",
                         m->path.c_str(), (unsigned long long)rows, torch_message(e).c_str(),
                         c10::str(c10::IntArrayRef(m->input_shape)).c_str());
    }
}

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
};

} // namespace

/* the only symbols the library exports (it is built with hidden visibility) */
#define NNFI_TORCH_EXPORT __attribute__((visibility("default")))

extern "C" NNFI_TORCH_EXPORT const nnfi_model_host *nnfi_host_torch(void) { return &torch_host; }

extern "C" NNFI_TORCH_EXPORT const char *nnfi_host_torch_info(const nnfi_model *m) { return m ? m->info.c_str() : ""; }
