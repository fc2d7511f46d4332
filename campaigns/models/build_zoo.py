#!/usr/bin/python3
# Model-zoo driver for nnfi: builds the Fashion-MNIST evaluation set, the
# TorchScript models (cnn, snn, qcnn, pcnn, vit on Fashion-MNIST; charlm, a
# character-level language model on Debian's fortunes, with its own eval set)
# into OUTDIR, skipping every model whose outputs are present, intact and newer
# than the scripts that make them, and writes OUTDIR/zoo.json summarising the zoo.
"""Usage: build_zoo.py OUTDIR [--only NAME] [--force] [--check]

  OUTDIR        where <name>.pt, <name>.json, fashion_mnist_test.h5,
                fortunes_test.h5 (charlm's eval set), zoo.json go
  --only NAME   build just NAME (cnn, snn, qcnn, pcnn, vit, charlm or testset), plus whatever
                it depends on that is missing or stale; may be repeated
  --force       rebuild the selected models even if they are up to date
  --check       exit with status 3 if a model misses its target (accuracy,
                parameters, sparsity, time steps, margin over a baseline)

A model is up to date when OUTDIR/<name>.pt and <name>.json exist (and
charlm's fortunes_test.h5), the json's file_sha256 (eval_file_sha256) matches
the .pt (the eval file), and all are newer than its script, common.py,
data.py and the outputs of the models it starts from (qcnn and pcnn start from
cnn's weights, so rebuilding cnn rebuilds them).  Each script runs as its own
process with this interpreter (use /usr/bin/python3: Debian's torch 1.13).
"""
import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True          # keep __pycache__ out of the source tree

# name -> (script, models it starts from, extra source files it imports)
MODELS = {
    "cnn": ("train_cnn.py", [], []),
    "snn": ("train_snn.py", [], []),
    "qcnn": ("train_qcnn.py", ["cnn"], []),
    "pcnn": ("train_pcnn.py", ["cnn"], ["train_cnn.py"]),
    "vit": ("train_vit.py", [], []),
    "charlm": ("train_charlm.py", [], []),
}
# Files a model's script writes besides <name>.pt and <name>.json, with the
# json key holding each one's sha256.
EXTRA_OUTPUTS = {
    "charlm": [("fortunes_test.h5", "eval_file_sha256")],
}
COMMON = ["common.py", "data.py"]
TESTSET = "fashion_mnist_test.h5"

# The targets the zoo is meant to meet (checked after the build, recorded in zoo.json).
TARGETS = {
    "cnn": {"test_accuracy": 0.88, "parameters": 1_000_000},
    "snn": {"test_accuracy": 0.80, "time_steps": 8},
    "qcnn": {"test_accuracy": 0.85},
    "pcnn": {"test_accuracy": 0.85, "sparsity": 0.80},
    "vit": {"test_accuracy": 0.85},
    # next-character accuracy on the held-out fortunes; the margin is over the
    # bigram baseline (most frequent successor of the current character)
    "charlm": {"test_accuracy": 0.38, "margin_over_bigram": 0.12},
}


def mtime(path):
    try:
        return os.path.getmtime(path)
    except OSError:
        return None


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def outputs(out, name):
    return ([os.path.join(out, name + ".pt"), os.path.join(out, name + ".json")]
            + [os.path.join(out, f) for f, _ in EXTRA_OUTPUTS.get(name, [])])


def stale_reason(out, name):
    """None if NAME is up to date in OUT, else why it has to be built."""
    script, deps, extra = MODELS[name]
    outs = outputs(out, name)
    times = [mtime(p) for p in outs]
    if None in times:
        return "missing " + ", ".join(os.path.basename(p) for p, t in zip(outs, times) if t is None)
    try:
        with open(outs[1]) as f:
            info = json.load(f)
    except (OSError, ValueError) as e:
        return f"unreadable {os.path.basename(outs[1])}: {e}"
    if info.get("file_sha256") != sha256_file(outs[0]):
        return f"{name}.pt does not match {name}.json"
    for f, key in EXTRA_OUTPUTS.get(name, []):
        if info.get(key) != sha256_file(os.path.join(out, f)):
            return f"{f} does not match {name}.json"
    oldest = min(times)
    inputs = [os.path.join(HERE, f) for f in [script] + extra + COMMON]
    for d in deps:
        inputs += outputs(out, d)
    for p in inputs:
        t = mtime(p)
        if t is None:
            return f"{os.path.basename(p)} is missing"
        if t > oldest:
            return f"{os.path.basename(p)} is newer"
    return None


def testset_stale(out):
    t = mtime(os.path.join(out, TESTSET))
    if t is None:
        return "missing"
    if t < mtime(os.path.join(HERE, "data.py")):
        return "data.py is newer"
    return None


def build_testset(out):
    import data
    t0 = time.perf_counter()
    data.write_test_h5(os.path.join(out, TESTSET))
    return time.perf_counter() - t0


def children_cpu():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_script(out, name):
    """Run train_<name>.py OUT; returns (wall seconds, CPU seconds)."""
    script = os.path.join(HERE, MODELS[name][0])
    t0, c0 = time.perf_counter(), children_cpu()
    env = dict(os.environ, PYTHONHASHSEED="0",    # byte-reproducible .pt files
               PYTHONDONTWRITEBYTECODE="1")
    rc = subprocess.call([sys.executable, script, out], cwd=HERE, env=env)
    secs, cpu = time.perf_counter() - t0, children_cpu() - c0
    if rc != 0:
        sys.exit(f"build_zoo: {MODELS[name][0]} failed with status {rc}")
    return secs, cpu


