# Model zoo: trains `cnn`, the dense float32 Fashion-MNIST CNN (~1.03 M
# parameters), and exports it as TorchScript (cnn.pt) with its cnn.json.
# Its weights are also the starting point of `qcnn` and `pcnn`.
"""Dense CNN for Fashion-MNIST.

  input  [N,1,28,28] float32 in [0,1]; normalised inside forward
  conv1  1->32, 3x3 pad 1, ReLU, maxpool 2   -> [N,32,14,14]
  conv2 32->64, 3x3 pad 1, ReLU, maxpool 2   -> [N,64,7,7]
  flatten                                    -> [N,3136]
  fc1   3136->320, ReLU
  fc2    320->10                             -> logits [N,10]

Parameters: 320 + 18,496 + 1,003,840 + 3,210 = 1,025,866.
Every activation is its own named module (relu1, pool1, ...) so the fault
injector can address it, and so eager-mode quantization can fuse conv+relu.
Usage: train_cnn.py OUTDIR
"""
import os
import time

import torch
import torch.nn as nn

import common

NAME = "cnn"
SEED = 1
EPOCHS = 2
LR = 1e-3
BATCH = 128


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - 0.2860) / 0.3530          # Fashion-MNIST mean / std
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool2(self.relu2(self.conv2(x)))
        x = self.relu3(self.fc1(self.flatten(x)))
        return self.fc2(x)


def main():
    out = common.outdir_from_argv()
    common.setup(SEED)
    t_start = time.perf_counter()
    x_train, y_train = common.data.load("train")
    x_test, y_test = common.data.load("test")
    model = CNN()
    train_s = common.train_epochs(model, x_train, y_train, epochs=EPOCHS, lr=LR,
                                  seed=SEED, batch_size=BATCH, log=NAME)
    model.eval()
    eager_acc, _ = common.accuracy(model, x_test, y_test)
    scripted = torch.jit.script(model)
    res = common.save_and_evaluate(scripted, os.path.join(out, NAME + ".pt"), x_test, y_test)
    info = {
        "name": NAME,
        "kind": "dense float32 CNN",
        "architecture": "conv(1->32,3x3)-relu-maxpool2, conv(32->64,3x3)-relu-maxpool2, "
                        "fc(3136->320)-relu, fc(320->10)",
        "input": "float32 [N,1,28,28] in [0,1]; normalised inside forward "
                 "with (x-0.2860)/0.3530",
        "output": "logits float32 [N,10]",
        "export": "torch.jit.script",
        "parameters": common.count_params(model),
        **res,
        "eager_test_accuracy": eager_acc,
        "training": {"epochs": EPOCHS, "batch_size": BATCH, "optimizer": "Adam",
                     "lr": LR, "train_images": int(x_train.shape[0])},
        "training_seconds": round(train_s, 2),
        "script_seconds": round(time.perf_counter() - t_start, 2),
        **common.environment(SEED),
    }
    common.write_json(os.path.join(out, NAME + ".json"), info)
    print(f"[{NAME}] test accuracy {res['test_accuracy']:.4f}, "
          f"{info['parameters']} parameters, trained in {train_s:.1f}s")


if __name__ == "__main__":
    main()
