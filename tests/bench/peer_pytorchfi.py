#!/usr/bin/env python3
"""peer_pytorchfi.py - the same overhead measurement as bench_overhead, done
with PyTorchFI (pip package pytorchfi 0.6.0), for the side-by-side figures in
RESULTS.md. run_all runs it right after bench_overhead, in the same run.

Usage: VENV/bin/python tests/bench/peer_pytorchfi.py MODELS_DIR [options]
  --samples S --batch B --reps R --threads T --faults 1,10,... --models cnn,snn
  --kinds weight,activation --slow-s X --csv FILE
(same meanings and defaults as bench_overhead, "inject ms" included: the time
inside PyTorchFI's declaration and injection hooks, CPU time of the thread; a point whose first faulty
pass takes more than X s (default 20) runs 3 pairs, more than 3X s 1 pair:
PyTorchFI's cost grows with N, and at 1e6 faults one pass takes minutes).
Exit status 77 (skipped) when pytorchfi cannot be imported.

What runs (same on both sides: architecture, trained weights, the first S
test images, batch size, intra-op threads, the fault counts; timed the same
way: fault-free and faulty passes over the S images alternating (ABBA), CPU
time of the process and wall time, median):
  model     the zoo's nn.Module classes (campaigns/models/train_*.py) loaded
            with the state_dict of the zoo's TorchScript file; its logits are
            checked against the TorchScript file's on the same images (must be
            bit-identical, else exit 1). PyTorchFI needs an eager module (it
            registers forward hooks, which ScriptModules refuse).
  weight    PyTorchFI's declare_weight_fi (layer_types Conv2d + Linear: the
            same .weight tensors as nnfi's `target: weight`), faults uniform
            over their elements, each flipping one random bit of the fp32
            value through PyTorchFI's custom `function` hook (its default
            writes a given value). A faulty pass = declare_weight_fi (which
            deep-copies the model and applies the faults) + the forwards on the
            corrupted copy; restoring = going back to the original model.
  activation  PyTorchFI's declare_neuron_fi with a custom hook that is
            PyTorchFI's own _set_value (the per-fault loop, bound checks and
            logging calls of pytorchfi.core, copied below) writing the flipped
            fp32 value instead of a given one. Hooks on every leaf module,
            faults in the outputs of Conv2d, Linear and ReLU (the CNN's 7 sites
            nnfi inserts; PyTorchFI takes only layer types with a weight, so
            ReLU needs its "all"), Linear for the SNN, whose
            hooks fire at every time step (PyTorchFI counts each firing as a
            layer, so a fault hits one layer at one step). A PyTorchFI neuron
            fault names a batch slot: it hits one element of one sample of
            every forward call (S/B hits per pass). nnfi's permanent
            activation fault hits its element in every sample (S hits per pass,
            and every step of the SNN), its sample-scope fault one sample once.
"""
import argparse
import copy
import csv
import logging
import os
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "campaigns", "models"))

SEED = 2026


def parse():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("models_dir")
    p.add_argument("--samples", type=int, default=1024)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--faults", default="1,10,100,1000,10000,100000,1000000")
    p.add_argument("--models", default="cnn,snn")
    p.add_argument("--kinds", default="weight,activation")
    p.add_argument("--slow-s", type=float, default=20.0)
    p.add_argument("--csv")
    a = p.parse_args()
    a.faults = [int(float(x)) for x in a.faults.split(",")]
    a.models = a.models.split(",")
    a.kinds = a.kinds.split(",")
    return a


def flip32(value, bit):
    """value (a Python float holding an fp32) with bit `bit` of its IEEE word flipped."""
    (w,) = struct.unpack("<I", struct.pack("<f", value))
    (v,) = struct.unpack("<f", struct.pack("<I", w ^ (1 << bit)))
    return v


