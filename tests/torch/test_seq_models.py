"""test_seq_models.py - sequence models through the command line (pytest;
CTest `torch_seq_models`, labels torch;mpi; fixtures of
make_seq_fixtures.py in NNFI_SEQ_FIXTURES):
  * `nnfi sites` lists activation sites inside every encoder layer of the
    nn.TransformerEncoder classifier (and the fused layer outputs with
    --fused, attention's softmax/bmm with --ops), the LSTM's output/h/c and
    the GRU's output/h; an unknown --ops name is refused naming it;
  * a short campaign (transient per-sample and permanent activation faults,
    weights, attention scores, LSTM states) runs; its default path (shortcuts:
    sample-sparse calls, packing, golden cuts) equals `nnfi run --full-eval`,
    and 2 MPI ranks give the same file (tests/refactor/compare_h5.py; /faults
    compared in trial order)."""
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "refactor"))
import compare_h5  # noqa: E402

FIX = Path(os.environ.get("NNFI_SEQ_FIXTURES", ""))


@pytest.fixture(scope="module")
def fixtures():
    if not (FIX / "transformer.pt").exists():
        pytest.skip("NNFI_SEQ_FIXTURES has no transformer.pt (run make_seq_fixtures.py)")
    return FIX


def run(cmd, env=None, expect=0):
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=240, env=env)
    assert p.returncode == expect, f"{' '.join(map(str, cmd))}: exit {p.returncode}\n{p.stdout}\n{p.stderr}"
    return p


def site_names(nnfi_bin, model, *args):
    out = run([nnfi_bin, "sites", model, *args]).stdout
    return {line.split()[0]: line.split()[1] for line in out.splitlines() if line and not line.startswith(("#", "site "))}


def test_sites(nnfi_bin, fixtures, check):
    s = site_names(nnfi_bin, fixtures / "transformer.pt")
    for layer in (0, 1):
        inner = [n for n, k in s.items() if n.startswith(f"encoder.{layer}.") and k == "activation"]
        check(len(inner) >= 6, f"encoder layer {layer} has {len(inner)} activation sites: {inner}")
    f = site_names(nnfi_bin, fixtures / "transformer.pt", "--fused")
    check({"encoder.0._transformer_encoder_layer_fwd#0", "encoder.1._transformer_encoder_layer_fwd#0"} <= set(f),
          "--fused: one site per fused encoder layer")
    a = site_names(nnfi_bin, fixtures / "transformer.pt", "--ops", "default,softmax,bmm")
    check({"encoder.1.self_attn.softmax#0", "encoder.1.self_attn.bmm#1"} <= set(a), "--ops softmax,bmm: attention sites")
    lstm = site_names(nnfi_bin, fixtures / "lstm.pt")
    check({"rnn.lstm#0.out", "rnn.lstm#0.h", "rnn.lstm#0.c"} <= set(lstm), "LSTM output, h and c sites")
    gru = site_names(nnfi_bin, fixtures / "gru.pt")
    check({"rnn.gru#0.out", "rnn.gru#0.h"} <= set(gru), "GRU output and h sites")
    p = subprocess.run([str(nnfi_bin), "sites", str(fixtures / "gru.pt"), "--ops", "default,sofmax"],
                       capture_output=True, text=True, timeout=120)
    check(p.returncode != 0 and "aten::sofmax" in p.stderr and "hint:" in p.stderr,
          f"--ops sofmax refused naming it, with a hint (exit {p.returncode}): {p.stderr.strip()}")


