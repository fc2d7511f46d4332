/* torch_params.cpp - the torch host's tensor sites over the model's own
 * memory: the "input" site, parameter and buffer sites (with the quantized
 * ones of torch_quant.cpp in their place), the info line, and reading a
 * parameter or buffer back from the model.
 *
 * Sites, in this order:
 *   "input"                    INPUT       the per-sample input shape
 *   named_parameters(recurse)  PARAM       e.g. "conv1.weight"
 *   named_buffers(recurse)     BUFFER      e.g. "bn1.running_mean"
 *   activations and states     ACTIVATION / STATE (torch_graph.cpp), in the
 *                                          order of their first call in a forward
 * Parameters/buffers map float32/16/bf16/64, int8, uint8, int32 (and qint8,
 * quint8, qint32 through their integer storage); others (int64, bool) and
 * non-contiguous tensors are skipped and listed by nnfi_host_torch_info().
 * On a GPU their `data` is a device pointer (nnfi_site.device >= 0). A pruned
 * model (prune.remove before scripting) is an ordinary float model: its
 * weights are dense fp32 PARAM sites whose zeros are plain elements.
 *
 * Input shape (per sample, no batch dimension): the eval set's, which the
 * engine puts in cfg->input_shape (nnfi_eval_model_cfg), so an unmodified
 * model (a torchvision ResNet scripted as it is) needs nothing more. A top
 * module attribute `input_shape` (List[int] or Tuple[int, ...]) is honoured
 * and must then agree with the eval set; without either (nnfi sites on a bare
 * MODEL.pt) [1, 28, 28]. Input dtype: cfg->input_dtype (the eval images':
 * fp32, fp16, bf16, or int64 token ids); the "input" site has that dtype, so
 * a fault in a token id flips bits of the int64 id the model reads.
 */
#include "torch_internal.h"

#include <ATen/ops/from_blob.h>
#include <torch/version.h>

#include <cstdio>

namespace nnfi_torch {

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

static std::string shape_text(const std::vector<int64_t> &v)
{
    std::string s = "[";
    for (size_t i = 0; i < v.size(); i++) s += (i ? ", " : "") + std::to_string(v[i]);
    return s + "]";
}

nnfi_status read_input_shape(nnfi_model *m, const nnfi_model_cfg *cfg)
{
    std::vector<int64_t> from_data;
    for (int d = 0; cfg && d < cfg->input_ndim && d < 8; d++) from_data.push_back(cfg->input_shape[d]);
    m->input_shape = from_data.empty() ? std::vector<int64_t>{1, 28, 28} : from_data;
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
        if (!from_data.empty() && shape != from_data)
            return NNFI_FAIL(NNFI_E_INVALID, "torch host: %s: the module's input_shape attribute says %s per sample, "
                             "but the eval set's images are %s per sample\n  hint: use the eval set this model was "
                             "made for, or drop the input_shape attribute (the input shape comes from the eval set)",
                             m->path.c_str(), shape_text(shape).c_str(), shape_text(from_data).c_str());
        m->input_shape = shape;
    }
    m->input_numel = 1;
    for (int64_t d : m->input_shape) m->input_numel *= (uint64_t)d;
    nnfi_dtype in_dt = cfg ? cfg->input_dtype : NNFI_DT_F32;
    switch (in_dt) {
    case NNFI_DT_F16: m->input_st = at::kHalf; break;
    case NNFI_DT_BF16: m->input_st = at::kBFloat16; break;
    case NNFI_DT_I64: m->input_st = at::kLong; break;
    default: m->input_st = at::kFloat; in_dt = NNFI_DT_F32; break;
    }
    nnfi_site s;
    std::memset(&s, 0, sizeof s);
    std::snprintf(s.name, sizeof s.name, "input");
    s.kind = NNFI_SITE_INPUT;
    s.dtype = in_dt; /* the hook gets the converted tensor */
    s.ndim = (int)m->input_shape.size();
    for (int d = 0; d < s.ndim; d++) s.shape[d] = m->input_shape[(size_t)d];
    s.numel = m->input_numel;
    s.device = m->device;
    m->sites.push_back(s);
    m->site_st.push_back(m->input_st);
    return NNFI_OK;
}

void add_param_buffer_sites(nnfi_model *m)
{
    for (const auto &p : m->module.named_parameters(true)) add_tensor_site(m, p.name, NNFI_SITE_PARAM, p.value);
    find_quantized(m); /* packed weights and biases: PARAM sites */
    for (const auto &b : m->module.named_buffers(true)) {
        if (b.value.scalar_type() == at::kLong && (b.name == "zero_point" || ends_with(b.name, ".zero_point")))
            add_long_shadow(m, b.name, b.value);
        else
            add_tensor_site(m, b.name, NNFI_SITE_BUFFER, b.value);
    }
    add_quantized_buffer_sites(m);
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
                  qengine_now().c_str(), m->threads, n[NNFI_SITE_PARAM], n[NNFI_SITE_BUFFER],
                  n[NNFI_SITE_ACTIVATION], n[NNFI_SITE_STATE], n[NNFI_SITE_INPUT]);
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

nnfi_status read_live_impl(const nnfi_model *m, uint32_t site, void *out)
{
    if (site >= m->sites.size())
        return NNFI_FAIL(NNFI_E_INVALID, "torch host: no site %u (the model has %zu)\n  hint: a site index from sites()",
                         site, m->sites.size());
    nnfi_status st = NNFI_OK;
    if (read_live_shadow(m, site, out, &st)) return st; /* quantized: from the packed object or attribute */
    const nnfi_site &s = m->sites[site];
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

} // namespace nnfi_torch
