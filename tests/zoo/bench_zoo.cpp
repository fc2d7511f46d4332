/* bench_zoo.cpp - cost of the torch host on the model zoo: a fault-free pass
 * over the eval set with the unmodified TorchScript model (torch::jit::load +
 * forward, same threads and qengine) vs the host's forward with its sites
 * inserted and the hook NULL (what the golden run and every parameter-fault
 * trial do), measured in one run, batch by batch in alternating order; plus,
 * for qcnn, the cost of a repack of a packed int8 weight per forward.
 *
 * Usage: bench_zoo MODELS_DIR [samples=10000] [batch=256] [rounds=5] [threads=1]
 *                  [models=cnn,snn,qcnn,pcnn,vit,charlm]
 * vit and charlm (the transformers) are measured twice: "vit" with the host
 * keeping PyTorch's fused kernels as the plain model runs them
 * (models[].fused: true: the sites' own cost), "vit/unf" with the host's
 * default, the unfused operators that expose the sites inside attention
 * (that cost is the fast path given up, not the sites). charlm runs on its
 * own eval set (fortunes_test.h5: int64 tokens [N, 64], logits [N, 64, V]).
 * Per model and variant: the time of a pass as the sum over batches of the
 * batch's lowest time over `rounds` (robust to other load on the machine),
 * their ratio host/plain, the median over batches and rounds of the paired
 * per-batch ratios, whether the logits were bit-identical, and the host's
 * start-of-forward synchronisation (quantized shadows) per forward.
 */
#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <torch/script.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "host_torch.h"
#include "nnfi/eval_set.h"

static double now_s()
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

/* CPU time of this process (all its threads): what other load on the
 * machine perturbs least */
