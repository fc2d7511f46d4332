/* bench_host_torch.cpp - cost of the torch host's sites: forward time of the
 * unmodified TorchScript model (torch::jit::load + forward, same threads and
 * qengine) vs the host's forward with the sites inserted and the hook NULL vs
 * the host with a no-op hook, on the fixtures of make_fixtures.py.
 *
 * Usage: bench_host_torch FIXTURE_DIR [rows=256] [reps=40]
 * Prints one line per model: per variant the median of `reps` consecutive
 * forwards (after 5 warm-up forwards), the lower of two rounds, in ms.
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
#include <string>
#include <vector>

#include "host_torch.h"

static double now_ms()
{
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

static double median(std::vector<double> v)
{
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

static uint64_t g_calls;
static nnfi_status noop_hook(void *, uint32_t, void *, uint64_t, uint32_t)
{
    g_calls++;
    return NNFI_OK;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        std::fprintf(stderr, "usage: bench_host_torch FIXTURE_DIR [rows=256] [reps=40]\n");
        return 2;
    }
    std::string dir = argv[1];
    int64_t rows = argc > 2 ? std::atoll(argv[2]) : 256;
    int reps = argc > 3 ? std::atoi(argv[3]) : 40;
    const nnfi_model_host *h = nnfi_host_torch();
    std::vector<float> in((size_t)rows * 784), out((size_t)rows * 10);
    srand(1);
    for (float &x : in) x = (float)rand() / (float)RAND_MAX;
    std::printf("%-8s %5s %10s %12s %7s %12s %7s %11s\n", "model", "rows", "plain_ms", "sites_null_ms", "ratio",
                "noop_hook_ms", "ratio", "calls/fwd");
    for (const char *name : {"cnn.pt", "snn.pt", "qcnn.pt"}) {
        nnfi_model_cfg cfg;
        std::memset(&cfg, 0, sizeof cfg);
        cfg.path = (char *)name;
        cfg.threads = 1;
        cfg.qengine = (char *)"qnnpack";
        nnfi_model *m = nullptr;
        if (h->open(&cfg, dir.c_str(), 1, &m) != NNFI_OK) {
            std::fprintf(stderr, "open %s: %s\n", name, nnfi_error_message());
            return 1;
        }
        /* the host pinned threads = 1 and qnnpack before its load; the plain
         * model is loaded under the same settings */
        torch::jit::Module plain = torch::jit::load(dir + "/" + name);
        plain.eval();
        auto plain_forward = [&]() {
            c10::InferenceMode guard;
            at::Tensor x = at::empty({rows, 1, 28, 28}, at::kFloat);
            std::memcpy(x.data_ptr(), in.data(), in.size() * sizeof(float));
            at::Tensor o = plain.forward({x}).toTensor();
            if (o.is_quantized()) o = o.dequantize();
            o = o.to(at::kFloat).contiguous();
            std::memcpy(out.data(), o.data_ptr(), out.size() * sizeof(float));
        };
        auto host_forward = [&]() {
            if (h->forward(m, in.data(), (uint64_t)rows, out.data()) != NNFI_OK) {
                std::fprintf(stderr, "forward %s: %s\n", name, nnfi_error_message());
                std::exit(1);
            }
        };
        /* blocks of `reps` consecutive forwards per variant (warm-up first),
         * two rounds; per variant the lower of the two round medians */
        auto block = [&](int variant) {
            h->set_hook(m, variant == 2 ? noop_hook : nullptr, nullptr);
            std::vector<double> t;
            for (int r = 0; r < reps + 5; r++) {
                double t0 = now_ms();
                if (variant == 0) plain_forward();
                else host_forward();
                if (r >= 5) t.push_back(now_ms() - t0);
            }
            h->set_hook(m, nullptr, nullptr);
            return median(t);
        };
        double best[3] = {1e30, 1e30, 1e30};
        for (int round = 0; round < 2; round++)
            for (int v = 0; v < 3; v++) {
                g_calls = 0;
                best[v] = std::min(best[v], block(v));
            }
        uint64_t calls = g_calls / (uint64_t)(reps + 5);
        double p = best[0], n = best[1], k = best[2];
        std::printf("%-8s %5lld %10.3f %12.3f %7.3f %12.3f %7.3f %11llu\n", name, (long long)rows, p, n, n / p, k,
                    k / p, (unsigned long long)calls);
        h->close(m);
    }
    std::printf("threads %d, qengine %s\n", at::get_num_threads(),
                c10::toString(at::globalContext().qEngine()).c_str());
    return 0;
}
