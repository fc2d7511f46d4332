#!/usr/bin/python3
"""make_resnet18.py - a ResNet-18 (11 M parameters) for the fixed-cost
benchmark at a million faults (issue: "1,000,000 weight faults cost at most
10% of a fault-free pass on the zoo CNN and on a ResNet-18"). Our own
definition of the standard architecture (He et al. 2016: a 3x3 stem for small
images, four stages of two BasicBlocks, 64-128-256-512 channels, batch norm,
residual adds, global average pool, one linear layer), for one-channel 28x28
images so it takes the zoo's eval file; seeded random weights, batch-norm
statistics from one pass over random images, eval mode, scripted as the zoo
does. Timing, not accuracy: the figures need the architecture's cost, not a
trained model.

Usage: /usr/bin/python3 tests/bench/make_resnet18.py OUTDIR [ZOO_DIR]
  writes OUTDIR/resnet18.pt and links OUTDIR/fashion_mnist_test.h5 to
  ZOO_DIR's (default: build/models), so that
  build/tests/bench/bench_overhead OUTDIR --models resnet18 --samples 256 ...
  runs it.
"""
import os
import sys


def build():
    import torch
    from torch import nn

    class BasicBlock(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.relu1 = nn.ReLU()
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.relu2 = nn.ReLU()
            self.down = nn.Sequential()
            if stride != 1 or cin != cout:
                self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.relu1(self.bn1(self.conv1(x)))
            y = self.bn2(self.conv2(y))
            return self.relu2(y + self.down(x))

    class ResNet18(nn.Module):
        def __init__(self, classes=10):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 64, 3, 1, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU()
            layers = []
            cin = 64
            for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
                layers += [BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)]
                cin = cout
            self.layers = nn.Sequential(*layers)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(512, classes)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.layers(self.relu(self.bn1(self.conv1(x))))
            return self.fc(torch.flatten(self.pool(x), 1))

    torch.manual_seed(18)
    model = ResNet18()
    model.train()
    with torch.no_grad():  # batch-norm running statistics from random images
        for _ in range(4):
            model(torch.rand(64, 1, 28, 28))
    model.eval()
    return model


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    out = sys.argv[1]
    here = os.path.dirname(os.path.abspath(__file__))
    zoo = sys.argv[2] if len(sys.argv) == 3 else os.path.join(here, "..", "..", "build", "models")
    import torch

    os.makedirs(out, exist_ok=True)
    model = build()
    params = sum(p.numel() for p in model.parameters())
    path = os.path.join(out, "resnet18.pt")
    torch.jit.save(torch.jit.script(model), path + ".tmp")
    os.replace(path + ".tmp", path)
    link = os.path.join(out, "fashion_mnist_test.h5")
    if not os.path.exists(link):
        os.symlink(os.path.abspath(os.path.join(zoo, "fashion_mnist_test.h5")), link)
    print(f"{path}: ResNet-18, {params} parameters")


if __name__ == "__main__":
    main()
