/* torch_quant.cpp - int8 quantized weights of the torch host behind host
 * "shadows": find and unpack them at open, expose them as sites, and at the
 * start of every forward repack (or restore) what the injector changed; read
 * them back from the model for nnfi_host_torch_read_live.
 *
 * Sites (in the same order as float ones: PARAMs after the parameters,
 * BUFFERs after the buffers; torch_params.cpp calls in that order):
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
 *
 * Why copies: the weights are not parameters, and the kernels read a prepacked
 * form made inside the packed object (QNNPACK: at the first forward), so a
 * write into the unpacked weight is never seen. Each of these sites therefore
 * points at HOST MEMORY, a "shadow" of the model's value (struct Shadow: cur =
 * the site's memory, pristine = as loaded, applied = what the model holds
 * now). At the START OF EVERY FORWARD (sync_shadows, hook or not, before the
 * graph runs) the host makes the model hold what the shadows hold:
 *   - packed params whose weight/bias/scale/zero point shadows all equal the
 *     loaded values again: the SAVED packed object is re-set into its slot
 *     (no repack; bit-exact: it is the object that was loaded);
 *   - packed params whose shadows differ from what the model holds: ONE
 *     repack for the tensor, however many of its elements changed: a copy of
 *     the saved object gets __setstate__(the saved state with the weight
 *     rebuilt from the shadows by _make_per_{tensor,channel}_quantized_tensor
 *     and the bias replaced) and is set into the slot. The saved object is
 *     never modified;
 *   - attributes are set (setSlot) and int64 zero points written.
 * Without changes this costs one memcmp per shadow (qcnn: ~2 x 1 MB, about
 * 0.15 ms against a 75 ms forward of 256 rows). So the injector needs no
 * notion of "commit": it writes a fault through `data` at arm() and restores
 * it at disarm(), and the next forward sees the model it describes. An edit is
 * visible to the model only from the next forward on (it must not happen
 * during a forward: the worker's parameter faults never do).
 *
 * Engine semantics a campaign should know (QNNPACK): the kernels keep scales
 * as float (low bits of an f64 scale may be lost) and a weight zero point as
 * uint8 (zero_point + 128 mod 256: bits above 7 of a weight zero point have no
 * effect); a scale that makes a requantization scale negative, zero or not
 * finite, or a zero point out of range, makes the quantized op throw: the
 * forward fails with a message naming the refusal (the worker counts the
 * trial as failed / DUE). Measured here: such a failed op can leave the packed
 * object it ran with changed (its cached packing), so that the saved object no
 * longer gives the golden logits; after ANY failed forward of a model with
 * packed params the host therefore rebuilds every packed object from its saved
 * state (__setstate__ on a copy, as torch::jit::load made it) at the next
 * forward, which restores the golden logits bit-exactly.
 * nnfi_host_torch_read_live() reads a site's value back from the model (for
 * packed params: __getstate__ of the object installed now), which is how the
 * tests show that a fault changes that value and nothing else;
 * nnfi_host_torch_get_stats() counts repacks, restores, rebuilds and their
 * time.
 */
#include "torch_internal.h"

#include <ATen/ops/_make_per_channel_quantized_tensor.h>
#include <ATen/ops/_make_per_tensor_quantized_tensor.h>
#include <ATen/ops/full.h>

#include <chrono>
#include <climits>
#include <map>

namespace nnfi_torch {
namespace {

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

/* ---- finding and exposing --------------------------------------------- */

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

} // namespace

bool is_packed_type(const std::string &q)
{
    static const char *const names[] = {"__torch__.torch.classes.quantized.Conv2dPackedParamsBase",
                                        "__torch__.torch.classes.quantized.Conv3dPackedParamsBase",
                                        "__torch__.torch.classes.quantized.LinearPackedParamsBase"};
    for (const char *n : names)
        if (q == n) return true;
    return false;
}

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

/* ---- synchronising at the start of a forward -------------------------- */

namespace {

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

} // namespace

/* A packed object whose shadows all equal the loaded values gets its saved
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

/* ---- reading back ----------------------------------------------------- */

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

nnfi_status read_packed(const nnfi_model *m, const Packed &p, uint32_t site, void *out)
{
    const nnfi_site &s = m->sites[site];
    int32_t i = (int32_t)site;
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

} // namespace

bool read_live_shadow(const nnfi_model *m, uint32_t site, void *out, nnfi_status *st)
{
    const nnfi_site &s = m->sites[site];
    int32_t i = (int32_t)site;
    for (const auto &pp : m->packed) {
        const Packed &p = *pp;
        if (i != p.w.site && i != p.b.site && i != p.scale.site && i != p.zp.site) continue;
        *st = read_packed(m, p, site, out);
        return true;
    }
    for (const auto &ap : m->attrs) {
        if (ap->v.site != i) continue;
        const c10::IValue &v = ap->owner->getSlot(ap->slot);
        *st = ap->is_int ? copy_live(s, at::full({1}, v.toInt(), at::kLong), out)
                         : copy_live(s, at::full({1}, v.toDouble(), at::kDouble), out);
        return true;
    }
    for (const auto &lp : m->longs)
        if (lp->v.site == i) {
            *st = copy_live(s, lp->target, out);
            return true;
        }
    return false;
}

} // namespace nnfi_torch
