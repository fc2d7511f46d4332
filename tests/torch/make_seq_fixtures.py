#!/usr/bin/python3
"""make_seq_fixtures.py - sequence-model fixtures for the torch host's
activation sites on any operator (models[].ops), multi-output operators and
fused fast paths (tests/torch/test_seq_models.py; CTest fixture
`torch_seq_fixtures`).

Usage: /usr/bin/python3 tests/torch/make_seq_fixtures.py OUT_DIR

Writes into OUT_DIR (created if needed), random weights, fixed seeds, every
model scripted unmodified with torch.jit.script (no input_shape attribute: the
host's default [1, 28, 28] is what they take):
  transformer.pt   patch embedding (each image row a token: Linear(28, 32) + a
                   learned position table) -> nn.TransformerEncoder of 2
                   nn.TransformerEncoderLayer(d_model 32, 2 heads, relu,
                   batch_first=True: PyTorch's fused inference fast path
                   applies) -> mean over tokens -> Linear(32, 10)
  lstm.pt          nn.LSTM(28, 24, num_layers=2) over the 28 image rows
                   (time-major: output [T, N, H], h and c [2, N, H]) ->
                   Linear on cat(output[-1], c[-1]) -> [N, 10]
  gru.pt           nn.GRU(28, 16, batch_first=True) -> Linear on h[-1]
  eval.h5          images float32 [64, 1, 28, 28] U(0, 1), labels int64 [64]
                   (half the transformer's own top-1, half random)
  input.bin        the 64 images, float32
  transformer_logits_unfused.bin  Python's logits with grad enabled (the
                   unfused path), float32 [64, 10]
  transformer_logits_fused.bin    the same under torch.no_grad() (the fused
                   aten::_transformer_encoder_layer_fwd)
  lstm_logits.bin, gru_logits.bin  Python's logits, float32 [64, 10]
Threads pinned to 1, as the C host does.
"""
import os
import sys

import h5py
import numpy as np
import torch
import torch.nn as nn

ROWS = 64


class TransformerClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(28, 32)
        self.pos = nn.Parameter(torch.randn(1, 28, 32) * 0.1)
        layer = nn.TransformerEncoderLayer(d_model=32, nhead=2, dim_feedforward=64, dropout=0.1,
                                           batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=2)
        self.head = nn.Linear(32, 10)

    def forward(self, x):
        t = self.embed(x.view(x.size(0), 28, 28)) + self.pos
        t = self.encoder(t)
        return self.head(t.mean(dim=1))


class LSTMClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(28, 24, num_layers=2)
        self.fc = nn.Linear(48, 10)

    def forward(self, x):
        seq = x.view(x.size(0), 28, 28).transpose(0, 1)  # [T, N, 28]
        out, (h, c) = self.rnn(seq)
        return self.fc(torch.cat([out[-1], c[-1]], dim=1))


class GRUClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(28, 16, batch_first=True)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        out, h = self.rnn(x.view(x.size(0), 28, 28))
        return self.fc(h[-1])


def save(model, path):
    model.eval()
    s = torch.jit.script(model)
    s.save(path)
    return torch.jit.load(path)


def logits(model, x, grad):
    if grad:
        return model(x).detach()
    with torch.no_grad():
        return model(x)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "."
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)
    torch.manual_seed(7)
    x = torch.rand(ROWS, 1, 28, 28)
    torch.manual_seed(1)
    tr = save(TransformerClassifier(), os.path.join(out, "transformer.pt"))
    torch.manual_seed(2)
    ls = save(LSTMClassifier(), os.path.join(out, "lstm.pt"))
    torch.manual_seed(3)
    gr = save(GRUClassifier(), os.path.join(out, "gru.pt"))

    unfused = logits(tr, x, True)
    fused = logits(tr, x, False)
    unfused.numpy().astype(np.float32).tofile(os.path.join(out, "transformer_logits_unfused.bin"))
    fused.numpy().astype(np.float32).tofile(os.path.join(out, "transformer_logits_fused.bin"))
    logits(ls, x, False).numpy().astype(np.float32).tofile(os.path.join(out, "lstm_logits.bin"))
    logits(gr, x, False).numpy().astype(np.float32).tofile(os.path.join(out, "gru_logits.bin"))
    x.numpy().astype(np.float32).tofile(os.path.join(out, "input.bin"))

    g = torch.Generator().manual_seed(5)
    labels = unfused.argmax(dim=1).clone()
    rand = torch.randint(0, 10, (ROWS,), generator=g)
    labels[ROWS // 2:] = rand[ROWS // 2:]
    with h5py.File(os.path.join(out, "eval.h5"), "w") as f:
        f.create_dataset("images", data=x.numpy().astype(np.float32))
        f.create_dataset("labels", data=labels.numpy().astype(np.int64))
    print(f"fixtures in {out}: max |fused - unfused| logits (Python) = "
          f"{(fused - unfused).abs().max().item():.3g}")


if __name__ == "__main__":
    main()
