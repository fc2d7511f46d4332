# Model zoo: trains `vit`, a small ViT-style transformer classifier on
# Fashion-MNIST built only from stock torch modules (Conv2d patch embedding,
# class token, nn.TransformerEncoder, LayerNorm, Linear head), and exports it
# as TorchScript (vit.pt) with its vit.json.
"""Small Vision Transformer for Fashion-MNIST.

  input   [N,1,28,28] float32 in [0,1]; normalised inside forward
  patch   Conv2d(1->D, kernel=stride=P)          -> [N,D,28/P,28/P]
  tokens  flatten + transpose                    -> [N,L,D], L = (28/P)^2
  cls     learned class token prepended          -> [N,L+1,D]
  pos     learned position embedding added
  encoder nn.TransformerEncoder(nn.TransformerEncoderLayer(D, heads,
          ffn, GELU, batch_first=True, norm_first=True), layers)
  norm    LayerNorm(D) on the class token
  head    Linear(D->10)                          -> logits [N,10]

Attention is nn.MultiheadAttention inside the stock encoder layers: nothing is
hand-written, so nnfi has to host the modules as a user would write them.
Usage: train_vit.py OUTDIR
"""
import math
import os
import time

import torch
import torch.nn as nn

import common

NAME = "vit"
SEED = 5
PATCH = 7
DIM = 64
HEADS = 4
LAYERS = 3
FFN = 128
EPOCHS = 3
LR = 2e-3
BATCH = 128
WARMUP_STEPS = 200


class ViT(nn.Module):
    def __init__(self, patch=PATCH, dim=DIM, heads=HEADS, layers=LAYERS, ffn=FFN, classes=10):
        super().__init__()
        n_patches = (28 // patch) ** 2
        self.patch_embed = nn.Conv2d(1, dim, kernel_size=patch, stride=patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, n_patches + 1, dim) * 0.02)
        layer = nn.TransformerEncoderLayer(dim, heads, dim_feedforward=ffn, dropout=0.0,
                                           activation="gelu", batch_first=True,
                                           norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - 0.2860) / 0.3530          # Fashion-MNIST mean / std
        x = self.patch_embed(x)            # [N, D, 28/P, 28/P]
        x = x.flatten(2).transpose(1, 2)   # [N, L, D]
        cls = self.cls_token.expand(x.shape[0], -1, -1)
        x = torch.cat([cls, x], dim=1) + self.pos_embed
        x = self.encoder(x)
        return self.head(self.norm(x[:, 0]))


def train(model, x, y, *, epochs, lr, seed, batch_size, log):
    """AdamW with linear warm-up and cosine decay (deterministic batch order
    from common.batches); returns seconds spent."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05)
    steps = epochs * math.ceil(x.shape[0] / batch_size)

    def lr_at(step):
        if step < WARMUP_STEPS:
            return (step + 1) / WARMUP_STEPS
        return 0.5 * (1.0 + math.cos(math.pi * (step - WARMUP_STEPS) / max(1, steps - WARMUP_STEPS)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    t0 = time.perf_counter()
    for ep in range(epochs):
        model.train()
        tot, correct, seen = 0.0, 0, 0
        for idx in common.batches(x.shape[0], batch_size, seed, ep):
            xb, yb = x[idx], y[idx]
            out = model(xb)
            loss = nn.functional.cross_entropy(out, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            tot += float(loss) * xb.shape[0]
            correct += int((out.argmax(1) == yb).sum())
            seen += xb.shape[0]
        print(f"[{log}] epoch {ep + 1}: loss {tot / seen:.4f} train-acc {correct / seen:.4f} "
              f"({time.perf_counter() - t0:.1f}s)", flush=True)
    model.eval()
    return time.perf_counter() - t0


def main():
    out = common.outdir_from_argv()
    common.setup(SEED)
    t_start = time.perf_counter()
    x_train, y_train = common.data.load("train")
    x_test, y_test = common.data.load("test")
    model = ViT()
    train_s = train(model, x_train, y_train, epochs=EPOCHS, lr=LR, seed=SEED,
                    batch_size=BATCH, log=NAME)
    model.eval()
    eager_acc, _ = common.accuracy(model, x_test, y_test)
    scripted = torch.jit.script(model)
    res = common.save_and_evaluate(scripted, os.path.join(out, NAME + ".pt"), x_test, y_test)
    tokens = (28 // PATCH) ** 2 + 1
    info = {
        "name": NAME,
        "kind": "vision transformer (ViT-style) classifier",
        "architecture": f"conv patch embedding (1->{DIM}, {PATCH}x{PATCH}, stride {PATCH}), "
                        f"class token + learned position embedding ({tokens} tokens), "
                        f"nn.TransformerEncoder of {LAYERS} nn.TransformerEncoderLayer(d_model={DIM}, "
                        f"nhead={HEADS}, dim_feedforward={FFN}, gelu, batch_first, norm_first), "
                        f"LayerNorm, Linear({DIM}->10) on the class token",
        "input": "float32 [N,1,28,28] in [0,1]; normalised inside forward "
                 "with (x-0.2860)/0.3530",
        "input_dtype": "float32",
        "input_shape": [1, 28, 28],
        "output": "logits float32 [N,10]",
        "output_layout": "N,C",
        "export": "torch.jit.script",
        "parameters": common.count_params(model),
        "layers": LAYERS,
        "heads": HEADS,
        "patch_size": PATCH,
        "d_model": DIM,
        "dim_feedforward": FFN,
        "tokens": tokens,
        "pooling": "class token",
        **res,
        "eager_test_accuracy": eager_acc,
        "training": {"epochs": EPOCHS, "batch_size": BATCH, "optimizer": "AdamW",
                     "lr": LR, "weight_decay": 0.05,
                     "schedule": f"linear warm-up {WARMUP_STEPS} steps, cosine decay",
                     "train_images": int(x_train.shape[0])},
        "training_seconds": round(train_s, 2),
        "script_seconds": round(time.perf_counter() - t_start, 2),
        **common.environment(SEED),
    }
    common.write_json(os.path.join(out, NAME + ".json"), info)
    print(f"[{NAME}] test accuracy {res['test_accuracy']:.4f}, "
          f"{info['parameters']} parameters, trained in {train_s:.1f}s")


if __name__ == "__main__":
    main()
