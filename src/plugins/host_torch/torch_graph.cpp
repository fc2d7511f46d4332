/* torch_graph.cpp - activation and state sites of the torch host: the
 * TorchScript graph rewrite that inserts the operator nnfi::site(x, id), the
 * operator's registration and kernel, and the discovery forwards that find
 * which of the inserted sites are live.
 *
 * The rewrite: before the first forward the forward graph is inlined
 * (torch::jit::Inline) and nnfi::site(x, id) is inserted
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
 *
 * Discovery: two forwards (batch 1, then batch 2, deterministic input) find
 * the live sites (a site in an untaken branch is never called and is not
 * reported), their per-sample shape and dtype (shape without dim 0, which
 * must follow the batch), n_classes, and the site order. Sites whose tensor
 * has no batch dimension, changes shape between calls, or has an unmapped
 * dtype are skipped (see nnfi_host_torch_info). Quantized activations
 * (quint8/qint8/qint32) are sites of dtype U8/I8/I32: the hook edits the
 * integer storage in place.
 *
 * The operator's kernel: a thread-local pointer (tl_model, set by ActiveModel
 * around a forward) names the model whose forward is running; it is NULL while
 * the hook is NULL, so the fault-free path costs one operator dispatch and a
 * TLS load per site (tl_model is file-local, so the load is direct). With a
 * hook, the kernel counts the site's calls in this forward (t; every counter
 * resets at the start of forward), checks the tensor against the discovered
 * dtype/shape, and calls hook(user, site, data, rows, t) on its contiguous
 * storage: in place for a contiguous tensor; for a strided one (e.g.
 * channels-last quantized conv output) on a contiguous copy written back into
 * the original, so the layout (and the fault-free arithmetic) never changes.
 * A STATE tensor is cloned first: the initial value of a loop-carried tensor
 * may be a buffer or a constant, and an edit must not outlive the forward. The
 * op is registered with AliasAnalysisKind::CONSERVATIVE so the JIT neither
 * removes nor reorders it. A hook that fails aborts the forward (HookAbort);
 * forward returns the hook's status with the hook's message.
 *
 * The registration (TORCH_LIBRARY) is a static initializer of this object
 * file; the library is static, so it is linked because open() calls rewrite()
 * from here: keep them in one file.
 */
#include "torch_internal.h"

#include <torch/csrc/jit/passes/inliner.h>
#include <torch/library.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

using torch::jit::Node;
using torch::jit::Value;

namespace nnfi_torch {
namespace {

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

/* The model whose forward is running on this thread while its hook is set or
 * it is discovering sites; NULL otherwise (the fast path). */
thread_local nnfi_model *tl_model = nullptr;

} // namespace

ActiveModel::ActiveModel(nnfi_model *m) : prev_(tl_model) { tl_model = m; }
ActiveModel::~ActiveModel() { tl_model = prev_; }

namespace {

/* ---- the operator's kernel -------------------------------------------- */

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
} // namespace nnfi_torch

TORCH_LIBRARY(nnfi, lib)
{
    lib.def(torch::schema("site(Tensor x, int id) -> Tensor", c10::AliasAnalysisKind::CONSERVATIVE),
            &nnfi_torch::site_kernel);
}

namespace nnfi_torch {
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

} // namespace

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

/* ---- discovery -------------------------------------------------------- */

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

} // namespace nnfi_torch
