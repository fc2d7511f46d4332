# Model zoo: builds `qcnn`, the int8 post-training STATIC quantized version of
# `cnn` (eager-mode torch.ao.quantization, qnnpack backend), and exports it as
# TorchScript (qcnn.pt) with its qcnn.json.  Needs OUTDIR/cnn.pt (build_zoo.py
# builds cnn first).
"""Post-training static int8 quantization of the zoo's `cnn`.

Steps: copy the trained float weights out of OUTDIR/cnn.pt into a quantizable
copy of the same network (QuantStub after the normalisation, DeQuantStub before
the output), fuse conv1+relu1, conv2+relu2, fc1+relu3, attach the default
qnnpack qconfig (per-tensor affine: quint8 activations with histogram
observers, qint8 weights with min/max observers), calibrate on CALIB_IMAGES
training images picked with a seeded generator, convert, torch.jit.script,
save.

The engine is set to 'qnnpack' before prepare and before saving.  A C++ caller
must also select it BEFORE loading the file
(at::globalContext().setQEngine(at::QEngine::QNNPACK)): on this torch build the
default engine is onednn, and packed weights are re-packed for the engine that
is current when the module is loaded.

Input is float32 [N,1,28,28] in [0,1] (normalised and quantized inside
forward); output is dequantized float32 logits [N,10].
Usage: train_qcnn.py OUTDIR
"""
import os
import time

import torch
import torch.nn as nn
import torch.ao.quantization as tq

import common

NAME = "qcnn"
SEED = 3
QENGINE = "qnnpack"
CALIB_IMAGES = 2000


class QuantCNN(nn.Module):
    """Same layers (and state_dict names) as train_cnn.CNN, plus quant stubs."""

    def __init__(self):
        super().__init__()
        self.quant = tq.QuantStub()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(64 * 7 * 7, 320)
        self.relu3 = nn.ReLU()
        self.fc2 = nn.Linear(320, 10)
        self.dequant = tq.DeQuantStub()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - 0.2860) / 0.3530          # float normalisation, then quantize
        x = self.quant(x)
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool2(self.relu2(self.conv2(x)))
        x = self.relu3(self.fc1(self.flatten(x)))
        return self.dequant(self.fc2(x))


def quant_layers(qmodel):
    """Scale / zero point of each quantized layer's weight and output."""
    rows = []
    for name, mod in qmodel.named_modules():
        if hasattr(mod, "weight") and callable(getattr(mod, "weight")):
            w = mod.weight()
            b = mod.bias()
            rows.append({
                "module": name, "type": type(mod).__name__,
                "weight_dtype": str(w.dtype).replace("torch.", ""),
                "weight_shape": list(w.shape),
                "weight_qscheme": str(w.qscheme()).replace("torch.", ""),
                "weight_scale": float(w.q_scale()), "weight_zero_point": int(w.q_zero_point()),
                "bias_dtype": None if b is None else str(b.dtype).replace("torch.", ""),
                "output_scale": float(mod.scale), "output_zero_point": int(mod.zero_point),
            })
        elif type(mod).__name__ == "Quantize":
            rows.append({"module": name, "type": "Quantize", "dtype": str(mod.dtype),
                         "output_scale": float(mod.scale), "output_zero_point": int(mod.zero_point)})
    return rows


def main():
    out = common.outdir_from_argv()
    common.setup(SEED)
    t_start = time.perf_counter()
    if QENGINE not in torch.backends.quantized.supported_engines:
        raise SystemExit(f"quantized engine {QENGINE} not available")
    torch.backends.quantized.engine = QENGINE

    cnn_path = os.path.join(out, "cnn.pt")
    if not os.path.exists(cnn_path):
        raise SystemExit(f"{cnn_path} missing: build cnn first (build_zoo.py does)")
    x_train, _ = common.data.load("train")
    x_test, y_test = common.data.load("test")

    t0 = time.perf_counter()
    fmodel = QuantCNN()
    missing, unexpected = fmodel.load_state_dict(torch.jit.load(cnn_path).state_dict(), strict=False)
    if unexpected or any(not k.startswith(("quant", "dequant")) for k in missing):
        raise SystemExit(f"cnn.pt does not match QuantCNN: {missing} {unexpected}")
    fmodel.eval()
    float_acc, float_logits = common.accuracy(fmodel, x_test, y_test)

    tq.fuse_modules(fmodel, [["conv1", "relu1"], ["conv2", "relu2"], ["fc1", "relu3"]],
                    inplace=True)
    fmodel.qconfig = tq.get_default_qconfig(QENGINE)
    prepared = tq.prepare(fmodel, inplace=False)
    g = torch.Generator()
    g.manual_seed(SEED)
    calib_idx = torch.randperm(x_train.shape[0], generator=g)[:CALIB_IMAGES]
    with torch.inference_mode():
        for i in range(0, CALIB_IMAGES, 500):
            prepared(x_train[calib_idx[i:i + 500]])
    qmodel = tq.convert(prepared, inplace=False)
    qmodel.eval()
    quant_s = time.perf_counter() - t0

    eager_acc, q_logits = common.accuracy(qmodel, x_test, y_test)
    agree = float((q_logits.argmax(1) == float_logits.argmax(1)).to(torch.float64).mean())
    scripted = torch.jit.script(qmodel)
    torch.backends.quantized.engine = QENGINE          # (again) before saving
    res = common.save_and_evaluate(scripted, os.path.join(out, NAME + ".pt"), x_test, y_test)

    layers = quant_layers(qmodel)
    wmods = [qmodel.get_submodule(l["module"]) for l in layers if "weight_shape" in l]
    n_params = sum(m.weight().numel() for m in wmods)
    n_bias = sum(m.bias().numel() for m in wmods if m.bias() is not None)
    info = {
        "name": NAME,
        "kind": "int8 post-training static quantized CNN (weights of cnn)",
        "architecture": "quant, conv(1->32)+relu fused, maxpool2, conv(32->64)+relu fused, "
                        "maxpool2, linear(3136->320)+relu fused, linear(320->10), dequant",
        "input": "float32 [N,1,28,28] in [0,1]; (x-0.2860)/0.3530 in float, then quantized "
                 "(quint8) by the Quantize module",
        "output": "dequantized float32 logits [N,10]",
        "export": "torch.jit.script",
        "qengine": QENGINE,
        "qengine_note": "select QNNPACK in the caller before torch::jit::load "
                        "(default engine here is onednn)",
        "qconfig": f"torch.ao.quantization.get_default_qconfig('{QENGINE}')",
        "calibration": {"images": CALIB_IMAGES, "from": "training set, seeded randperm",
                        "seed": SEED},
        "parameters": int(n_params + n_bias),
        "int8_weights": int(n_params),
        "float32_biases": int(n_bias),
        **res,
        "eager_test_accuracy": eager_acc,
        "float_source_test_accuracy": float_acc,
        "prediction_agreement_with_float": agree,
        "quantized_layers": layers,
        "training_seconds": round(quant_s, 2),
        "training_note": "no training: load cnn weights, fuse, calibrate, convert",
        "script_seconds": round(time.perf_counter() - t_start, 2),
        **common.environment(SEED),
    }
    common.write_json(os.path.join(out, NAME + ".json"), info)
    print(f"[{NAME}] test accuracy {res['test_accuracy']:.4f} (float {float_acc:.4f}, "
          f"agreement {agree:.4f}), quantized in {quant_s:.1f}s")


if __name__ == "__main__":
    main()
