#!/usr/bin/python3
"""make_byom_fixtures.py - models nobody here trained, exported as a user
would: torchvision's ResNet-18 and MobileNetV2 (10 classes, random weights
from a fixed seed) scripted unmodified with torch.jit.script, a generated
3x32x32 eval set whose labels are the models' own top-1 classes on half the
samples (so accuracy is meaningful, not 0), and a small CNN that carries an
input_shape attribute of [1, 28, 28] (to check that a mismatch with the eval
set is refused) with its own 1x28x28 eval set (eval28.h5: two models on two
eval sets in one campaign), and a bfloat16 MLP (bf16mlp.pt, weights and
input in bf16) with an eval set whose images carry dtype "bfloat16"
(evalbf16.h5: the input dtype comes from the data), and an MLP that takes
float16 input and computes in float32 (f16in.pt: `x.float()` first, as
libtorch 1.13 has no CPU Half kernels for linear/addmm) with an eval set of
native 16-bit floats that also carry dtype "float16" (evalf16.h5).

Usage: make_byom_fixtures.py OUTDIR   (Debian's python3-torchvision; exit 77
when torchvision is not installed)."""
import os
import sys

import numpy as np

try:
    import torch
    import torchvision
except ImportError as e:  # a CTest skip, not a pass
    print(f"make_byom_fixtures: {e}; install python3-torchvision", file=sys.stderr)
    sys.exit(77)
import h5py


class Attr28(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.input_shape = [1, 28, 28]
        self.conv = torch.nn.Conv2d(1, 4, 3)
        self.fc = torch.nn.Linear(4 * 26 * 26, 10)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).flatten(1))


class F16In(torch.nn.Module):
    """Takes float16, computes in float32 (a float16 model cannot run on the CPU)."""

    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(16, 32)
        self.fc2 = torch.nn.Linear(32, 10)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x.float())))


def main(out):
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    torch.set_num_threads(2)
    gen = torch.Generator().manual_seed(1)
    images = torch.rand(48, 3, 32, 32, generator=gen)
    models = {
        "resnet18": torchvision.models.resnet18(num_classes=10),
        "mobilenet_v2": torchvision.models.mobilenet_v2(num_classes=10),
    }
    labels = None
    for name, m in models.items():
        m.eval()
        s = torch.jit.script(m)  # as it is: no attribute added, no code changed
        s.save(os.path.join(out, f"{name}.pt"))
        if labels is None:
            with torch.no_grad():
                top = s(images).argmax(1).numpy().astype(np.int64)
            labels = top.copy()
            labels[1::2] = (labels[1::2] + 1) % 10  # half right, half wrong
    with h5py.File(os.path.join(out, "eval32.h5"), "w") as f:
        f["images"] = images.numpy().astype(np.float32)
        f["labels"] = labels
    small = torch.jit.script(Attr28().eval())
    small.save(os.path.join(out, "attr28.pt"))
    images28 = torch.rand(32, 1, 28, 28, generator=gen)
    with torch.no_grad():
        labels28 = small(images28).argmax(1).numpy().astype(np.int64)
    labels28[1::2] = (labels28[1::2] + 3) % 10
    with h5py.File(os.path.join(out, "eval28.h5"), "w") as f:  # the small model's own eval set
        f["images"] = images28.numpy().astype(np.float32)
        f["labels"] = labels28
    mlp = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10)).eval()
    mlp = torch.jit.script(mlp.to(torch.bfloat16))
    mlp.save(os.path.join(out, "bf16mlp.pt"))
    xb = torch.randn(40, 16, generator=gen).to(torch.bfloat16)  # values a bf16 model can take exactly
    with torch.no_grad():
        yb = mlp(xb).float().argmax(1).numpy().astype(np.int64)
    yb[1::3] = (yb[1::3] + 1) % 10
    with h5py.File(os.path.join(out, "evalbf16.h5"), "w") as f:
        f["images"] = xb.float().numpy()
        f["images"].attrs["dtype"] = "bfloat16"
        f["labels"] = yb
    f16 = torch.jit.script(F16In().eval())
    f16.save(os.path.join(out, "f16in.pt"))
    xh = torch.randn(40, 16, generator=gen).to(torch.float16)
    with torch.no_grad():
        yh = f16(xh).argmax(1).numpy().astype(np.int64)
    yh[1::3] = (yh[1::3] + 1) % 10
    with h5py.File(os.path.join(out, "evalf16.h5"), "w") as f:
        f["images"] = xh.numpy()  # HDF5 16-bit IEEE floats
        f["images"].attrs["dtype"] = "float16"
        f["labels"] = yh
    print(f"make_byom_fixtures: resnet18.pt, mobilenet_v2.pt, attr28.pt, bf16mlp.pt, f16in.pt, eval32.h5, "
          f"eval28.h5, evalbf16.h5, evalf16.h5 in {out}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_byom_fixtures.py OUTDIR")
    main(sys.argv[1])
