/* torch_cuts.cpp - prefix reuse ("cuts") of the torch host: the five cut
 * slots of nnfi/model_host.h (n_cuts, cut_bytes, site_cut, forward_capture,
 * forward_from) and site_value_cut. A cut splits the rewritten forward graph (torch_graph.cpp:
 * inlined, nnfi::site ops inserted) at a node of its TOP-LEVEL block; the
 * suffix is a graph of its own, run by a torch::jit::GraphFunction on the
 * values live across the cut.
 *
 * Analysis (find_cuts, at open after discovery), top-level block only:
 *   - "pure" nodes never make a cut start earlier and are cloned into a suffix
 *     that uses them: prim::Constant, prim::GetAttr chains rooted at `self`
 *     (the suffix re-runs the GetAttr: faults edit a parameter's memory in
 *     place and sync_shadows re-sets quantized packed params in module slots),
 *     and nodes without blocks, side effects, randomness or mutated arguments
 *     whose inputs are all pure and whose outputs hold no tensor (the int[]
 *     ListConstructs of a conv's stride/padding, aten::Float(self.T)).
 *   - a site's position (the top-level node a suffix must start at):
 *       activation  the node holding its nnfi::site op (a top-level op: just
 *                   before the op, so the live value is the producer's output
 *                   and the suffix applies the hook)
 *       state       the prim::Loop holding it
 *       param/buf   the first non-pure node that (in itself or its blocks)
 *                   consumes a GetAttr chain whose path p "touches" the site:
 *                   p == name, name starts with p + ".", p == "" (self), or p
 *                   starts with the site's module path + "." (name minus its
 *                   last component; a packed weight's module for its
 *                   "<mod>.weight.scale/zero_point"): fc1._packed_params
 *                   touches fc1.weight. Nothing touches it: -1.
 *       input       -1 (so is anything unclear).
 *     Cuts are the distinct positions but 0 (a plain forward), in order;
 *     site_cut maps a site to the cut at its position.
 *   - a cut's live values: defined before it at top level (node outputs, graph
 *     inputs but self), used at or after it (sub-blocks and the return
 *     included), not pure. A live value that is not a Tensor, random numbers
 *     drawn on both sides of the cut, module attributes set before it
 *     (prim::SetAttr), or a suffix graph that fails to build make the cut
 *     unusable (cut_bytes 0, listed in nnfi_host_torch_info).
 *   - layout: capture forwards on deterministic batches of 2 and 3 (fault-free,
 *     the hook never called) return every candidate cut's live tensors; each
 *     must have a batch dimension (dim >= 1, size(0) == rows in both, the same
 *     per-sample layout), not be
 *     quantized, be dense and non-overlapping with batch stride == per-sample
 *     numel, and not share memory with another live value of its cut. Its
 *     per-sample sizes, strides and dtype are kept: forward_from rebuilds it
 *     with the SAME strides (channels-last stays channels-last).
 *   Per sample, a cut's bytes are its live tensors' sample bytes concatenated
 *   in live order (row r: tensor 0's sample r, tensor 1's sample r, ...).
 *   - value cuts (site_value_cut, CPU only): an activation site whose
 *     nnfi::site op is a top-level node has its own cut just before the op;
 *     when that cut is usable and its only live value is the op's input, in
 *     the standard contiguous layout with the site's dtype and numel, its
 *     bytes are exactly what the hook gets (in place, no copy), so the engine
 *     can compare a faulty forward's tensor there with the golden cache.
 *     Strided (channels-last), quantized, multi-value cuts, sites in loops,
 *     sites whose batch is not dim 0 or is folded into it (the hook gets a
 *     copy) and CUDA models: -1.
 *
 * forward_capture runs a clone of the whole graph that returns (output, an
 * aten::clone of each usable cut's live values taken AT the cut, so an
 * in-place op of the suffix cannot change them); forward_from runs the suffix
 * on tensors rebuilt from the caller's bytes. Both share run()'s start and end
 * (host_torch.cpp), so the logits are bit-identical to forward()'s when the
 * executor computes the same ops the same way (the engine checks it at golden
 * time and drops a cut that does not).
 */
#include "torch_internal.h"

#include <ATen/ops/empty_strided.h>
#include <c10/core/InferenceMode.h>
#include <torch/csrc/jit/api/function_impl.h>

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

using torch::jit::Block;
using torch::jit::Graph;
using torch::jit::Node;
using torch::jit::Value;

