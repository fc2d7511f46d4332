"""test_byom.py - bring your own model (issue 16 item 1): torchvision's
ResNet-18 and MobileNetV2, scripted unmodified (no input_shape attribute),
take their 3x32x32 input shape from the campaign's eval set:
  * `nnfi sites MODEL.pt` works with --input-shape or --eval, and without
    either says which shape it tried and how to give one;
  * `nnfi plan` and `nnfi run` of a campaign over both models work; the
    default path (shortcuts) equals `nnfi run --full-eval`, and 2 MPI ranks
    give the same file (tests/refactor/compare_h5.py);
  * a model whose input_shape attribute disagrees with the eval set is
    refused, naming both shapes and the campaign's line:column of the model;
  * models[].eval: ResNet-18 on 3x32x32 and a small CNN on 1x28x28 in one
    campaign, each on its own eval set (1 and 2 ranks identical); an eval
    set that does not exist is refused at the model's eval entry;
  * a bfloat16 MLP (bf16 input and weights) and an MLP that takes float16
    input (and computes in float32): golden == PyTorch, the input site's
    dtype, faults on it, shortcuts == --full-eval.
Fixtures: make_byom_fixtures.py in NNFI_BYOM_FIXTURES (CTest byom_fixtures)."""
import os
import re
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "refactor"))
import compare_h5  # noqa: E402

FIX = Path(os.environ.get("NNFI_BYOM_FIXTURES", ""))

CAMPAIGN = """name: byom
seed: 23
models:
  - {{name: resnet18, host: torch, path: {d}/resnet18.pt, threads: 1}}
  - {{name: mobilenet, host: torch, path: {d}/mobilenet_v2.pt, threads: 1}}
eval: {{path: {d}/eval32.h5, samples: 16, batch: 8}}
experiments:
  - {{name: r-weight, model: resnet18, groups: [{{target: weight, bits: {{preset: exponent}}, op: flip, count: 1}}], trials: 4}}
  - {{name: r-act, model: resnet18, groups: [{{target: activation, bits: {{preset: exponent}}, op: flip, persistence: transient, scope: sample, count: 2}}], trials: 6}}
  - {{name: m-weight, model: mobilenet, groups: [{{target: weight, bits: {{preset: exponent}}, op: flip, count: 1}}], trials: 4}}
  - {{name: m-act, model: mobilenet, groups: [{{target: activation, bits: {{preset: exponent}}, op: flip, persistence: transient, scope: sample, count: 2}}], trials: 6}}
"""

MISMATCH = """name: mismatch
seed: 1
models:
  - name: small
    host: torch
    path: {d}/attr28.pt
eval: {{path: {d}/eval32.h5, samples: 8, batch: 8}}
experiments:
  - {{name: w, model: small, groups: [{{target: weight, count: 1}}], trials: 2}}
"""


@pytest.fixture(scope="module")
def fixtures():
    if not (FIX / "resnet18.pt").exists():
        pytest.skip("NNFI_BYOM_FIXTURES has no resnet18.pt (run make_byom_fixtures.py)")
    return FIX


def run(cmd, env=None, expect=0):
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=240, env=env)
    assert p.returncode == expect, f"{' '.join(map(str, cmd))}: exit {p.returncode}\n{p.stdout}\n{p.stderr}"
    return p


def sites(nnfi_bin, *args):
    """name -> (kind, the whole line) of every site `nnfi sites` lists."""
    out = run([nnfi_bin, "sites", *args]).stdout
    return {ln.split()[0]: (ln.split()[1], ln) for ln in out.splitlines() if ln and not ln.startswith(("#", "site "))}


def test_sites_take_the_shape(nnfi_bin, fixtures, check):
    for name in ("resnet18", "mobilenet_v2"):
        model = fixtures / f"{name}.pt"
        a = sites(nnfi_bin, model, "--input-shape", "3,32,32")
        b = sites(nnfi_bin, model, "--eval", fixtures / "eval32.h5")
        check(a == b and "[3, 32, 32]" in a["input"][1], f"{name}: the input site is [3, 32, 32] either way")
        acts = [n for n, v in a.items() if v[0] == "activation"]
        check(len(acts) > 20, f"{name}: {len(acts)} activation sites")
        p = run([nnfi_bin, "sites", model], expect=1)
        check("1, 28, 28" in p.stderr and "--input-shape" in p.stderr and "hint:" in p.stderr,
              f"{name} alone: the error names the shape tried and --input-shape: {p.stderr.strip()}")
    p = run([nnfi_bin, "sites", fixtures / "resnet18.pt", "--input-shape", "3,x"], expect=2)
    check("--input-shape" in p.stderr, "a bad --input-shape is a usage error")


