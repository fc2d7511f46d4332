# Model zoo: builds `pcnn`, the 90%-sparse (global unstructured L1 magnitude
# pruning) version of `cnn`, fine-tuned with the masks in place, then made
# permanent with prune.remove and exported as TorchScript (pcnn.pt) with its
# pcnn.json.  Needs OUTDIR/cnn.pt (build_zoo.py builds cnn first).
"""Pruned CNN (same architecture as train_cnn.CNN).

Steps: load the trained cnn weights from OUTDIR/cnn.pt, prune AMOUNT of all
conv/linear WEIGHTS together (torch.nn.utils.prune.global_unstructured with
L1Unstructured: the smallest-|w| weights across the whole network are zeroed;
biases are kept), fine-tune FINETUNE_EPOCHS with the pruning masks applied by
the forward pre-hooks, then prune.remove (folds weight_orig*mask into a plain
`weight` parameter; live hooks do not script) and torch.jit.script.

The saved weights are ordinary dense float32 tensors holding exact zeros; the
sparsity in pcnn.json is counted from the reloaded file.
Usage: train_pcnn.py OUTDIR
"""
import os
import time

import torch
import torch.nn as nn
import torch.nn.utils.prune as prune

import common
from train_cnn import CNN

NAME = "pcnn"
SEED = 4
AMOUNT = 0.90
FINETUNE_EPOCHS = 1
LR = 5e-4
BATCH = 128


def sparsity_report(module):
    """Zero counts of the prunable weights, per layer and overall."""
    layers, zeros, total = [], 0, 0
    for name, mod in module.named_modules():
        if isinstance(mod, (nn.Conv2d, nn.Linear)) or getattr(mod, "original_name", "") in ("Conv2d", "Linear"):
            w = mod.weight.detach()
            z = int((w == 0).sum())
            layers.append({"module": name, "weights": int(w.numel()), "zeros": z,
                           "sparsity": z / w.numel()})
            zeros += z
            total += w.numel()
    all_p = sum(p.numel() for p in module.parameters())
    all_z = sum(int((p.detach() == 0).sum()) for p in module.parameters())
    return {"weight_sparsity": zeros / total, "weights": total, "zero_weights": zeros,
            "all_parameter_sparsity": all_z / all_p, "per_layer": layers}


def main():
    out = common.outdir_from_argv()
    common.setup(SEED)
    t_start = time.perf_counter()
    cnn_path = os.path.join(out, "cnn.pt")
    if not os.path.exists(cnn_path):
        raise SystemExit(f"{cnn_path} missing: build cnn first (build_zoo.py does)")
    x_train, y_train = common.data.load("train")
    x_test, y_test = common.data.load("test")

    model = CNN()
    model.load_state_dict(torch.jit.load(cnn_path).state_dict())
    model.eval()
    dense_acc, _ = common.accuracy(model, x_test, y_test)

    t0 = time.perf_counter()
    targets = [(m, "weight") for m in (model.conv1, model.conv2, model.fc1, model.fc2)]
    prune.global_unstructured(targets, pruning_method=prune.L1Unstructured, amount=AMOUNT)
    model.eval()
    pruned_acc, _ = common.accuracy(model, x_test, y_test)
    print(f"[{NAME}] dense {dense_acc:.4f}, after one-shot pruning {pruned_acc:.4f}", flush=True)
    ft_s = common.train_epochs(model, x_train, y_train, epochs=FINETUNE_EPOCHS, lr=LR,
                               seed=SEED, batch_size=BATCH, log=NAME)
    for mod, pname in targets:
        prune.remove(mod, pname)
    model.eval()
    prune_s = time.perf_counter() - t0
    eager_acc, _ = common.accuracy(model, x_test, y_test)

    scripted = torch.jit.script(model)
    path = os.path.join(out, NAME + ".pt")
    res = common.save_and_evaluate(scripted, path, x_test, y_test)
    sp = sparsity_report(torch.jit.load(path))
    info = {
        "name": NAME,
        "kind": "pruned float32 CNN (cnn architecture, global unstructured L1)",
        "architecture": "as cnn: conv(1->32,3x3)-relu-maxpool2, conv(32->64,3x3)-relu-maxpool2, "
                        "fc(3136->320)-relu, fc(320->10); weights stored dense with exact zeros",
        "input": "float32 [N,1,28,28] in [0,1]; normalised inside forward "
                 "with (x-0.2860)/0.3530",
        "output": "logits float32 [N,10]",
        "export": "torch.jit.script (after prune.remove)",
        "parameters": common.count_params(model),
        "nonzero_parameters": common.count_params(model) - sum(
            int((p == 0).sum()) for p in model.parameters()),
        "sparsity": sp["weight_sparsity"],
        "sparsity_definition": "fraction of exact zeros among all conv/linear weights "
                               "(biases excluded), counted in the saved file",
        "pruning": {"method": "torch.nn.utils.prune.global_unstructured, L1Unstructured",
                    "amount": AMOUNT, "pruned_tensors": ["conv1.weight", "conv2.weight",
                                                         "fc1.weight", "fc2.weight"]},
        "sparsity_detail": sp,
        **res,
        "eager_test_accuracy": eager_acc,
        "dense_source_test_accuracy": dense_acc,
        "after_pruning_before_finetune_accuracy": pruned_acc,
        "training": {"start": "cnn.pt weights", "finetune_epochs": FINETUNE_EPOCHS,
                     "batch_size": BATCH, "optimizer": "Adam", "lr": LR},
        "training_seconds": round(prune_s, 2),
        "finetune_seconds": round(ft_s, 2),
        "script_seconds": round(time.perf_counter() - t_start, 2),
        **common.environment(SEED),
    }
    common.write_json(os.path.join(out, NAME + ".json"), info)
    print(f"[{NAME}] test accuracy {res['test_accuracy']:.4f}, sparsity "
          f"{sp['weight_sparsity']:.4f}, pruned+fine-tuned in {prune_s:.1f}s")


if __name__ == "__main__":
    main()
