/* torch_graph.cpp - activation and state sites of the torch host: the
 * TorchScript graph rewrite that inserts the operator nnfi::site(x, id), the
 * operator's registration and kernel, and the discovery forwards that find
 * which of the inserted sites are live.
 *
 * The rewrite: before the first forward the forward graph is inlined
 * (torch::jit::Inline); unless the model keeps them (models[].fused), fused
 * fast paths are switched off (kFusedOps: the condition of the prim::If that
 * chooses aten::_transformer_encoder_layer_fwd / _native_multi_head_attention
 * becomes the constant that takes the other, unfused branch, wherever that
 * value is used: TorchScript's early-return transform reuses it as the
 * "returned" flag); then nnfi::site(x, id) is inserted
 *   - after every node whose kind is in m->op_kinds (resolve_ops: models[].ops,
 *     "default" = kActivationOps: conv, linear, matmul, batch/layer norm,
 *     activation functions, quantize_per_tensor, the quantized:: conv/linear/add
 *     ops, lstm/gru/rnn), on each of its tensor outputs, named
 *     "<module path>.<op>#<k>[<suffix>]": module path from the node's inlined
 *     call stack ("" at top level, then no leading dot), op = the node kind
 *     without namespace, k = 0,1,.. among live nodes with the same
 *     "<path>.<op>" in call order, suffix only for a node with several outputs
 *     (".out", ".h", ".c" for recurrent ops, ".<i>" otherwise). Examples:
 *     "conv1.conv2d#0", "relu#1" (F.relu in forward itself), "fc.linear#0",
 *     "rnn.lstm#0.c".
 *   - at the top of the body of every prim::Loop, on each loop-carried tensor
 *     (the membrane potentials of a scripted SNN time loop), kind STATE, named
 *     "<module path>.loop<j>.<var>" where j numbers the loops that carry a
 *     tensor in graph order and var is the variable's name in the source (the
 *     loop's initial value), e.g. "loop0.mem1"; "#k" is appended only if two
 *     would collide. Called once per time step, in step order; t = step.
 *   The rewrite must happen before the first forward: the executor caches an
 *   optimized copy of the graph on the first call and ignores later edits.
 *
 * Discovery: two forwards (batch 1, then batch 2, deterministic input; sample
 * 0 is the same in both) find the live sites (a site in an untaken branch is
 * never called and is not reported), their per-sample shape and dtype,
 * n_classes, and the site order. The batch is the one dimension that doubles:
 *   - a dimension of size 1 in batch 1 (bdim; usually 0, an LSTM's [T, N, H]
 *     output and [layers, N, H] states have it at 1): per-sample shape = the
 *     others, in order;
 *   - dim 0 of size k > 1 (fold = k: attention's [N * heads, L, S]), when
 *     batch 2's first k rows equal batch 1's (within 1e-4) and its rows at
 *     stride 2 do not: sample-major, per-sample shape [k, ...].
 * Sites whose tensor has no batch dimension, changes shape between calls, is
 * folded in another order, or has an unmapped dtype are skipped (see
 * nnfi_host_torch_info). Quantized activations
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
 * storage with the samples outermost: in place for a contiguous tensor with
 * the batch at dim 0 (or folded into it); otherwise (a strided tensor such as
 * a channels-last quantized conv output, or bdim > 0: the view
 * movedim(bdim, 0)) on a contiguous copy written back through the view into
 * the original, so the layout (and the fault-free arithmetic) never changes
 * and a fault on sample s changes only sample s. A STATE tensor is cloned
 * first (the initial value of a loop-carried tensor may be a buffer or a
 * constant, and an edit must not outlive the forward), and so is a view (the
 * output of transpose/view/select in models[].ops shares the viewed tensor's
 * memory). The
 * op is registered with AliasAnalysisKind::CONSERVATIVE so the JIT neither
 * removes nor reorders it. A hook that fails aborts the forward (HookAbort);
 * forward returns the hook's status with the hook's message.
 *
 * The registration (TORCH_LIBRARY) is a static initializer of this object
 * file; the library is static, so it is linked because open() calls rewrite()
 * from here: keep them in one file.
 */
#include "torch_internal.h"

#include <ATen/ops/allclose.h>
#include <ATen/ops/movedim.h>
#include <torch/csrc/jit/passes/inliner.h>
#include <torch/csrc/jit/runtime/operator.h>
#include <torch/library.h>
#include <torch/version.h>

