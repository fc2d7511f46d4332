#!/usr/bin/python3
"""make_fixtures.py - tiny TorchScript fixture models for the torch model host tests.

Usage: /usr/bin/python3 tests/torch/make_fixtures.py OUT_DIR

Writes into OUT_DIR (created if needed):
  cnn.pt          a 2-conv CNN (conv-relu-pool x2, linear), scripted, input [N,1,28,28]
  snn.pt          a scripted LIF SNN: linear -> LIF -> linear -> LIF over T=4 steps in a
                  `for t in range(self.T)` loop; membranes mem1, mem2 and the readout acc are
                  loop-carried tensors; logits = acc (sum of the output membrane over time)
  qcnn.pt         the CNN quantized with eager-mode static PTQ (qnnpack), scripted
  qcnn_pc.pt      the same with per-channel weight quantization (other seed)
  corrupt.pt      not a TorchScript file (garbage bytes)
  input.bin       float32 [ROWS, 1, 28, 28] inputs, U(0, 1), seed 1
  cnn_logits.bin  float32 [ROWS, 10] python logits of cnn.pt on input.bin (same for snn, qcnn,
                  qcnn_pc)
  meta.txt        "rows 8\\nT 4\\n" (the sizes the C test assumes)

Everything is deterministic (torch.manual_seed). Threads are pinned to 1 and the quantized
engine to qnnpack, as the C host does, so the logits compare bit-for-bit in most cases and
within 1e-5 always.
"""
import os
import sys
from typing import List

import torch
import torch.nn as nn
import torch.nn.functional as F

ROWS = 8
T = 4


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 8, 3, padding=1)
        self.fc = nn.Linear(8 * 7 * 7, 10)
        # optional: the per-sample input shape the host feeds (default [1, 28, 28])
        self.input_shape: List[int] = [1, 28, 28]

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc(torch.flatten(x, 1))


class LIF(nn.Module):
    """Leaky integrate-and-fire with subtractive reset (hard threshold)."""

    def __init__(self, beta: float, threshold: float):
        super().__init__()
        self.beta = beta
        self.threshold = threshold

    def forward(self, cur, mem):
        mem = self.beta * mem + cur
        spk = (mem > self.threshold).float()
        mem = mem - spk * self.threshold
        return spk, mem


class SNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(28 * 28, 32)
        self.lif1 = LIF(0.9, 0.5)
        self.fc2 = nn.Linear(32, 10)
        self.lif2 = LIF(0.8, 1.0)
        self.T = T

    def forward(self, x):
        x = torch.flatten(x, 1)
        mem1 = torch.zeros(x.size(0), 32)
        mem2 = torch.zeros(x.size(0), 10)
        acc = torch.zeros(x.size(0), 10)
        cur1 = self.fc1(x)
        for t in range(self.T):
            spk1, mem1 = self.lif1(cur1, mem1)
            cur2 = self.fc2(spk1)
            spk2, mem2 = self.lif2(cur2, mem2)
            acc = acc + mem2
        return acc


class QCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.quant = torch.quantization.QuantStub()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(4, 8, 3, padding=1)
        self.relu2 = nn.ReLU()
        self.fc = nn.Linear(8 * 7 * 7, 10)
        self.dequant = torch.quantization.DeQuantStub()

    def forward(self, x):
        x = self.quant(x)
        x = F.max_pool2d(self.relu1(self.conv1(x)), 2)
        x = F.max_pool2d(self.relu2(self.conv2(x)), 2)
        x = self.fc(torch.flatten(x, 1))
        return self.dequant(x)


def save(path, t):
    t.detach().contiguous().to(torch.float32).numpy().tofile(path)


def main():
    if len(sys.argv) != 2:
        sys.stderr.write("usage: make_fixtures.py OUT_DIR\n")
        return 2
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)
    torch.backends.quantized.engine = "qnnpack"
    torch.manual_seed(1)
    x = torch.rand(ROWS, 1, 28, 28)
    save(os.path.join(out, "input.bin"), x)

    torch.manual_seed(2)
    cnn = torch.jit.script(CNN().eval())
    torch.manual_seed(3)
    snn_m = SNN().eval()
    with torch.no_grad():  # larger weights so that neurons spike within T steps
        snn_m.fc1.weight.mul_(4.0)
        snn_m.fc2.weight.mul_(4.0)
    snn = torch.jit.script(snn_m)

    torch.manual_seed(4)
    q = QCNN().eval()
    q.qconfig = torch.quantization.get_default_qconfig("qnnpack")
    torch.quantization.prepare(q, inplace=True)
    with torch.no_grad():
        q(torch.rand(64, 1, 28, 28))
    torch.quantization.convert(q, inplace=True)
    qcnn = torch.jit.script(q)

    # the same network with per-channel weight scales and zero points (qnnpack runs them)
    torch.manual_seed(5)
    qp = QCNN().eval()
    qp.qconfig = torch.quantization.QConfig(activation=torch.quantization.default_observer,
                                            weight=torch.quantization.default_per_channel_weight_observer)
    torch.quantization.prepare(qp, inplace=True)
    with torch.no_grad():
        qp(torch.rand(64, 1, 28, 28))
    torch.quantization.convert(qp, inplace=True)
    qcnn_pc = torch.jit.script(qp)

    for name, m in (("cnn", cnn), ("snn", snn), ("qcnn", qcnn), ("qcnn_pc", qcnn_pc)):
        path = os.path.join(out, name + ".pt")
        torch.jit.save(m, path)
        # the logits of the saved file, as the C host will see them
        m2 = torch.jit.load(path)
        with torch.inference_mode():
            save(os.path.join(out, name + "_logits.bin"), m2(x))

    with open(os.path.join(out, "corrupt.pt"), "wb") as f:
        f.write(b"PK\x03\x04 this is not a TorchScript archive" + bytes(range(256)))
    with open(os.path.join(out, "meta.txt"), "w") as f:
        f.write("rows %d\nT %d\n" % (ROWS, T))
    print("fixtures written to", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