CAMPAIGN = """name: seq
seed: 17
models:
  - {{name: tr, host: torch, path: {d}/transformer.pt, threads: 1, ops: [default, softmax, bmm]}}
  - {{name: trf, host: torch, path: {d}/transformer.pt, threads: 1, fused: true}}
  - {{name: lstm, host: torch, path: {d}/lstm.pt, threads: 1}}
  - {{name: gru, host: torch, path: {d}/gru.pt, threads: 1}}
eval: {{path: {d}/eval.h5, samples: 40, batch: 16}}
experiments:
  - {{name: tr-sample, model: tr, groups: [{{target: activation, bits: {{preset: exponent}}, op: flip, persistence: transient, scope: sample}}], sweep: {{faults: [1, 3]}}, trials: 10}}
  - {{name: tr-attn, model: tr, groups: [{{target: activation, sites: ["*softmax*", "*bmm*"], bits: {{preset: exponent}}, op: flip, count: 2}}], trials: 8}}
  - {{name: tr-weight, model: tr, groups: [{{target: weight, bits: {{preset: exponent}}, op: flip, count: 1}}], trials: 8}}
  - {{name: trf-act, model: trf, groups: [{{target: activation, bits: {{preset: exponent}}, op: flip, persistence: transient, scope: call, count: 1}}], trials: 8}}
  - {{name: lstm-sample, model: lstm, groups: [{{target: activation, bits: {{preset: exponent}}, op: flip, persistence: transient, scope: sample, count: 1}}], trials: 12}}
  - {{name: lstm-state, model: lstm, groups: [{{target: activation, sites: ["rnn.lstm#0.c", "rnn.lstm#0.out"], bits: {{preset: exponent}}, op: flip, count: 3}}], trials: 8}}
  - {{name: gru-weight, model: gru, groups: [{{target: weight, bits: {{preset: exponent}}, op: flip}}], sweep: {{faults: [1, 10]}}, trials: 6}}
"""


def volatile(d):
    # run provenance: the journal id of a run (differs between any two runs)
    return "@journal_id" in d


def faults_by_trial(path):
    """/faults as columns, rows in trial order (ranks append them as trials finish)."""
    with h5py.File(path, "r") as f:
        cols = {k: f["faults"][k][()] for k in f["faults"] if isinstance(f["faults"][k], h5py.Dataset)}
    order = np.argsort(cols["trial"], kind="stable")
    return {k: v[order] for k, v in cols.items()}


@pytest.fixture(scope="module")
def campaign(fixtures, work_dir):
    cfg = work_dir / "seq.yaml"
    cfg.write_text(CAMPAIGN.format(d=fixtures))
    return cfg


@pytest.fixture(scope="module")
def full(nnfi_bin, work_dir, campaign):
    out = work_dir / "full.h5"
    run([nnfi_bin, "run", campaign, "-o", out, "--force", "--quiet", "--progress", "off", "--full-eval"])
    return out


def test_default_equals_full_eval(nnfi_bin, work_dir, campaign, full, check):
    out = work_dir / "default.h5"
    run([nnfi_bin, "run", campaign, "-o", out, "--force", "--quiet", "--progress", "off"])
    diffs = [d for d in compare_h5.compare(str(out), str(full)) if not volatile(d)]
    check(diffs == [], f"default == --full-eval: {diffs}")
    with h5py.File(out, "r") as f:
        n = len(f["trials"]["experiment"])
        sdc = f["trials"]["sdc"][()] if "sdc" in f["trials"] else None
    check(n == 10 * 2 + 8 + 8 + 8 + 12 + 8 + 12, f"{n} trials")
    if sdc is not None:
        check(int((sdc > 0).sum()) > 0, "some trials change a top-1 class")


def test_two_ranks(nnfi_bin, work_dir, campaign, full, mpi_env, mpiexec, check):
    out = work_dir / "ranks2.h5"
    run(mpiexec.cmd(2, str(nnfi_bin), "run", str(campaign), "-o", str(out), "--force", "--quiet", "--progress", "off"),
        env=mpi_env)
    diffs = [d for d in compare_h5.compare(str(out), str(full))
             if not volatile(d) and not d.startswith(("/faults/", "/ @world_size"))]
    check(diffs == [], f"2 ranks == 1 process --full-eval: {diffs}")
    a, b = faults_by_trial(out), faults_by_trial(full)
    check(sorted(a) == sorted(b) and all(np.array_equal(a[k], b[k]) for k in a), "/faults in trial order")