static double cpu_s()
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double median(std::vector<double> v)
{
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

static const nnfi_model_host *H;

static void host_forward(nnfi_model *m, const float *in, uint64_t rows, float *out)
{
    if (H->forward(m, in, rows, out) != NNFI_OK) {
        std::fprintf(stderr, "forward: %s\n", nnfi_error_message());
        std::exit(1);
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        std::fprintf(stderr, "usage: bench_zoo MODELS_DIR [samples=10000] [batch=256] [rounds=3] [threads=1]\n");
        return 2;
    }
    std::string dir = argv[1];
    uint64_t samples = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 10000;
    uint64_t batch = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 256;
    int rounds = argc > 4 ? std::atoi(argv[4]) : 5;
    uint32_t threads = argc > 5 ? (uint32_t)std::atoi(argv[5]) : 1;
    std::string only = argc > 6 ? std::string(",") + argv[6] + "," : ",cnn,snn,qcnn,pcnn,vit,charlm,";
    H = nnfi_host_torch();
    std::printf("bench_zoo: up to %llu samples, batch %llu, %d rounds, threads %u\n", (unsigned long long)samples,
                (unsigned long long)batch, rounds, threads);
    std::printf("%-7s %10s %10s %8s %8s %9s %10s %10s %10s %8s %8s\n", "model", "plain_s", "sites_s", "ratio",
                "median", "identical", "sync_us/f", "plain_cpu", "sites_cpu", "cpu_rat", "cpu_med");
    struct variant { const char *name, *label; bool fused; };
    const variant variants[] = {{"cnn", "cnn", false},  {"snn", "snn", false},         {"qcnn", "qcnn", false},
                                {"pcnn", "pcnn", false}, {"vit", "vit", true},         {"vit", "vit/unf", false},
                                {"charlm", "charlm", true}, {"charlm", "chr/unf", false}};
    const uint64_t asked = samples;
    for (const variant &var : variants) {
        const char *name = var.name;
        if (only.find(std::string(",") + name + ",") == std::string::npos) continue;
        bool lm = std::strcmp(name, "charlm") == 0;
        nnfi_eval_set ev;
        std::string evfile = dir + (lm ? "/fortunes_test.h5" : "/fashion_mnist_test.h5");
        if (nnfi_eval_load(evfile.c_str(), lm ? "tokens" : "images", "labels", asked, &ev) != NNFI_OK) {
            std::fprintf(stderr, "%s\n", nnfi_error_message());
            return 1;
        }
        samples = ev.samples;
        std::string file = std::string(name) + ".pt";
        nnfi_model_cfg cfg;
        std::memset(&cfg, 0, sizeof cfg);
        cfg.path = (char *)file.c_str();
        cfg.threads = threads;
        cfg.fused = var.fused;
        cfg.input_ndim = ev.ndim; /* as the engine does (nnfi_eval_model_cfg) */
        for (int d = 0; d < ev.ndim; d++) cfg.input_shape[d] = ev.shape[d];
        cfg.input_dtype = ev.input_dtype;
        nnfi_model *m = nullptr;
        if (H->open(&cfg, dir.c_str(), 1, &m) != NNFI_OK) {
            std::fprintf(stderr, "open %s: %s\n", name, nnfi_error_message());
            return 1;
        }
        /* loaded under the threads and qengine the host pinned */
        torch::jit::Module plain = torch::jit::load(dir + "/" + file);
        plain.eval();
        uint32_t C = H->n_classes(m) * nnfi_host_positions(H, m); /* logits per sample */
        std::vector<float> out_p((size_t)samples * C), out_h((size_t)samples * C);
        std::vector<int64_t> shape{0};
        for (int d = 0; d < ev.ndim; d++) shape.push_back(ev.shape[d]);
        auto plain_forward = [&](const float *in, uint64_t rows, float *out) {
            c10::InferenceMode guard;
            shape[0] = (int64_t)rows;
            at::Tensor x = at::empty(shape, at::kFloat);
            std::memcpy(x.data_ptr(), in, rows * ev.numel * sizeof(float));
            if (lm) x = x.to(at::kLong);
            c10::IValue r = plain.forward({x});
            if (r.isTuple()) r = r.toTupleRef().elements()[0];
            at::Tensor o = r.toTensor();
            if (o.is_quantized()) o = o.dequantize();
            o = o.to(at::kFloat).contiguous();
            std::memcpy(out, o.data_ptr(), rows * C * sizeof(float));
        };
        /* warm-up: one batch each */
        plain_forward(ev.inputs, std::min(batch, samples), out_p.data());
        host_forward(m, ev.inputs, std::min(batch, samples), out_h.data());
        uint64_t nb = (samples + batch - 1) / batch;
        std::vector<double> bp(nb, 1e30), bh(nb, 1e30), ratio, cp(nb, 1e30), ch(nb, 1e30), cratio;
        nnfi_host_torch_stats s0, s1;
        nnfi_host_torch_get_stats(m, &s0);
        for (int r = 0; r < rounds; r++) {
            for (uint64_t k = 0; k < nb; k++) {
                uint64_t s = k * batch, rows = std::min(batch, samples - s);
                const float *in = ev.inputs + s * ev.numel;
                double tv[2], cv[2];
                for (int v = 0; v < 2; v++) { /* alternate which goes first */
                    bool p = (v == 0) == ((k + (uint64_t)r) % 2 == 0);
                    double t0 = now_s(), c0 = cpu_s();
                    if (p) plain_forward(in, rows, out_p.data() + s * C);
                    else host_forward(m, in, rows, out_h.data() + s * C);
                    cv[p ? 0 : 1] = cpu_s() - c0;
                    tv[p ? 0 : 1] = now_s() - t0;
                }
                bp[k] = std::min(bp[k], tv[0]);
                bh[k] = std::min(bh[k], tv[1]);
                cp[k] = std::min(cp[k], cv[0]);
                ch[k] = std::min(ch[k], cv[1]);
                ratio.push_back(tv[1] / tv[0]);
                cratio.push_back(cv[1] / cv[0]);
            }
        }
        nnfi_host_torch_get_stats(m, &s1);
        double sync_us = 1e6 * (s1.sync_s - s0.sync_s) / (double)std::max<uint64_t>(1, s1.forwards - s0.forwards);
        bool same = std::memcmp(out_p.data(), out_h.data(), out_p.size() * sizeof(float)) == 0;
        double tp = 0, th = 0, ctp = 0, cth = 0;
        for (uint64_t k = 0; k < nb; k++) tp += bp[k], th += bh[k], ctp += cp[k], cth += ch[k];
        std::printf("%-7s %10.3f %10.3f %8.4f %8.4f %9s %10.2f %10.3f %10.3f %8.4f %8.4f\n", var.label, tp, th, th / tp,
                    median(ratio), same ? "yes" : "NO", sync_us, ctp, cth, cth / ctp, median(cratio));

        if (std::strcmp(name, "qcnn") == 0) {
            /* repack cost: per repetition three forwards of one batch, hook
             * NULL: steady (nothing changed), after one int8 weight of a
             * tensor was flipped (one repack, plus the engine's lazy packing
             * inside that forward), after it was flipped back (the saved
             * object re-set); medians */
            const nnfi_site *st = H->sites(m);
            uint64_t rows = std::min(batch, samples);
            for (const char *wname : {"fc1.weight", "conv2.weight", "conv1.weight"}) {
                int k = -1;
                for (size_t i = 0; i < H->n_sites(m); i++)
                    if (std::strcmp(st[i].name, wname) == 0) k = (int)i;
                if (k < 0) continue;
                int8_t *w = (int8_t *)st[k].data;
                const int reps = 25;
                std::vector<double> steady, repack, restore;
                nnfi_host_torch_stats a, b;
                nnfi_host_torch_get_stats(m, &a);
                int8_t saved = w[0];
                for (int r = 0; r < reps; r++) {
                    double t0 = now_s();
                    host_forward(m, ev.inputs, rows, out_h.data());
                    steady.push_back(now_s() - t0);
                    w[0] = (int8_t)(saved ^ 0x80);
                    t0 = now_s();
                    host_forward(m, ev.inputs, rows, out_h.data());
                    repack.push_back(now_s() - t0);
                    w[0] = saved;
                    t0 = now_s();
                    host_forward(m, ev.inputs, rows, out_h.data());
                    restore.push_back(now_s() - t0);
                }
                nnfi_host_torch_get_stats(m, &b);
                double ms = 1e3 * median(steady), mr = 1e3 * median(repack), mt = 1e3 * median(restore);
                std::printf("qcnn %-12s (%7llu int8): forward of %llu rows: %.3f ms steady, %.3f ms with a repack "
                            "(%+.3f ms; the host's part %.3f ms), %.3f ms with the restore (%+.3f ms)\n",
                            wname, (unsigned long long)st[k].numel, (unsigned long long)rows, ms, mr, mr - ms,
                            1e3 * (b.repack_s - a.repack_s) / (double)std::max<uint64_t>(1, b.repacks - a.repacks),
                            mt, mt - ms);
            }
        }
        H->close(m);
        nnfi_eval_free(&ev);
    }
    std::printf("threads %d, qengine %s\n", at::get_num_threads(), c10::toString(at::globalContext().qEngine()).c_str());
    return 0;
}