def main():
    a = parse()
    # Debian's torch calls the system OpenBLAS, whose own thread pool ignores
    # torch.set_num_threads: pin it (and OpenMP) before torch is imported, as
    # the C host pins blas_threads, so both sides compute on one thread
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(a.threads)
    try:
        import pytorchfi
        from pytorchfi import core
    except ImportError as e:
        print(f"peer_pytorchfi: skipped, pytorchfi cannot be imported ({e})\n"
              "  hint: tests/bench/run_all installs it into a venv from PyPI; without network access "
              "there is no PyTorchFI column", file=sys.stderr)
        return 77
    import h5py
    import numpy as np
    import torch
    import torch.nn as nn
    from train_cnn import CNN
    from train_snn import LIFSNN

    torch.set_num_threads(a.threads)
    logging.disable(logging.NOTSET)  # PyTorchFI's logging.info calls run as they do for its users

    class FlipFI(core.fault_injection):
        """PyTorchFI with an fp32 bit-flip neuron fault: _set_value of
        pytorchfi.core 0.6.0, unchanged but for the value written (the flipped
        element, bit self.flip_bits[i]) and the layer counter wrapping after
        the last layer (as its single_bit_flip_func does), so the corrupted
        model serves several forward calls."""

        inj_s = 0.0  # seconds inside the injection hooks and declarations of the current pass

        def flip_value(self, module, input_val, output):
            t0 = time.thread_time()
            self._flip_value(output)
            self.inj_s += time.thread_time() - t0

        def _flip_value(self, output):
            logging.info("Processing hook of Layer %d: %s", self.get_current_layer(),
                         self.get_layer_type(self.get_current_layer()))
            inj_list = list(filter(lambda x: self.corrupt_layer[x] == self.get_current_layer(),
                                   range(len(self.corrupt_layer))))
            layer_dim = self.layers_dim[self.get_current_layer()]
            logging.info("Layer %d injection list size: %d", self.get_current_layer(), len(inj_list))
            if layer_dim == 2:
                for i in inj_list:
                    self.assert_inj_bounds(index=i)
                    logging.info("Original value at [%d][%d]: %f", self.corrupt_batch[i], self.corrupt_dim1[i],
                                 output[self.corrupt_batch[i]][self.corrupt_dim1[i]])
                    value = flip32(float(output[self.corrupt_batch[i]][self.corrupt_dim1[i]]), self.flip_bits[i])
                    logging.info("Changing value to %f", value)
                    output[self.corrupt_batch[i]][self.corrupt_dim1[i]] = value
            elif layer_dim == 4:
                for i in inj_list:
                    self.assert_inj_bounds(index=i)
                    logging.info("Original value at [%d][%d][%d][%d]: %f", self.corrupt_batch[i],
                                 self.corrupt_dim1[i], self.corrupt_dim2[i], self.corrupt_dim3[i],
                                 output[self.corrupt_batch[i]][self.corrupt_dim1[i]][self.corrupt_dim2[i]][
                                     self.corrupt_dim3[i]])
                    value = flip32(float(output[self.corrupt_batch[i]][self.corrupt_dim1[i]][self.corrupt_dim2[i]][
                        self.corrupt_dim3[i]]), self.flip_bits[i])
                    logging.info("Changing value to %f", value)
                    output[self.corrupt_batch[i]][self.corrupt_dim1[i]][self.corrupt_dim2[i]][
                        self.corrupt_dim3[i]] = value
            else:
                raise RuntimeError(f"peer_pytorchfi: layer of {layer_dim} dimensions")
            self.updateLayer()
            if self.get_current_layer() >= self.get_total_layers():
                self.reset_current_layer()

    with h5py.File(os.path.join(a.models_dir, "fashion_mnist_test.h5"), "r") as f:
        images = torch.from_numpy(np.asarray(f["images"][:a.samples], dtype=np.float32))
    n_img = images.shape[0]
    batches = [images[s:s + a.batch] for s in range(0, n_img, a.batch)]
    if n_img % a.batch:
        sys.exit("peer_pytorchfi: samples must be a multiple of the batch (PyTorchFI fixes the batch size)")

    rows = []
    print(f"peer_pytorchfi: pytorchfi {getattr(pytorchfi, '__version__', '0.6.0')}, torch {torch.__version__}, "
          f"{n_img} images, batch {a.batch}, {torch.get_num_threads()} thread(s), "
          f"{a.reps} fault-free/faulty pairs per point", flush=True)
    print(f"{'model':5} {'kind':10} {'faults':>8} {'reps':>4} {'gen ms':>9} {'free ms':>10} {'faulty ms':>11} "
          f"{'overhead':>10} {'(wall)':>10} {'inject ms':>10} {'(ratio)':>9}", flush=True)
    for name in a.models:
        path = os.path.join(a.models_dir, name + ".pt")
        scripted = torch.jit.load(path, map_location="cpu").eval()
        model = {"cnn": CNN, "snn": LIFSNN}[name]()
        model.load_state_dict(scripted.state_dict())
        model.eval()
        with torch.no_grad():
            ref = torch.cat([scripted(b) for b in batches])
            mine = torch.cat([model(b) for b in batches])
        if not torch.equal(ref, mine):
            sys.exit(f"peer_pytorchfi: {name}: the eager module's logits differ from {path}'s "
                     f"(max |diff| {float((ref - mine).abs().max()):.3g})")
        print(f"# {name}: eager nn.Module with the weights of {os.path.basename(path)}: logits bit-identical "
              "to the TorchScript file's", flush=True)

        def run_free():
            t0, c0 = time.perf_counter(), time.process_time()
            with torch.no_grad():
                for b in batches:
                    model(b)
            return time.perf_counter() - t0, time.process_time() - c0

        for kind in a.kinds:
            # weights: the Conv2d and Linear weights; activations: hooks on every leaf module
            # ("all": PyTorchFI refuses ReLU as a layer type, it wants a weight), faults only in
            # the outputs of Conv2d, Linear and ReLU (the sites nnfi inserts; not pool/flatten)
            pfi = FlipFI(model, a.batch, input_shape=[1, 28, 28],
                         layer_types=[nn.Conv2d, nn.Linear] if kind == "weight" else ["all"])
            if kind == "weight":
                shapes = [tuple(s) for s in pfi.weights_size]
                sizes = np.array([int(np.prod(s)) for s in shapes], dtype=np.int64)
            else:
                shapes = [tuple(s[1:]) for s in pfi.output_size]
                sizes = np.array([int(np.prod(s)) if t in (nn.Conv2d, nn.Linear, nn.ReLU) else 0
                                  for s, t in zip(shapes, pfi.layers_type)], dtype=np.int64)
            prefix = np.concatenate([[0], np.cumsum(sizes)])
            for n in a.faults:
                rng = np.random.default_rng([SEED, n, 0 if kind == "weight" else 1])
                tg = time.perf_counter()
                # uniform over all selected elements, like nnfi's sampler
                flat = rng.integers(0, prefix[-1], n)
                layer = np.searchsorted(prefix, flat, side="right") - 1
                off = flat - prefix[layer]
                bits = rng.integers(0, 32, n)
                idx = [[None] * n for _ in range(4)]
                for li in np.unique(layer):
                    sel = np.nonzero(layer == li)[0]
                    coords = np.unravel_index(off[sel], shapes[li])
                    # weights: (k, dim1, dim2, dim3); activations: (batch, dim1, dim2, dim3)
                    for d, c in enumerate(coords, start=0 if kind == "weight" else 1):
                        col = idx[d]
                        for j, v in zip(sel.tolist(), c.tolist()):
                            col[j] = v
                layer_l, bits_l = layer.tolist(), bits.tolist()
                batch_l = rng.integers(0, a.batch, n).tolist()
                gen_s = time.perf_counter() - tg

                def run_faulty():
                    t0, c0, d0 = time.perf_counter(), time.process_time(), time.thread_time()
                    pfi.inj_s = 0.0
                    if kind == "weight":
                        it = iter(bits_l)

                        def flip_weight(weight, corrupt_idx):
                            return flip32(weight[corrupt_idx].item(), next(it))

                        # declare_weight_fi indexes weight[k, dim1, dim2, dim3]; a Linear weight
                        # takes dim2 = dim3 = None (new axes of size 1)
                        corrupted = pfi.declare_weight_fi(function=flip_weight, layer_num=layer_l, k=idx[0],
                                                          dim1=idx[1], dim2=idx[2], dim3=idx[3])
                    else:
                        pfi.flip_bits = bits_l
                        corrupted = pfi.declare_neuron_fi(function=pfi.flip_value, layer_num=layer_l,
                                                          batch=batch_l, dim1=idx[1], dim2=idx[2], dim3=idx[3])
                    pfi.inj_s += time.thread_time() - d0  # the declaration: copy + weight faults
                    pfi.reset_current_layer()
                    with torch.no_grad():
                        for b in batches:
                            corrupted(b)
                    pfi.fi_reset()  # removes the hooks, drops the corrupted copy: the original model is intact
                    return time.perf_counter() - t0, time.process_time() - c0, pfi.inj_s

                fw, fc, qw, qc, ij = [], [], [], [], []
                reps = a.reps
                r = 0
                while r < reps:
                    if r % 2 == 0:
                        f, q = run_free(), run_faulty()
                    else:
                        q, f = run_faulty(), run_free()
                    fw.append(f[0])
                    fc.append(f[1])
                    qw.append(q[0])
                    qc.append(q[1])
                    ij.append(q[2])
                    if r == 0 and q[0] > a.slow_s:
                        reps = min(reps, 3 if q[0] < 3 * a.slow_s else 1)
                    r += 1
                med = lambda v: float(np.median(v))  # noqa: E731
                row = {"model": name, "kind": kind, "faults": n, "reps": reps, "gen_s": gen_s,
                       "free_wall_s": med(fw), "free_wall_min": min(fw), "free_wall_max": max(fw),
                       "faulty_wall_s": med(qw), "faulty_wall_min": min(qw), "faulty_wall_max": max(qw),
                       "overhead_wall": med(qw) / med(fw) - 1,
                       "free_cpu_s": med(fc), "free_cpu_min": min(fc), "free_cpu_max": max(fc),
                       "faulty_cpu_s": med(qc), "faulty_cpu_min": min(qc), "faulty_cpu_max": max(qc),
                       "overhead_cpu": med(qc) / med(fc) - 1,
                       "samples": n_img, "batch": a.batch, "threads": torch.get_num_threads(),
                       "inject_s": med(ij), "inject_ratio": med(ij) / med(fc),
                       "paired_cpu": med([q_ / f_ for q_, f_ in zip(qc, fc)]) - 1}
                rows.append(row)
                print(f"{name:5} {kind:10} {n:8d} {reps:4d} {1e3 * gen_s:9.2f} {1e3 * row['free_cpu_s']:10.2f} "
                      f"{1e3 * row['faulty_cpu_s']:11.2f} {100 * row['overhead_cpu']:9.2f}% "
                      f"{100 * row['overhead_wall']:9.2f}% {1e3 * row['inject_s']:10.1f} "
                      f"{100 * row['inject_ratio']:8.1f}%", flush=True)
            # the model must be untouched after all the trials
            with torch.no_grad():
                again = torch.cat([model(b) for b in batches])
            if not torch.equal(again, mine):
                sys.exit(f"peer_pytorchfi: {name} {kind}: the original model changed")
    if a.csv and rows:
        with open(a.csv, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
            w.writeheader()
            w.writerows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
