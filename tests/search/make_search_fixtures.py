#!/usr/bin/python3
"""make_search_fixtures.py OUTDIR - the planted non-monotone model of the
critical-bit search tests (test_search.py), and its eval set.

planted.pt: one parameter `weight` of 128 fp32 values in [0.2, 0.3] and
logits [x0, x1 + sum(sin(8 w)) - C], C the golden sum: a sample's top-1 flips
when one weight's change moves sin(8 w) by more than the sample's margin.
sin is not monotone, so on a side of the value a larger change can be
harmless where a smaller one is critical (w = 0.25: doubling it gives
sin(4) - sin(2), critical; four times gives sin(8) - sin(2), harmless), and
a binary search that assumes monotonicity misses bits.
planted.h5: 32 samples of 2 features with margins of 0.3 to 0.9 either way,
labelled with the model's own top-1."""
import os
import sys

import h5py
import numpy as np
import torch


class Planted(torch.nn.Module):
    def __init__(self, w, c: float):
        super().__init__()
        self.weight = torch.nn.Parameter(w)
        self.c = c

    def forward(self, x):
        s = torch.sin(8.0 * self.weight).sum() - self.c
        return torch.stack([x[:, 0], x[:, 1] + s], 1)


def main(out):
    os.makedirs(out, exist_ok=True)
    g = torch.Generator().manual_seed(11)
    w = 0.2 + 0.1 * torch.rand(128, generator=g)
    c = float(torch.sin(8.0 * w).sum())
    m = torch.jit.script(Planted(w, c).eval())
    m.save(os.path.join(out, "planted.pt"))
    margin = 0.3 + 0.6 * torch.rand(32, generator=g)
    sign = torch.where(torch.arange(32) % 2 == 0, 1.0, -1.0)
    x0 = torch.rand(32, generator=g)
    x = torch.stack([x0, x0 + sign * margin], 1)
    with torch.no_grad():
        labels = m(x).argmax(1).numpy().astype(np.int64)
    with h5py.File(os.path.join(out, "planted.h5"), "w") as f:
        f["images"] = x.numpy().astype(np.float32)
        f["labels"] = labels
    print(f"make_search_fixtures: planted.pt, planted.h5 in {out}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_search_fixtures.py OUTDIR")
    main(sys.argv[1])