@pytest.fixture(scope="module")
def campaign(fixtures, work_dir):
    cfg = work_dir / "byom.yaml"
    cfg.write_text(CAMPAIGN.format(d=fixtures))
    return cfg


@pytest.fixture(scope="module")
def full(nnfi_bin, work_dir, campaign):
    out = work_dir / "full.h5"
    run([nnfi_bin, "run", campaign, "-o", out, "--force", "--quiet", "--progress", "off", "--full-eval"])
    return out


def volatile(d):
    return "@journal_id" in d  # run provenance: differs between any two runs


def test_plan(nnfi_bin, campaign, check):
    p = run([nnfi_bin, "plan", campaign])
    check("model 'resnet18'" in p.stdout and "model 'mobilenet'" in p.stdout and "total: 20 trials" in p.stdout,
          f"nnfi plan lists both models and 20 trials:\n{p.stdout}")


def test_run_default_equals_full_eval(nnfi_bin, work_dir, campaign, full, check):
    out = work_dir / "default.h5"
    run([nnfi_bin, "run", campaign, "-o", out, "--force", "--quiet", "--progress", "off"])
    diffs = [d for d in compare_h5.compare(str(out), str(full)) if not volatile(d)]
    check(diffs == [], f"default == --full-eval: {diffs}")
    with h5py.File(out, "r") as f:
        check(bool(f["trials/done"][()].all()), "every trial done")
        for m in ("resnet18", "mobilenet"):
            acc = float(f[f"golden/{m}"].attrs["accuracy"])
            check(0.0 < acc < 1.0, f"{m}: golden accuracy {acc} on the generated eval set")
            check(f[f"golden/{m}/logits"].shape == (16, 10), f"{m}: golden logits [16, 10]")
        inp = [bytes(s).decode() if isinstance(s, bytes) else s for s in f["sites/resnet18/shape"][()]]
        check(any("3, 32, 32" in str(s) for s in inp), "/sites/resnet18 holds the [3, 32, 32] input")


def test_two_ranks(nnfi_bin, work_dir, campaign, full, mpi_env, mpiexec, check):
    out = work_dir / "ranks2.h5"
    run(mpiexec.cmd(2, str(nnfi_bin), "run", str(campaign), "-o", str(out), "--force", "--quiet", "--progress", "off"),
        env=mpi_env)
    diffs = [d for d in compare_h5.compare(str(out), str(full))
             if not volatile(d) and not d.startswith(("/faults/", "/ @world_size"))]
    check(diffs == [], f"2 ranks == 1 process --full-eval: {diffs}")


def test_attribute_mismatch_refused(nnfi_bin, fixtures, work_dir, check):
    cfg = work_dir / "mismatch.yaml"
    cfg.write_text(MISMATCH.format(d=fixtures))
    for cmd in (["plan", cfg], ["run", cfg, "-o", work_dir / "mismatch.h5", "--force", "--quiet", "--progress", "off"]):
        p = run([nnfi_bin, *cmd], expect=1)
        err = p.stderr
        check(re.search(r"mismatch\.yaml:4:\d+: models\[0\]", err) is not None,
              f"nnfi {cmd[0]}: the campaign's line:column of the model: {err.strip()}")
        check("[1, 28, 28]" in err and "[3, 32, 32]" in err and "hint:" in err,
              f"nnfi {cmd[0]}: both shapes and a hint: {err.strip()}")


TWO_EVALS = """name: two-evals
seed: 29
models:
  - name: resnet18
    host: torch
    path: {d}/resnet18.pt
    eval: {{path: {d}/eval32.h5, samples: 12, batch: 6}}
  - name: small
    host: torch
    path: {d}/attr28.pt
    eval: {{path: {d}/{small_eval}}}
eval: {{samples: 20, batch: 10}}
experiments:
  - {{name: r, model: resnet18, groups: [{{target: activation, bits: {{preset: exponent}}, op: flip, persistence: transient, scope: sample, count: 1}}], trials: 5}}
  - {{name: s, model: small, groups: [{{target: weight, bits: {{preset: exponent}}, op: flip, count: 1}}], trials: 5}}
"""