#include <algorithm>
#include <cstdio>
#include <functional>
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
    /* recurrent layers: one site per tensor output (output, h[, c]) */
    "aten::lstm", "aten::gru", "aten::rnn_tanh", "aten::rnn_relu",
    /* fused inference kernels: only reached with models[].fused (else switched off) */
    "aten::_transformer_encoder_layer_fwd", "aten::_native_multi_head_attention",
};

/* Fused fast paths that hide their inner operators. Unless the model sets
 * `fused: true`, the prim::If that chooses each one is made to take its other
 * branch (the unfused operators PyTorch runs in training or with grad). */
const char *const kFusedOps[] = {
    "aten::_transformer_encoder_layer_fwd", "aten::_native_multi_head_attention",
    "aten::_transformer_decoder_only_layer_fwd", "aten::_native_decoder_only_multi_head_attention",
};

/* Names of the outputs of multi-output nodes ("" suffix for one output). */
std::string output_suffix(const Node *n, size_t i)
{
    static const char *const rnn[] = {"out", "h", "c"};
    std::string k = n->kind().toQualString();
    if ((k == "aten::lstm" || k == "aten::gru" || k == "aten::rnn_tanh" || k == "aten::rnn_relu") && i < 3)
        return std::string(".") + rnn[i];
    if (k == "aten::_native_multi_head_attention" && i < 2) return i ? ".weights" : ".out";
    return "." + std::to_string(i);
}

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
            if (!op.sizes.empty() && op.sizes[0] > 1 && !x.is_quantized())
                op.value1 = x.detach().to(at::kCPU).clone();
        } else if (x.sizes().vec() != op.sizes || x.scalar_type() != op.st) {
            mark("shape or dtype changes between calls");
        }
        return;
    }
    if (op.calls2++ > 0) { /* later calls: the batch must be where the first call had it */
        auto s = x.sizes();
        if (s.size() != op.sizes.size() || s[(size_t)op.bdim] != 2 * op.sizes[(size_t)op.bdim])
            mark("per-sample shape depends on the batch");
        return;
    }
    if (op.calls1 == 0) return; /* only live with 2 rows: not reported */
    auto s = x.sizes();
    if (s.size() != op.sizes.size() || op.sizes.empty()) return mark("no batch dimension");
    /* the one dimension that doubles from batch 1 to batch 2 */
    int64_t d = -1;
    for (size_t i = 0; i < s.size(); i++) {
        if (s[i] == op.sizes[i]) continue;
        if (d >= 0 || s[i] != 2 * op.sizes[i]) return mark("per-sample shape depends on the batch");
        d = (int64_t)i;
    }
    if (d < 0) return mark("no batch dimension");
    if (op.sizes[(size_t)d] == 1) {
        op.bdim = d;
        return;
    }
    if (d != 0) return mark("batch folded into a dimension other than 0");
    /* [N * k, ...]: sample-major (rows s*k .. s*k+k-1 are sample s's) if the
     * first k rows of batch 2 are batch 1's rows (sample 0 is the same input),
     * and its k rows are not also found at stride 2 (sample-minor) */
    if (!op.value1.defined()) return mark("batch folded into dimension 0 (quantized)");
    int64_t k = op.sizes[0];
    at::Tensor x2 = x.detach().to(at::kCPU);
    auto near = [&](const at::Tensor &a) {
        return at::allclose(a.to(at::kDouble), op.value1.to(at::kDouble), 1e-4, 1e-5, true);
    };
    bool major = near(x2.narrow(0, 0, k));
    bool minor = near(x2.slice(0, 0, 2 * k, 2));
    op.value1 = at::Tensor();
    if (!major || minor) return mark("batch folded into dimension 0 in an order that cannot be told");
    op.fold = k;
}