namespace nnfi_torch {

/* One live tensor of a cut, per sample (without the batch dimension). */
struct LiveSpec {
    std::vector<int64_t> sizes, strides;
    c10::ScalarType st = c10::ScalarType::Undefined;
    int64_t numel = 0; /* elements per sample = the batch stride */
    size_t bytes = 0;  /* per sample */
};

struct Cut {
    size_t pos = 0;          /* top-level node the suffix starts at */
    std::vector<Value *> live; /* in the forward graph */
    std::string why;         /* non-empty: unusable */
    std::vector<LiveSpec> spec;
    uint64_t bytes = 0; /* per sample; 0 while unusable */
    std::shared_ptr<Graph> suffix_graph;
    std::unique_ptr<torch::jit::GraphFunction> suffix;
    size_t cap_first = 0; /* its first live value's index in the capture tuple */
};

struct Cuts {
    std::shared_ptr<Graph> graph; /* the rewritten forward graph */
    std::vector<Node *> top;      /* its top-level nodes */
    std::vector<Cut> cuts;
    std::vector<int32_t> site_cut; /* per site */
    std::vector<int32_t> value_cut; /* per site: site_value_cut on the CPU (empty: none) */
    std::unique_ptr<torch::jit::GraphFunction> capture; /* usable cuts only; null when none */
    std::string note;              /* for the info line */
};

namespace {

/* ---- graph analysis --------------------------------------------------- */

const c10::Symbol kSiteSym = c10::Symbol::fromQualString("nnfi::site");

bool is_tensor_type(const c10::TypePtr &t) { return t->isSubtypeOf(*c10::TensorType::get()); }

/* int, float, bool, str, None, Device, ... and lists / tuples / optionals of
 * them: values a pure node may produce (no tensor, no object). */
bool simple_type(const c10::TypePtr &t)
{
    switch (t->kind()) {
    case c10::TypeKind::IntType:
    case c10::TypeKind::FloatType:
    case c10::TypeKind::BoolType:
    case c10::TypeKind::StringType:
    case c10::TypeKind::NoneType:
    case c10::TypeKind::DeviceObjType:
    case c10::TypeKind::NumberType:
    case c10::TypeKind::ScalarTypeType:
    case c10::TypeKind::LayoutType:
    case c10::TypeKind::MemoryFormatType:
    case c10::TypeKind::ComplexType:
        return true;
    case c10::TypeKind::ListType:
    case c10::TypeKind::TupleType:
    case c10::TypeKind::OptionalType:
        for (const c10::TypePtr &c : t->containedTypes())
            if (!simple_type(c)) return false;
        return true;
    default:
        return false;
    }
}

bool mutates_args(const Node *n)
{
    const c10::FunctionSchema *s = n->maybeSchema();
    return s && s->is_mutable();
}

/* Does n (or a node in its blocks) satisfy pred? */
bool any_node(Node *n, bool (*pred)(Node *))
{
    if (pred(n)) return true;
    for (Block *b : n->blocks())
        for (Node *c : b->nodes())
            if (any_node(c, pred)) return true;
    return false;
}

bool draws_random(Node *n) { return n->isNondeterministic(); }
bool sets_attr(Node *n) { return n->kind() == c10::prim::SetAttr; }

/* The top-level node holding n (n itself at top level; the return node too). */
Node *top_of(Node *n, Block *top)
{
    while (n->owningBlock() != top) n = n->owningBlock()->owningNode();
    return n;
}

bool starts_with(const std::string &s, const std::string &p) { return s.compare(0, p.size(), p) == 0; }

/* Does GetAttr path p touch site `name` (module path `mod`)? */
bool touches(const std::string &p, const std::string &name, const std::string &mod)
{
    if (p.empty() || p == name || starts_with(name, p + ".")) return true;
    return !mod.empty() && starts_with(p, mod + ".");
}

struct Analysis {
    Graph *g = nullptr;
    Block *top = nullptr;
    Value *self = nullptr;
    std::unordered_map<Node *, size_t> pos;                     /* top-level node -> index; return node -> N */
    std::unordered_set<Value *> pure;                           /* top-level pure values */
    std::unordered_map<Value *, std::set<std::string>> paths;  /* pure values: GetAttr paths they derive from */
    std::unordered_map<Value *, std::string> attr;             /* GetAttr chain values, sub-blocks too */
    std::vector<std::set<std::string>> consumed;               /* per top-level node: paths its non-pure parts read */

