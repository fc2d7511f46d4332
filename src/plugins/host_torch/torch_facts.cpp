/* torch_facts.cpp - the process-wide settings of the torch host and what it
 * records about them: the quantized engine (names, choice), the pinned thread
 * counts, and the facts of nnfi_host_torch_facts(). Includes no model and no
 * JIT header (torch_env.h), so it compiles fast.
 *
 * Threads and engine: intra-op threads = cfg->threads (0 -> 1); quantized
 * engine = cfg->qengine ("qnnpack", "onednn", "fbgemm", "x86", "none"),
 * default qnnpack when this libtorch has it. Both are pinned BEFORE
 * torch::jit::load (the load-time engine changes quantized outputs;
 * at::set_num_threads also sizes the pthreadpool QNNPACK runs on) and
 * re-pinned by a forward that finds them changed, since both are process-wide
 * settings another model could change. OpenBLAS's own thread pool (one thread
 * per core, not sized by at::set_num_threads) is pinned to the same count when
 * the process has OpenBLAS (found with dlsym at run time; Debian's
 * libopenblas0-pthread as the system BLAS).
 *
 * Facts: "key=value" strings fixed at open for the golden run's provenance
 * (host_torch.h lists the keys): torch version, device, qengine, intra-op /
 * inter-op / BLAS threads, parallel backend, CPU capability, BLAS_INFO /
 * LAPACK_INFO of the build (at::show_config) and the BLAS library actually
 * mapped (/proc/self/maps, symlinks resolved), the quantized modules exposed.
 */
#include "torch_env.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <dlfcn.h>
#include <strings.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace nnfi_torch {
namespace {

/* ---- quantized engine ------------------------------------------------- */

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

/* ---- threads ---------------------------------------------------------- */

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

} // namespace

std::string qengine_name(c10::QEngine e)
{
    std::string s = c10::toString(e);
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return (char)std::tolower(c); });
    return s == "noqengine" ? "none" : s;
}

std::string qengine_now() { return qengine_name(at::globalContext().qEngine()); }

nnfi_status choose_qengine(const char *requested, const char *mname, bool *pin, c10::QEngine *engine)
{
    *pin = false;
    *engine = c10::QEngine::NoQEngine;
    if (requested) {
        c10::QEngine e;
        if (!parse_qengine(requested, &e) || !qengine_supported(e)) {
            std::string sup = supported_qengines();
            return NNFI_FAIL(NNFI_E_UNSUPPORTED, "torch host: model '%s': quantized engine '%s' is not available\n"
                             "  hint: this libtorch has: %s", mname, requested, sup.c_str());
        }
        *engine = e;
        *pin = true;
    } else if (qengine_supported(c10::QEngine::QNNPACK)) {
        *engine = c10::QEngine::QNNPACK;
        *pin = true;
    }
    return NNFI_OK;
}

/* `force` (at open): at::get_num_threads() reports OpenMP's count only, while
 * QNNPACK runs on caffe2's pthreadpool, which starts with one thread per core
 * and is resized only by at::set_num_threads (measured: the quantized fixture
 * took 56 ms instead of 7 ms per batch of 256 on 2 cores with the default
 * pool and a reported thread count of 1). set_num_threads rebuilds that pool,
 * so forward() calls it only when the count differs. */
void pin_settings(uint32_t threads, bool pin_qengine, c10::QEngine qengine, bool force)
{
    if (force || at::get_num_threads() != (int)threads) at::set_num_threads((int)threads);
    const BlasThreads &bt = blas_threads();
    if (bt.get && bt.set && (force || bt.get() != (int)threads)) bt.set((int)threads);
    if (pin_qengine && at::globalContext().qEngine() != qengine) at::globalContext().setQEngine(qengine);
}

/* ---- facts ------------------------------------------------------------ */

namespace {

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

} // namespace

std::vector<std::string> build_facts(int device, uint32_t threads, const std::string &quantized_modules)
{
    std::string cfg = at::show_config();
    std::string par = at::get_parallel_info();
    return {
        std::string("torch_version=") + TORCH_VERSION,
        device >= 0 ? "device=cuda:" + std::to_string(device) : std::string("device=cpu"),
        "cuda_available=" + std::string(torch::cuda::is_available() ? "yes" : "no"),
        "cuda_devices=" + std::to_string(torch::cuda::device_count()),
        "qengine=" + qengine_now(),
        "qengines=" + qengines_list(),
        "intra_op_threads=" + std::to_string(threads),
        "inter_op_threads=" + std::to_string(at::get_num_interop_threads()),
        "parallel_backend=" + line_after(par, "ATen parallel backend:"),
        "cpu_capability=" + line_after(cfg, "CPU capability usage:"),
        "blas_info=" + config_value(cfg, "BLAS_INFO"),
        "lapack_info=" + config_value(cfg, "LAPACK_INFO"),
        "blas_library=" + blas_library(),
        "blas_threads=" + (blas_threads().get ? std::to_string(blas_threads().get()) : std::string("n/a")),
        "quantized_modules=" + (quantized_modules.empty() ? std::string("none") : quantized_modules),
    };
}

} // namespace nnfi_torch
