#!/usr/bin/python3
"""make_relative_fixtures.py - fixtures for test_relative_paths.sh: an HDF5 eval
set (24 samples of 16 float32 features, 4 classes) at DIR/data/eval.h5 and, with
--torch, a scripted Linear(16, 4) TorchScript model at DIR/models/lin.pt.

Usage: /usr/bin/python3 make_relative_fixtures.py DIR [--torch]
(torch.jit.script reads the class's source, so this runs from a file, not stdin.)
"""
import os
import sys
from typing import List

import h5py
import numpy as np

out = sys.argv[1]
os.makedirs(os.path.join(out, "data"), exist_ok=True)
with h5py.File(os.path.join(out, "data", "eval.h5"), "w") as f:
    f["images"] = np.random.default_rng(1).random((24, 16), dtype=np.float32)
    f["labels"] = (np.arange(24) % 4).astype(np.int64)

if "--torch" in sys.argv[2:]:
    import torch

    class Lin(torch.nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.fc = torch.nn.Linear(16, 4)
            self.input_shape: List[int] = [16]

        def forward(self, x):
            return self.fc(x)

    os.makedirs(os.path.join(out, "models"), exist_ok=True)
    torch.jit.script(Lin()).save(os.path.join(out, "models", "lin.pt"))