def test_two_models_two_eval_sets(nnfi_bin, fixtures, work_dir, mpi_env, mpiexec, check):
    cfg = work_dir / "two_evals.yaml"
    cfg.write_text(TWO_EVALS.format(d=fixtures, small_eval="eval28.h5"))
    one, two = work_dir / "two_evals_1.h5", work_dir / "two_evals_2.h5"
    run([nnfi_bin, "run", cfg, "-o", one, "--force", "--quiet", "--progress", "off"])
    run(mpiexec.cmd(2, str(nnfi_bin), "run", str(cfg), "-o", str(two), "--force", "--quiet", "--progress", "off"),
        env=mpi_env)
    with h5py.File(one, "r") as f:
        check(f["golden/resnet18/logits"].shape == (12, 10), "resnet18: 12 samples of its own eval set")
        check(f["golden/small/logits"].shape == (20, 10), "small: the campaign's samples: 20, on eval28.h5")
        check(bool(f["trials/done"][()].all()), "every trial done")
    diffs = [d for d in compare_h5.compare(str(two), str(one))
             if not volatile(d) and not d.startswith(("/faults/", "/ @world_size"))]
    check(diffs == [], f"2 ranks == 1: {diffs}")
    bad = work_dir / "two_evals_bad.yaml"
    bad.write_text(TWO_EVALS.format(d=fixtures, small_eval="missing.h5"))
    p = run([nnfi_bin, "run", bad, "-o", work_dir / "bad.h5", "--force", "--quiet", "--progress", "off"], expect=1)
    check(re.search(r"two_evals_bad\.yaml:\d+:\d+: models\[1\]\.eval\.path", p.stderr) is not None
          and "missing.h5" in p.stderr, f"a missing eval set of model 1 is located at its eval entry: {p.stderr.strip()}")


BF16 = """name: byom-bf16
seed: 5
models:
  - {{name: mlp, host: torch, path: {d}/bf16mlp.pt, threads: 1}}
eval: {{path: {d}/evalbf16.h5, samples: 40, batch: 16}}
experiments:
  - {{name: w, model: mlp, groups: [{{target: weight, bits: {{preset: exponent}}, op: flip, count: 1}}], trials: 6}}
  - {{name: in, model: mlp, groups: [{{target: input, bits: {{preset: exponent}}, op: flip, persistence: transient, scope: sample, count: 1}}], trials: 6}}
"""


def test_bf16_model_takes_bf16_input(nnfi_bin, fixtures, work_dir, check):
    """A bfloat16 model: the eval images' dtype attribute makes the input bf16,
    the input and parameter sites are bf16, the golden run equals PyTorch's,
    and the shortcuts equal --full-eval."""
    import torch
    cfg = work_dir / "bf16.yaml"
    cfg.write_text(BF16.format(d=fixtures))
    full_h5, fast_h5 = work_dir / "bf16_full.h5", work_dir / "bf16.h5"
    run([nnfi_bin, "run", cfg, "-o", full_h5, "--force", "--quiet", "--progress", "off", "--full-eval"])
    run([nnfi_bin, "run", cfg, "-o", fast_h5, "--force", "--quiet", "--progress", "off"])
    diffs = [d for d in compare_h5.compare(str(fast_h5), str(full_h5)) if not volatile(d)]
    check(diffs == [], f"bf16: shortcuts == --full-eval: {diffs[:5]}")
    m = torch.jit.load(str(fixtures / "bf16mlp.pt"))
    with h5py.File(fixtures / "evalbf16.h5", "r") as f:
        x = torch.from_numpy(f["images"][()]).to(torch.bfloat16)
    with torch.no_grad():
        ref = torch.cat([m(x[s:s + 16]) for s in range(0, 40, 16)]).float().numpy()
    with h5py.File(full_h5, "r") as f:
        check(np.array_equal(f["golden/mlp/logits"][()], ref), "bf16: golden logits == PyTorch's, bit for bit")
        st = f["sites/mlp"]
        dt = {n.decode() if isinstance(n, bytes) else n: d.decode() if isinstance(d, bytes) else d
              for n, d in zip(st["name"][()], st["dtype"][()])}
        check(dt.get("input") == "bf16" and dt.get("0.weight") == "bf16", f"bf16 sites: {dt}")
        check(int(f["trials/done"][()].sum()) == 12, "bf16: every trial done")
    out = run([nnfi_bin, "sites", fixtures / "bf16mlp.pt", "--input-shape", "16", "--input-dtype", "bfloat16"]).stdout
    check("bf16" in out.split("\n", 2)[-1], "nnfi sites --input-dtype bfloat16")