at::Tensor call_hook(nnfi_model *m, uint32_t si, const at::Tensor &x)
{
    const nnfi_site &s = m->sites[si];
    int64_t bdim = m->site_bdim[si], fold = m->site_fold[si];
    int64_t dims = fold > 1 ? s.ndim : s.ndim + 1; /* a folded site's per-sample shape is [fold, ...] */
    if (!x.defined() || x.scalar_type() != m->site_st[si] || x.dim() != dims || x.size(bdim) != m->rows * fold ||
        (uint64_t)x.numel() != (uint64_t)m->rows * s.numel)
        throw std::runtime_error(std::string("nnfi torch host: site '") + s.name +
                                 "' got a tensor of another dtype or shape than at discovery");
    uint32_t t = m->counts[si]++;
    /* a state may be the loop's initial value (a buffer, a constant), and a
     * view (the output of transpose, view, select named in models[].ops)
     * shares its memory with the viewed tensor: edit a copy */
    at::Tensor y = s.kind == NNFI_SITE_STATE || x.is_view() ? x.clone() : x;
    at::Tensor v = bdim ? y.movedim(bdim, 0) : y; /* a view: samples outermost */
    nnfi_status st;
    if (v.is_contiguous()) {
        st = m->hook(m->user, si, v.data_ptr(), (uint64_t)m->rows, t);
    } else {
        at::Tensor c = v.contiguous();
        st = m->hook(m->user, si, c.data_ptr(), (uint64_t)m->rows, t);
        if (st == NNFI_OK) v.copy_(c); /* back through the view: the original layout stays */
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
        if (kinds.count(n->kind())) acts.push_back(n);
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

nnfi_status resolve_ops(nnfi_model *m, const nnfi_model_cfg *cfg)
{
    m->fused = cfg->fused;
    m->op_kinds.clear();
    std::set<std::string> seen;
    auto add = [&](const std::string &k) {
        if (seen.insert(k).second) m->op_kinds.push_back(k);
    };
    if (!cfg->ops || cfg->ops_count == 0) {
        for (const char *k : kActivationOps) add(k);
        return NNFI_OK;
    }
    for (unsigned i = 0; i < cfg->ops_count; i++) {
        std::string k = cfg->ops[i] ? cfg->ops[i] : "";
        if (k == "default") {
            for (const char *d : kActivationOps) add(d);
            continue;
        }
        if (k.find("::") == std::string::npos) k = "aten::" + k;
        bool known = false;
        try {
            known = !torch::jit::getAllOperatorsFor(c10::Symbol::fromQualString(k)).empty();
        } catch (const std::exception &) {
            known = false;
        }
        if (!known)
            return NNFI_FAIL(NNFI_E_CONFIG, "torch host: model '%s': models[].ops[%u]: libtorch %s has no operator '%s'\n"
                             "  hint: names are TorchScript node kinds as torch.jit.script(model).inlined_graph "
                             "prints them (aten::softmax, quantized::linear), NAME for aten::NAME, or 'default'",
                             cfg->name ? cfg->name : "?", i, TORCH_VERSION, k.c_str());
        add(k);
    }
    return NNFI_OK;
}

namespace {

/* Each fused operator's innermost enclosing prim::If takes its other branch
 * (its condition value becomes a constant everywhere it is used): the unfused
 * operators run instead, as in PyTorch with grad enabled or in training. */
void switch_off_fused(nnfi_model *m, torch::jit::Graph &g)
{
    std::set<c10::Symbol> fused;
    for (const char *k : kFusedOps) fused.insert(c10::Symbol::fromQualString(k));
    std::vector<Node *> found;
    std::function<void(torch::jit::Block *)> walk = [&](torch::jit::Block *b) {
        for (Node *n : b->nodes()) {
            if (fused.count(n->kind())) found.push_back(n);
            for (torch::jit::Block *sub : n->blocks()) walk(sub);
        }
    };
    walk(g.block());
    for (Node *n : found) {
        torch::jit::Block *b = n->owningBlock();
        Node *owner = b ? b->owningNode() : nullptr;
        if (!owner || owner->kind() != c10::prim::If || owner->blocks().size() != 2) continue;
        bool in_then = owner->blocks()[0] == b;
        /* the condition VALUE becomes the constant: TorchScript's early-return
         * transform reuses it downstream as the "returned" flag */
        torch::jit::WithInsertPoint ip(g.block()->nodes().front());
        owner->input(0)->replaceAllUsesWith(g.insertConstant(!in_then));
        m->unfused.push_back(join(module_path(n), n->kind().toUnqualString()));
    }
}

} // namespace

void rewrite(nnfi_model *m)
{
    std::shared_ptr<torch::jit::Graph> g = m->module.get_method("forward").graph();
    torch::jit::Inline(*g);
    if (!m->fused) switch_off_fused(m, *g);
    std::set<c10::Symbol> kinds;
    for (const std::string &k : m->op_kinds) kinds.insert(c10::Symbol::fromQualString(k));
    std::vector<Node *> acts, loops;
    collect(g->block(), kinds, acts, loops);

    int64_t node = 0;
    for (Node *n : acts) {
        std::vector<Value *> outs;
        for (Value *v : n->outputs())
            if (is_tensor(v)) outs.push_back(v);
        if (outs.empty()) continue;
        torch::jit::WithInsertPoint ip(n->next());
        for (Value *v : outs) {
            OpSite op;
            op.base = join(module_path(n), n->kind().toUnqualString());
            if (n->outputs().size() > 1) op.suffix = output_suffix(n, v->offset());
            op.node = node;
            op.kind = NNFI_SITE_ACTIVATION;
            insert_site(*g, v, (int64_t)m->ops.size());
            m->ops.push_back(op);
        }
        node++;
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
    if (o.size(o.dim() - 1) < 1 || (o.dim() == 3 && o.size(1) < 1) || o.size(o.dim() - 1) > UINT32_MAX ||
        (o.dim() == 3 && o.size(1) > UINT32_MAX))
        return NNFI_FAIL(NNFI_E_UNSUPPORTED, "torch host: %s: forward returns logits of shape %s: no classes\n"
                         "  hint: the model must return logits [rows, classes] or [rows, positions, classes]",
                         m->path.c_str(), c10::str(o.sizes()).c_str());
    m->classes = (uint32_t)o.size(o.dim() - 1);
    m->positions = o.dim() == 3 ? (uint32_t)o.size(1) : 1;

    std::vector<size_t> live;
    for (size_t i = 0; i < m->ops.size(); i++) {
        OpSite &op = m->ops[i];
        nnfi_dtype dt;
        if (op.calls1 == 0) continue; /* never called: dead branch */
        if (!op.bad && op.calls2 == 0) op.bad = true, op.why = "not called with batch 2";
        if (!op.bad && !map_dtype(op.st, &dt)) op.bad = true, op.why = std::string("dtype ") + c10::toString(op.st);
        if (!op.bad && (int64_t)op.sizes.size() - (op.fold > 1 ? 0 : 1) > NNFI_SITE_MAX_DIMS)
            op.bad = true, op.why = "too many dims";
        if (op.bad) {
            m->skipped.push_back(op.base + " (" + op.why + ")");
            continue;
        }
        live.push_back(i);
    }
    std::sort(live.begin(), live.end(), [m](size_t a, size_t b) { return m->ops[a].first < m->ops[b].first; });
    std::map<std::string, int> seen;
    std::map<std::pair<std::string, int64_t>, int> node_k; /* the outputs of one node share their k */
    std::set<std::string> names;
    for (const nnfi_site &s : m->sites) names.insert(s.name);
    m->site_bdim.assign(m->sites.size(), 0);
    m->site_fold.assign(m->sites.size(), 1);
    for (size_t i : live) {
        OpSite &op = m->ops[i];
        int k;
        if (op.kind == NNFI_SITE_ACTIVATION) {
            auto key = std::make_pair(op.base, op.node);
            auto it = node_k.find(key);
            k = it != node_k.end() ? it->second : (node_k[key] = seen[op.base]++);
        } else {
            k = seen[op.base]++;
        }
        std::string name = op.base;
        if (op.kind == NNFI_SITE_ACTIVATION || k > 0) name += "#" + std::to_string(k);
        name += op.suffix;
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
        /* per-sample shape: without the batch dimension, or [fold, ...] */
        std::vector<int64_t> per;
        for (size_t d = 0; d < op.sizes.size(); d++)
            if (op.fold > 1 || (int64_t)d != op.bdim) per.push_back(op.sizes[d]);
        s.ndim = (int)per.size();
        s.numel = 1;
        for (int d = 0; d < s.ndim; d++) {
            s.shape[d] = per[(size_t)d];
            s.numel *= (uint64_t)s.shape[d];
        }
        s.data = nullptr;
        s.device = m->device;
        op.site = (int32_t)m->sites.size();
        m->sites.push_back(s);
        m->site_st.push_back(op.st);
        m->site_bdim.push_back(op.bdim);
        m->site_fold.push_back(op.fold);
    }
    m->counts.assign(m->sites.size(), 0u);
    return NNFI_OK;
}

} // namespace nnfi_torch