    size_t pos_of(Node *n) const { return pos.at(top_of(n, top)); }

    void consume(Node *n, std::set<std::string> &out)
    {
        bool chain = n->kind() == c10::prim::GetAttr && attr.count(n->input(0));
        if (chain) {
            attr[n->output()] = join(attr[n->input(0)], n->s(c10::attr::name));
        } else {
            for (Value *v : n->inputs()) {
                auto pit = paths.find(v);
                if (pit != paths.end()) out.insert(pit->second.begin(), pit->second.end());
                else if (attr.count(v)) out.insert(attr[v]);
            }
        }
        for (Block *b : n->blocks()) {
            for (Node *c : b->nodes()) consume(c, out);
            consume(b->return_node(), out);
        }
    }

    void run(Graph *graph)
    {
        g = graph;
        top = g->block();
        self = g->inputs()[0];
        attr[self] = "";
        size_t i = 0;
        for (Node *n : top->nodes()) pos[n] = i++;
        pos[top->return_node()] = i;
        consumed.assign(i, {});
        i = 0;
        for (Node *n : top->nodes()) {
            bool is_pure = false;
            std::set<std::string> ps;
            if (n->kind() == c10::prim::Constant) {
                is_pure = true;
            } else if (n->kind() == c10::prim::GetAttr && attr.count(n->input(0))) {
                std::string p = join(attr[n->input(0)], n->s(c10::attr::name));
                attr[n->output()] = p;
                ps.insert(p);
                is_pure = true;
            } else if (n->blocks().empty() && !n->hasSideEffects() && !n->isNondeterministic() && !mutates_args(n) &&
                       n->kind() != kSiteSym) {
                is_pure = true;
                for (Value *v : n->inputs()) {
                    auto it = paths.find(v);
                    if (it == paths.end()) {
                        is_pure = false;
                        break;
                    }
                    ps.insert(it->second.begin(), it->second.end());
                }
                for (Value *o : n->outputs()) {
                    if (!simple_type(o->type())) is_pure = false;
                    for (const torch::jit::Use &u : o->uses()) /* a list mutated later is state, not a constant */
                        if (mutates_args(u.user)) is_pure = false;
                }
            }
            if (is_pure) {
                for (Value *o : n->outputs()) {
                    pure.insert(o);
                    paths[o] = ps;
                }
            } else {
                consume(n, consumed[i]);
            }
            i++;
        }
    }
};

/* Site -> module path for the touch rule: a packed weight's module for all
 * of its sites, else the name minus its last component. */
std::vector<std::string> module_paths(const nnfi_model *m)
{
    std::vector<std::string> mod(m->sites.size());
    for (size_t s = 0; s < m->sites.size(); s++) {
        std::string name = m->sites[s].name;
        size_t dot = name.rfind('.');
        mod[s] = dot == std::string::npos ? "" : name.substr(0, dot);
    }
    for (const auto &pp : m->packed)
        for (int32_t s : {pp->w.site, pp->b.site, pp->scale.site, pp->zp.site})
            if (s >= 0) mod[(size_t)s] = pp->path;
    return mod;
}

/* Each site's position (-1: none). */
std::vector<int64_t> site_positions(const nnfi_model *m, Analysis &a)
{
    std::vector<int64_t> p(m->sites.size(), -1);
    std::function<void(Block *)> walk = [&](Block *b) {
        for (Node *n : b->nodes()) {
            if (n->kind() == kSiteSym) {
                c10::optional<c10::IValue> id = torch::jit::toIValue(n->input(1));
                if (id && id->isInt() && id->toInt() >= 0 && (size_t)id->toInt() < m->ops.size()) {
                    int32_t s = m->ops[(size_t)id->toInt()].site;
                    if (s >= 0) p[(size_t)s] = (int64_t)a.pos_of(n);
                }
            }
            for (Block *c : n->blocks()) walk(c);
        }
    };
    walk(a.top);
    std::vector<std::string> mod = module_paths(m);
    for (size_t s = 0; s < m->sites.size(); s++) {
        nnfi_site_kind k = m->sites[s].kind;
        if (k != NNFI_SITE_PARAM && k != NNFI_SITE_BUFFER) continue;
        const std::string name = m->sites[s].name;
        for (size_t i = 0; i < a.consumed.size() && p[s] < 0; i++)
            for (const std::string &path : a.consumed[i])
                if (touches(path, name, mod[s])) {
                    p[s] = (int64_t)i;
                    break;
                }
    }
    if (!p.empty() && m->sites[0].kind == NNFI_SITE_INPUT) p[0] = -1;
    return p;
}

/* Values live across position i, in definition order. */
std::vector<Value *> live_at(const Analysis &a, size_t i)
{
    std::vector<Value *> out;
    auto last_use = [&](Value *v) {
        int64_t last = -1;
        for (const torch::jit::Use &u : v->uses()) last = std::max(last, (int64_t)a.pos_of(u.user));
        return last;
    };
    for (Value *v : a.g->inputs())
        if (v != a.self && last_use(v) >= (int64_t)i) out.push_back(v);
    for (Node *n : a.top->nodes()) {
        if (a.pos.at(n) >= i) break;
        for (Value *v : n->outputs())
            if (!a.pure.count(v) && last_use(v) >= (int64_t)i) out.push_back(v);
    }
    return out;
}

/* ---- graph building --------------------------------------------------- */

/* Clones the top-level nodes [from, N) of a into sg with env; the pure nodes
 * before `from` that they need are cloned first (in order). */
void clone_suffix(const Analysis &a, const std::vector<Node *> &top, size_t from, Graph &sg,
                  std::unordered_map<Value *, Value *> &env)
{
    std::unordered_set<Node *> need;
    std::function<void(Value *)> want = [&](Value *v) {
        Node *d = v->node();
        if (d->owningBlock() != a.top || d->kind() == c10::prim::Param || !a.pure.count(v)) return;
        if (a.pos.at(d) >= from || !need.insert(d).second) return;
        for (Value *in : d->inputs()) want(in);
    };
    std::function<void(Node *)> scan = [&](Node *n) {
        for (Value *v : n->inputs()) want(v);
        for (Block *b : n->blocks()) {
            for (Node *c : b->nodes()) scan(c);
            scan(b->return_node());
        }
    };
    for (size_t j = from; j < top.size(); j++) scan(top[j]);
    scan(a.top->return_node());
    auto map = [&env](Value *v) -> Value * {
        auto it = env.find(v);
        if (it == env.end()) throw std::runtime_error("value %" + v->debugName() + " is not defined in the suffix");
        return it->second;
    };
    auto clone = [&](Node *n) {
        Node *c = sg.appendNode(sg.createClone(n, map));
        for (size_t k = 0; k < n->outputs().size(); k++) env[n->outputs()[k]] = c->outputs()[k];
    };
    for (size_t j = 0; j < from; j++)
        if (need.count(top[j])) clone(top[j]);
    for (size_t j = from; j < top.size(); j++) clone(top[j]);
}

std::shared_ptr<Graph> build_suffix(const Analysis &a, const std::vector<Node *> &top, const Cut &c)
{
    auto sg = std::make_shared<Graph>();
    std::unordered_map<Value *, Value *> env;
    env[a.self] = sg->addInput("self")->copyMetadata(a.self);
    for (Value *v : c.live) env[v] = sg->addInput()->copyMetadata(v);
    clone_suffix(a, top, c.pos, *sg, env);
    for (Value *o : a.g->outputs()) sg->registerOutput(env.at(o));
    sg->lint();
    return sg;
}

/* The whole graph returning (output, per listed cut: clones of its live
 * values taken at the cut, or the values themselves when !clones). */
std::shared_ptr<Graph> build_capture(const Analysis &a, const std::vector<Node *> &top, std::vector<Cut *> cuts,
                                     bool clones)
{
    auto cg = std::make_shared<Graph>();
    std::unordered_map<Value *, Value *> env;
    for (Value *v : a.g->inputs()) env[v] = cg->addInput()->copyMetadata(v);
    auto map = [&env](Value *v) { return env.at(v); };
    std::vector<Value *> extra;
    for (size_t j = 0; j < top.size(); j++) {
        for (Cut *c : cuts) {
            if (c->pos != j) continue;
            c->cap_first = 1 + extra.size();
            for (Value *v : c->live)
                extra.push_back(clones ? cg->insert(c10::aten::clone, {env.at(v)}) : env.at(v));
        }
        Node *n = cg->appendNode(cg->createClone(top[j], map));
        for (size_t k = 0; k < top[j]->outputs().size(); k++) env[top[j]->outputs()[k]] = n->outputs()[k];
    }
    if (a.g->outputs().size() != 1) throw std::runtime_error("forward's graph has more than one output");
    std::vector<Value *> all{env.at(a.g->outputs()[0])};
    all.insert(all.end(), extra.begin(), extra.end());
    Node *t = cg->appendNode(cg->createTuple(all));
    cg->registerOutput(t->output());
    cg->lint();
    return cg;
}

std::unique_ptr<torch::jit::GraphFunction> make_function(const std::string &name, std::shared_ptr<Graph> g)
{
    return std::make_unique<torch::jit::GraphFunction>(c10::QualifiedName("__nnfi__." + name), std::move(g), nullptr);
}

/* ---- layout ----------------------------------------------------------- */

/* Why tensor t (of a batch of `rows`) cannot be a live value, or "". */
std::string layout_problem(const at::Tensor &t, int64_t rows)
{
    if (!t.defined()) return "an undefined tensor";
    if (t.is_quantized()) return std::string("a quantized tensor (") + c10::toString(t.scalar_type()) + ")";
    if (t.dim() < 1 || t.size(0) != rows) return "a tensor without a batch dimension " + c10::str(t.sizes());
    if (t.layout() != at::kStrided || !t.is_non_overlapping_and_dense()) return "a tensor that is not dense";
    if (rows > 1 && t.numel() && t.stride(0) * rows != t.numel())
        return "a tensor whose batch dimension is not its outermost " + c10::str(t.strides());
    return "";
}

LiveSpec spec_of(const at::Tensor &t)
{
    LiveSpec s;
    s.sizes.assign(t.sizes().begin() + 1, t.sizes().end());
    s.strides.assign(t.strides().begin() + 1, t.strides().end());
    s.st = t.scalar_type();
    s.numel = 1;
    for (int64_t d : s.sizes) s.numel *= d;
    s.bytes = (size_t)s.numel * t.element_size();
    return s;
}

/* Does t have spec s's per-sample layout (strides of dims of size 1 aside)? */
bool has_spec(const at::Tensor &t, const LiveSpec &s)
{
    if (t.scalar_type() != s.st || t.dim() != (int64_t)s.sizes.size() + 1) return false;
    for (size_t d = 0; d < s.sizes.size(); d++)
        if (t.size((int64_t)d + 1) != s.sizes[d] || (s.sizes[d] > 1 && t.stride((int64_t)d + 1) != s.strides[d]))
            return false;
    return true;
}

bool share_memory(const at::Tensor &x, const at::Tensor &y)
{
    return x.has_storage() && y.has_storage() && x.storage().unsafeGetStorageImpl() == y.storage().unsafeGetStorageImpl();
}

std::vector<c10::IValue> run_capture(nnfi_model *m, torch::jit::GraphFunction &fn, const float *input, int64_t rows)
{
    begin_forward(m);
    c10::InferenceMode guard;
    at::manual_seed(m->seed);
    at::Tensor x = input_tensor(m, input, rows);
    m->rows = rows;
    m->hook_st = NNFI_OK;
    ActiveModel active(nullptr); /* fault-free: no hook */
    torch::jit::Stack stack{c10::IValue(m->module._ivalue()), x};
    c10::IValue out = call_guarded(m, [&] {
        fn.run(stack);
        return stack.at(0);
    });
    if (!out.isTuple()) throw std::runtime_error("the capture graph returned a " + out.tagKind());
    return out.toTupleRef().elements().vec();
}

/* Learns the layouts on a deterministic batch of 2; marks cuts unusable. */
void learn_layouts(nnfi_model *m, Cuts &k, const Analysis &a)
{
    std::vector<Cut *> cand;
    for (Cut &c : k.cuts)
        if (c.why.empty()) cand.push_back(&c);
    if (cand.empty()) return;
    auto fn = make_function("learn", build_capture(a, k.top, cand, false));
    std::vector<float> in(3 * m->input_numel);
    for (size_t i = 0; i < in.size(); i++) /* as discover_sites */
        in[i] = (float)((((uint32_t)i * 2654435761u) >> 8) & 0xffff) / 65536.0f;
    std::vector<c10::IValue> el = run_capture(m, *fn, in.data(), 2);
    /* and a batch of 3: a dimension that is 2 by chance (an LSTM's [layers=2, N, H]
     * state, attention's [N * heads, L, S]) must not pass for the batch */
    std::vector<c10::IValue> el3 = run_capture(m, *fn, in.data(), 3);
    for (Cut *c : cand) {
        for (size_t j = 0; j < c->live.size() && c->why.empty(); j++) {
            const c10::IValue &v = el.at(c->cap_first + j);
            const c10::IValue &v3 = el3.at(c->cap_first + j);
            std::string p = v.isTensor() ? layout_problem(v.toTensor(), 2) : "a " + v.tagKind();
            if (p.empty()) p = v3.isTensor() ? layout_problem(v3.toTensor(), 3) : "a " + v3.tagKind();
            if (p.empty() && !has_spec(v3.toTensor(), spec_of(v.toTensor())))
                p = "a tensor whose per-sample layout depends on the batch";
            if (!p.empty()) {
                c->why = "a live value is " + p;
                break;
            }
            for (size_t i = 0; i < j; i++)
                if (share_memory(el.at(c->cap_first + i).toTensor(), v.toTensor())) {
                    c->why = "two live values share memory";
                    break;
                }
            if (c->why.empty()) c->spec.push_back(spec_of(v.toTensor()));
        }
        if (!c->why.empty()) {
            c->spec.clear();
            continue;
        }
        for (const LiveSpec &s : c->spec) c->bytes += s.bytes;
        if (c->bytes == 0) c->why = "no bytes live";
    }
}

/* Is the per-sample layout s the standard contiguous one (strides of dims of
 * size 1 aside, as at::Tensor::is_contiguous)? */
bool contiguous_spec(const LiveSpec &s)
{
    int64_t expect = 1;
    for (size_t d = s.sizes.size(); d-- > 0;) {
        if (s.sizes[d] != 1 && s.strides[d] != expect) return false;
        expect *= s.sizes[d];
    }
    return true;
}

/* Each site's value cut (see site_value_cut_impl), -1 where none: an
 * activation site whose nnfi::site node is a top-level node, called by no
 * other op, whose own cut starts at that node, is usable and has exactly one
 * live value, the node's input, of the site's dtype and per-sample numel in
 * the standard contiguous layout (what the hook gets without a copy). */
std::vector<int32_t> value_cuts(const nnfi_model *m, const Cuts &k, const Analysis &a)
{
    std::vector<int32_t> out(m->sites.size(), -1);
    std::vector<int> ops_of(m->sites.size(), 0);
    for (const OpSite &op : m->ops)
        if (op.site >= 0 && (size_t)op.site < ops_of.size()) ops_of[(size_t)op.site]++;
    for (Node *n : a.top->nodes()) {
        if (n->kind() != kSiteSym || n->inputs().size() != 2) continue;
        c10::optional<c10::IValue> id = torch::jit::toIValue(n->input(1));
        if (!id || !id->isInt() || id->toInt() < 0 || (size_t)id->toInt() >= m->ops.size()) continue;
        int32_t s = m->ops[(size_t)id->toInt()].site;
        if (s < 0 || (size_t)s >= m->sites.size() || ops_of[(size_t)s] != 1) continue;
        const nnfi_site &site = m->sites[(size_t)s];
        if (site.kind != NNFI_SITE_ACTIVATION) continue;
        if (m->site_bdim.at((size_t)s) != 0 || m->site_fold.at((size_t)s) != 1) continue; /* the hook gets a copy */
        int32_t c = k.site_cut.at((size_t)s);
        if (c < 0 || (size_t)c >= k.cuts.size()) continue;
        const Cut &cut = k.cuts[(size_t)c];
        if (!cut.why.empty() || !cut.suffix || cut.bytes == 0 || cut.pos != a.pos.at(n)) continue;
        if (cut.live.size() != 1 || cut.spec.size() != 1 || cut.live[0] != n->input(0)) continue;
        const LiveSpec &sp = cut.spec[0];
        if (sp.st != m->site_st.at((size_t)s) || !contiguous_spec(sp)) continue;
        if ((uint64_t)sp.numel != site.numel || cut.bytes != site.numel * (uint64_t)c10::elementSize(sp.st)) continue;
        out[(size_t)s] = c;
    }
    return out;
}

} // namespace

/* ---- open ------------------------------------------------------------- */

void find_cuts(nnfi_model *m)
{
    auto k = std::make_shared<Cuts>();
    k->site_cut.assign(m->sites.size(), -1);
    m->cuts = k;
    try {
        k->graph = m->module.get_method("forward").graph();
        Analysis a;
        a.run(k->graph.get());
        if (k->graph->inputs().empty() || k->graph->outputs().size() != 1) {
            k->note = "none (forward's graph is not (self, ...) -> one output)";
            return;
        }
        for (Node *n : k->graph->nodes()) k->top.push_back(n);
        std::vector<int64_t> p = site_positions(m, a);
        std::set<int64_t> positions;
        for (int64_t q : p)
            if (q > 0) positions.insert(q);
        std::map<int64_t, int32_t> index;
        for (int64_t q : positions) {
            index[q] = (int32_t)k->cuts.size();
            Cut c;
            c.pos = (size_t)q;
            k->cuts.push_back(std::move(c));
        }
        for (size_t s = 0; s < p.size(); s++)
            if (p[s] > 0) k->site_cut[s] = index[p[s]];

        /* random numbers on both sides of a cut: the suffix would draw others;
         * module attributes set before it: a resumed forward would not set them */
        size_t n = k->top.size();
        std::vector<bool> rnd(n), set(n);
        for (size_t j = 0; j < n; j++) {
            rnd[j] = any_node(k->top[j], draws_random);
            set[j] = any_node(k->top[j], sets_attr);
        }
        auto any_in = [](const std::vector<bool> &v, size_t from, size_t to) {
            return std::find(v.begin() + (long)from, v.begin() + (long)to, true) != v.begin() + (long)to;
        };
        for (Cut &c : k->cuts) {
            c.live = live_at(a, c.pos);
            if (any_in(rnd, 0, c.pos) && any_in(rnd, c.pos, n)) c.why = "random numbers are drawn before and after it";
            if (any_in(set, 0, c.pos)) c.why = "module attributes are set before it (prim::SetAttr)";
            for (Value *v : c.live)
                if (c.why.empty() && !is_tensor_type(v->type()))
                    c.why = "a live value is a " + v->type()->repr_str() + ", not a Tensor";
            if (!c.why.empty()) continue;
            try {
                c.suffix_graph = build_suffix(a, k->top, c);
            } catch (const std::exception &e) {
                c.why = "its suffix graph cannot be built: " + torch_message(e);
            }
        }
        learn_layouts(m, *k, a);
        std::vector<Cut *> usable;
        for (Cut &c : k->cuts) {
            if (!c.why.empty()) {
                c.bytes = 0;
                c.suffix_graph.reset();
                continue;
            }
            c.suffix = make_function("cut" + std::to_string(&c - k->cuts.data()), c.suffix_graph);
            usable.push_back(&c);
        }
        k->capture = make_function("capture", build_capture(a, k->top, usable, true)); /* (output,) without any */
        k->value_cut = value_cuts(m, *k, a);
        k->note = std::to_string(k->cuts.size()) + " (" + std::to_string(usable.size()) + " usable)";
        std::map<std::string, std::string> by_why; /* unusable cuts grouped by why */
        for (size_t i = 0; i < k->cuts.size(); i++)
            if (!k->cuts[i].why.empty()) {
                std::string &list = by_why[k->cuts[i].why];
                list += (list.empty() ? "" : ",") + std::to_string(i);
            }
        for (const auto &w : by_why)
            k->note += std::string(w.second.find(',') == std::string::npos ? ", cut " : ", cuts ") + w.second + ": " + w.first;
    } catch (const std::exception &e) {
        /* never fails the open: the model runs without prefix reuse */
        auto none = std::make_shared<Cuts>();
        none->site_cut.assign(m->sites.size(), -1);
        none->note = "none (" + torch_message(e) + ")";
        m->cuts = none;
    }
}

std::string cuts_note(const nnfi_model *m) { return m->cuts ? m->cuts->note : "none"; }

uint32_t n_cuts_impl(const nnfi_model *m) { return m->cuts ? (uint32_t)m->cuts->cuts.size() : 0; }

uint64_t cut_bytes_impl(const nnfi_model *m, uint32_t c)
{
    return m->cuts && c < m->cuts->cuts.size() ? m->cuts->cuts[c].bytes : 0;
}

int32_t site_cut_impl(const nnfi_model *m, uint32_t site)
{
    return m->cuts && site < m->cuts->site_cut.size() ? m->cuts->site_cut[site] : -1;
}

int32_t site_value_cut_impl(const nnfi_model *m, uint32_t site)
{
    if (m->device >= 0) return -1; /* the hook's tensor and the cut's bytes may come from other kernels' runs */
    return m->cuts && site < m->cuts->value_cut.size() ? m->cuts->value_cut[site] : -1;
}

/* ---- forwards --------------------------------------------------------- */

at::Tensor capture_forward(nnfi_model *m, const float *input, int64_t rows, void *const *out)
{
    static const Cuts none;
    const Cuts &k = m->cuts ? *m->cuts : none;
    if (!k.capture) { /* the analysis failed at open: no cuts, a plain forward without the hook */
        struct NoHook {
            nnfi_model *m;
            nnfi_site_hook hook;
            ~NoHook() { m->hook = hook; }
        } keep{m, m->hook};
        m->hook = nullptr;
        return run(m, input, rows);
    }
    std::vector<c10::IValue> el = run_capture(m, *k.capture, input, rows);
    at::Tensor o = logits_of(m, el.at(0), rows); /* waits for the device */
    for (size_t c = 0; c < k.cuts.size(); c++) {
        if (!out || !out[c]) continue;
        const Cut &cut = k.cuts[c];
        if (!cut.suffix) continue; /* refused by the caller (torch_forward_capture) */
        char *dst = static_cast<char *>(out[c]);
        size_t off = 0;
        for (size_t j = 0; j < cut.spec.size(); j++) {
            const LiveSpec &s = cut.spec[j];
            at::Tensor t = el.at(cut.cap_first + j).toTensor();
            if (!layout_problem(t, rows).empty() || !has_spec(t, s))
                throw std::runtime_error("cut " + std::to_string(c) + ": live value %" + cut.live[j]->debugName() +
                                         " is " + c10::toString(t.scalar_type()) + c10::str(t.sizes()) + " strides " +
                                         c10::str(t.strides()) + ", not " + c10::toString(s.st) + " [rows]" +
                                         c10::str(c10::IntArrayRef(s.sizes)) + " strides " +
                                         c10::str(c10::IntArrayRef(s.strides)) + " as at open");
            if (!t.device().is_cpu()) t = t.to(at::kCPU);
            const char *src = static_cast<const char *>(t.data_ptr());
            for (int64_t r = 0; r < rows; r++)
                std::memcpy(dst + (size_t)r * cut.bytes + off, src + (size_t)r * s.bytes, s.bytes);
            off += s.bytes;
        }
    }
    return o;
}

at::Tensor resume_forward(nnfi_model *m, uint32_t c, const void *live, int64_t rows)
{
    Cut &cut = m->cuts->cuts.at(c);
    begin_forward(m);
    c10::InferenceMode guard;
    at::manual_seed(m->seed);
    torch::jit::Stack stack{c10::IValue(m->module._ivalue())};
    const char *src = static_cast<const char *>(live);
    size_t off = 0;
    bool waited = false;
    for (const LiveSpec &s : cut.spec) {
        std::vector<int64_t> sizes{rows}, strides{s.numel};
        sizes.insert(sizes.end(), s.sizes.begin(), s.sizes.end());
        strides.insert(strides.end(), s.strides.begin(), s.strides.end());
        at::Tensor t = at::empty_strided(sizes, strides, at::TensorOptions().dtype(s.st));
        char *dst = static_cast<char *>(t.data_ptr());
        for (int64_t r = 0; r < rows; r++)
            std::memcpy(dst + (size_t)r * s.bytes, src + (size_t)r * cut.bytes + off, s.bytes);
        off += s.bytes;
        if (m->device >= 0) {
            if (!waited) device_wait(m, "the device before a forward"); /* the copy would wait unbounded */
            waited = true;
            at::Tensor d = at::empty_strided(sizes, strides,
                                             at::TensorOptions().dtype(s.st).device(at::kCUDA, (c10::DeviceIndex)m->device));
            d.copy_(t);
            t = d;
        }
        stack.emplace_back(std::move(t));
    }
    m->rows = rows;
    m->hook_st = NNFI_OK;
    ActiveModel active(m->hook ? m : nullptr);
    if (m->hook) std::fill(m->counts.begin(), m->counts.end(), 0u); /* the input site is not called */
    c10::IValue out = call_guarded(m, [&] {
        cut.suffix->run(stack);
        return stack.at(0);
    });
    return logits_of(m, out, rows);
}

} // namespace nnfi_torch