F16 = """name: byom-f16
seed: 5
models:
  - {{name: mlp, host: torch, path: {d}/f16in.pt, threads: 1}}
eval: {{path: {d}/evalf16.h5, samples: 40, batch: 16}}
experiments:
  - {{name: w, model: mlp, groups: [{{target: weight, bits: {{preset: exponent}}, op: flip, count: 1}}], trials: 6}}
  - {{name: in, model: mlp, groups: [{{target: input, bits: {{preset: exponent}}, op: flip, persistence: transient, scope: sample, count: 1}}], trials: 8}}
  - {{name: in-perm, model: mlp, groups: [{{target: input, op: flip, count: 2}}], trials: 4}}
"""


def test_f16_input(nnfi_bin, fixtures, work_dir, check):
    """A model that takes float16 (and computes in float32: libtorch 1.13 has
    no CPU Half kernels for linear/addmm): the eval images (HDF5 16-bit floats,
    dtype attribute "float16") make the input site fp16, the golden run equals
    PyTorch's, input faults flip bits of the fp16 values (replayed in PyTorch),
    and the shortcuts equal --full-eval."""
    import torch
    cfg = work_dir / "f16.yaml"
    cfg.write_text(F16.format(d=fixtures))
    full_h5, fast_h5 = work_dir / "f16_full.h5", work_dir / "f16.h5"
    run([nnfi_bin, "run", cfg, "-o", full_h5, "--force", "--quiet", "--progress", "off", "--full-eval"])
    run([nnfi_bin, "run", cfg, "-o", fast_h5, "--force", "--quiet", "--progress", "off"])
    diffs = [d for d in compare_h5.compare(str(fast_h5), str(full_h5)) if not volatile(d)]
    check(diffs == [], f"f16: shortcuts == --full-eval: {diffs[:5]}")
    m = torch.jit.load(str(fixtures / "f16in.pt"))
    with h5py.File(fixtures / "evalf16.h5", "r") as f:
        check(f["images"].dtype == np.float16, f"evalf16.h5 images are 16-bit floats: {f['images'].dtype}")
        x = torch.from_numpy(f["images"][()])
    with torch.no_grad():
        golden = torch.cat([m(x[s:s + 16]) for s in range(0, 40, 16)])
    with h5py.File(full_h5, "r") as f:
        check(np.array_equal(f["golden/mlp/logits"][()], golden.numpy()), "f16: golden logits == PyTorch's, bit for bit")
        st = f["sites/mlp"]
        names = [n.decode() if isinstance(n, bytes) else n for n in st["name"][()]]
        dt = dict(zip(names, [d.decode() if isinstance(d, bytes) else d for d in st["dtype"][()]]))
        check(dt.get("input") == "fp16" and dt.get("fc1.weight") == "fp32", f"f16 sites: {dt}")
        tr = f["trials"]
        exp, err = tr["experiment"][()], tr["max_abs_err"][()]
        check(int(tr["done"][()].sum()) == 18, "f16: every trial done")
        fl = {k: f["faults"][k][()] for k in ("trial", "site", "element", "mask", "when")}
    # replay the transient input faults: flip the mask in the sample's fp16 bits
    replayed = 0
    for i in np.nonzero(exp[fl["trial"]] == 1)[0]:
        t, s, e, mask = (int(fl[k][i]) for k in ("trial", "when", "element", "mask"))
        ok = names[int(fl["site"][i])] == "input" and 0 < mask < (1 << 16)
        s0 = s // 16 * 16  # the batch --full-eval ran it in
        xb = x[s0:s0 + 16].clone()
        xb[s - s0].view(torch.int16)[e] ^= int(np.uint16(mask).view(np.int16))
        with torch.no_grad():
            out = m(xb)[s - s0]
        want = float((out - golden[s]).abs().max())
        ok = ok and (np.isclose(err[t], want, rtol=1e-5, atol=1e-6) or not np.isfinite(want))
        check(ok, f"f16: trial {t} flips {mask:#x} of sample {s}'s input element {e}: "
                  f"max |err| {err[t]:.6g}, PyTorch {want:.6g}")
        replayed += 1
    check(replayed == 8 and (err[exp == 1] > 0).any(), f"f16: {replayed} input faults replayed, some change the logits")
    check(((err[exp == 2] > 0) | ~np.isfinite(err[exp == 2])).any(), "f16: permanent input faults run")
    out = run([nnfi_bin, "sites", fixtures / "f16in.pt", "--input-shape", "16", "--input-dtype", "float16"]).stdout
    line = next((ln for ln in out.splitlines() if ln.startswith("input ")), "")
    check("fp16" in line and "[16]" in line, f"nnfi sites --input-dtype float16: {line}")
