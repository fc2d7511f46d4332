"""test_checksums.py - a byte flipped inside column data is found: every
chunked dataset of a result file carries a Fletcher-32 checksum per chunk,
`nnfi inspect --verify` reads everything back through it and names the damaged
dataset, and `nnfi merge` refuses a damaged shard before writing anything.
The damage is made with h5py's chunk map (the byte offset of a /trials chunk
in the file), so it lands inside the stored data, not in metadata."""
import os
import subprocess

import h5py
import pytest

CAMPAIGN = """name: checksums
seed: 5
models:
  - {name: mlp, host: null, shape: {inputs: 16, hidden: 16, layers: 1, classes: 4}}
eval: {samples: 64, batch: 32}
experiments:
  - {name: w, model: mlp, groups: [{target: weight, bits: {preset: exponent}, op: flip, count: 3}], trials: 400}
"""


def run(cmd, ok=True):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=120)
    if ok:
        assert r.returncode == 0, r.stderr
    return r


def flip_inside_chunk(path, dataset):
    """Flip one byte in the middle of the first stored chunk of `dataset`."""
    with h5py.File(path, "r") as f:
        info = f[dataset].id.get_chunk_info(0)
        assert f[dataset].fletcher32, f"{dataset} has no Fletcher-32 filter"
    at = info.byte_offset + info.size // 2
    with open(path, "r+b") as fh:
        fh.seek(at)
        b = fh.read(1)
        fh.seek(at)
        fh.write(bytes([b[0] ^ 0x10]))
    return at


@pytest.fixture(scope="module")
def cfg(work_dir):
    p = work_dir / "checksums.yaml"
    p.write_text(CAMPAIGN)
    return p


def test_every_chunked_dataset_has_a_checksum(nnfi_bin, work_dir, cfg):
    out = work_dir / "whole.h5"
    run([nnfi_bin, "run", cfg, "-o", out, "--force", "--quiet", "--progress", "off"])
    chunked = []
    with h5py.File(out, "r") as f:
        f.visititems(lambda n, o: chunked.append((n, o.fletcher32)) if isinstance(o, h5py.Dataset) and o.chunks else None)
    assert chunked and all(ok for _, ok in chunked), [n for n, ok in chunked if not ok]
    assert any(n.startswith("trials/") for n, _ in chunked)


def test_inspect_verify_finds_a_flipped_byte(nnfi_bin, work_dir, cfg):
    out = work_dir / "verify.h5"
    run([nnfi_bin, "run", cfg, "-o", out, "--force", "--quiet", "--progress", "off"])
    r = run([nnfi_bin, "inspect", out, "--verify"])
    assert "every checksum good" in r.stdout
    flip_inside_chunk(out, "trials/accuracy")
    r = run([nnfi_bin, "inspect", out, "--verify"], ok=False)
    assert r.returncode == 1, r.stdout + r.stderr
    assert str(out) in r.stderr and "/trials/accuracy" in r.stderr and "checksum" in r.stderr, r.stderr
    assert "hint:" in r.stderr


def test_merge_refuses_a_damaged_shard(nnfi_bin, work_dir, cfg):
    shards = [work_dir / f"shard{i}.h5" for i in range(2)]
    for i, s in enumerate(shards):
        run([nnfi_bin, "run", cfg, "-o", s, "--force", "--quiet", "--progress", "off", "--shard", f"{i}/2"])
    merged = work_dir / "merged.h5"
    run([nnfi_bin, "merge", *shards, "-o", merged, "--force"])
    os.remove(merged)
    flip_inside_chunk(shards[1], "trials/sdc")
    r = run([nnfi_bin, "merge", *shards, "-o", merged, "--force"], ok=False)
    assert r.returncode == 1, r.stdout + r.stderr
    assert str(shards[1]) in r.stderr and "/trials/sdc" in r.stderr, r.stderr
    assert not merged.exists(), "a refused merge wrote its output"