def target_value(info, key):
    """The value a target is checked against: a json fact, or a derived one."""
    if key == "margin_over_bigram":
        base = (info.get("baseline_bigram") or {}).get("accuracy")
        acc = info.get("test_accuracy")
        return None if base is None or acc is None else round(acc - base, 6)
    return info.get(key)


def check_targets(name, info):
    misses = []
    for key, want in TARGETS[name].items():
        have = target_value(info, key)
        if have is None or have < want:
            misses.append(f"{key} {have} < {want}")
    return misses


def summary(out, built):
    zoo = {"description": "nnfi model zoo exported as TorchScript: Fashion-MNIST classifiers "
                          "(input float32 [N,1,28,28] in [0,1], output logits [N,10], eval set "
                          "fashion_mnist_test.h5) and a character-level language model (charlm: "
                          "input int64 token ids [N,T], output logits [N,T,vocab], eval set "
                          "fortunes_test.h5); each model's input_dtype and output_layout (N,C "
                          "or N,T,C) say which",
           "outdir": out, "testset": None, "models": {}, "targets": TARGETS,
           "all_targets_met": True}
    ts = os.path.join(out, TESTSET)
    if os.path.exists(ts):
        zoo["testset"] = {"file": TESTSET, "datasets": {"images": "float32 [10000,1,28,28] in [0,1]",
                                                        "labels": "int64 [10000]"},
                          "file_sha256": sha256_file(ts)}
    for name in MODELS:
        jpath = os.path.join(out, name + ".json")
        if not os.path.exists(jpath):
            zoo["models"][name] = None
            zoo["all_targets_met"] = False
            continue
        with open(jpath) as f:
            info = json.load(f)
        misses = check_targets(name, info)
        entry = {k: info.get(k) for k in (
            "file", "file_sha256", "kind", "export", "test_accuracy", "parameters",
            "sparsity", "time_steps", "qengine", "input_dtype", "input_shape", "output_layout",
            "layers", "heads", "patch_size", "d_model", "seq_len", "vocab_size",
            "baseline_most_frequent_char", "baseline_bigram", "eval_file_sha256",
            "training_seconds", "script_seconds", "torch_version", "seed")
            if info.get(k) is not None}
        entry["eval_file"] = info.get("eval_file", TESTSET)
        entry["json"] = name + ".json"
        entry["targets_met"] = not misses
        if misses:
            entry["target_misses"] = misses
            zoo["all_targets_met"] = False
        if name in built:
            entry["built_this_run_seconds"] = round(built[name][0], 2)
            entry["built_this_run_cpu_seconds"] = round(built[name][1], 2)
        zoo["models"][name] = entry
    tmp = os.path.join(out, "zoo.json.tmp")
    with open(tmp, "w") as f:
        json.dump(zoo, f, indent=2)
        f.write("\n")
    os.replace(tmp, os.path.join(out, "zoo.json"))
    return zoo


def main():
    ap = argparse.ArgumentParser(description="Build the nnfi model zoo.", epilog=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("outdir")
    ap.add_argument("--only", action="append", choices=list(MODELS) + ["testset"])
    ap.add_argument("--force", action="store_true")
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    out = os.path.abspath(args.outdir)
    os.makedirs(out, exist_ok=True)

    wanted = args.only or ["testset"] + list(MODELS)
    t_all = time.perf_counter()
    built = {}

    if "testset" in wanted:
        why = "forced" if args.force else testset_stale(out)
        if why:
            print(f"build_zoo: {TESTSET}: building ({why})", flush=True)
            built["testset"] = (build_testset(out), None)
        else:
            print(f"build_zoo: {TESTSET}: up to date", flush=True)

    # Order: dependencies first (MODELS is already topologically ordered).
    selected = [n for n in MODELS if n in wanted]
    for n in list(selected):
        for d in MODELS[n][1]:
            if d not in selected:
                selected.insert(0, d)
    order = [n for n in MODELS if n in selected]
    for name in order:
        why = stale_reason(out, name)
        if args.force and name in wanted:
            why = why or "forced"
        if why is None:
            print(f"build_zoo: {name}: up to date, skipped", flush=True)
            continue
        print(f"build_zoo: {name}: building ({why})", flush=True)
        built[name] = run_script(out, name)
        print(f"build_zoo: {name}: done in {built[name][0]:.1f}s "
              f"({built[name][1]:.1f} CPU-s)", flush=True)

    zoo = summary(out, built)
    total = time.perf_counter() - t_all
    print(f"\n{'model':6} {'accuracy':>9} {'params':>10} {'extra':>18} {'train s':>8}  target")
    for name, e in zoo["models"].items():
        if e is None:
            print(f"{name:6} {'(not built)':>9}")
            continue
        extra = ""
        if "sparsity" in e:
            extra = f"sparsity {e['sparsity']:.3f}"
        elif "time_steps" in e:
            extra = f"T={e['time_steps']}"
        elif "qengine" in e:
            extra = f"int8 {e['qengine']}"
        elif "patch_size" in e:
            extra = f"P={e['patch_size']} L={e['layers']} H={e['heads']}"
        elif "baseline_bigram" in e:
            extra = f"bigram {e['baseline_bigram']['accuracy']:.3f}"
        status = "ok" if e["targets_met"] else "MISSED: " + "; ".join(e["target_misses"])
        print(f"{name:6} {e['test_accuracy']:9.4f} {e['parameters']:10d} {extra:>18} "
              f"{e.get('training_seconds', 0):8.1f}  {status}")
    nbuilt = len([b for b in built if b != "testset"])
    cpu = sum(c for _, c in built.values() if c is not None)
    print(f"build_zoo: {nbuilt} model(s) built, {total:.1f}s wall total "
          f"({cpu:.1f} CPU-s in training scripts); summary in {os.path.join(out, 'zoo.json')}")
    if args.check and not zoo["all_targets_met"]:
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
