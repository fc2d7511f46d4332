"""test_eval_validation.py - bad eval sets are refused with a message that
names the eval file, the campaign's FILE:LINE:COL of the eval entry and a
hint (issue 19 item 1), never turned into wrong statistics:

  * NaN in a few images: the golden logits of those samples are not finite,
    refused naming the sample indices and their count; on 2 ranks too
    (exit 1 with the message, no hang);
  * the same with `eval.drop_nonfinite: true`: those samples are left out
    (count on stderr, /golden/<model> @samples = kept, @dropped_nonfinite),
    and every /trials column but the volatile ones equals a run on an eval
    file that holds only the clean images;
  * labels 90-99, a negative label, float labels: refused with the first
    offending index and value (float: the dataset's type, a hint to store
    int64);
  * images the model cannot take (strings), an empty eval set.

The torch cases use the zoo's CNN and the first 64 images of its
fashion_mnist_test.h5 ($NNFI_MODELS_DIR, else build/models; skipped without
the zoo). The null-host cases need nothing but nnfi: an eval file for the
null MLP, and its built-in set (labels and golden logits are checked there
too, file checks skipped)."""
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

MODELS = Path(os.environ.get("NNFI_MODELS_DIR", HERE.parents[1] / "build" / "models"))
NAN_AT = (5, 17, 40)  # images given a NaN pixel
TIMEOUT = 120


def run(nnfi_bin, args, env=None, ranks=0, mpiexec=None, expect=0):
    cmd = mpiexec.cmd(ranks, nnfi_bin, *args) if ranks else [str(nnfi_bin)] + [str(a) for a in args]
    try:
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{' '.join(map(str, cmd))}: no exit in {TIMEOUT} s (a hang)")
    assert r.returncode == expect, f"exit {r.returncode}, expected {expect}\n{r.stdout}\n{r.stderr}"
    return r


def eval_line(camp):
    """line:col of the `path` key under `eval:` in a campaign written by campaign()."""
    lines = Path(camp).read_text().splitlines()
    start = lines.index("eval:")
    for i in range(start + 1, len(lines)):
        m = re.match(r"^(\s+)path:", lines[i])
        if m:
            return f"{i + 1}:{len(m.group(1)) + 1}"
    raise AssertionError("no eval.path")


def campaign(path, name, model, eval_file, extra="", experiments=None):
    ev = f"  path: {eval_file}\n" if eval_file else ""
    exps = experiments or [
        "{name: w, model: m, groups: [{target: weight, bits: {preset: exponent}, op: flip, count: 1}], trials: 6}",
        "{name: a, model: m, groups: [{target: activation, bits: {preset: exponent}, op: flip, persistence: transient, scope: sample, count: 2}], trials: 6}",
        "{name: i, model: m, groups: [{target: input, op: flip, persistence: transient, scope: sample, count: 1}], trials: 4}",
    ]
    text = (f"name: {name}\nseed: 19\nmodels:\n  - {model}\neval:\n{ev}  batch: 16\n{extra}"
            "experiments:\n" + "".join(f"  - {e}\n" for e in exps))
    Path(path).write_text(text)
    return path


def expect_refusal(r, camp, eval_file, *texts):
    err = r.stderr
    where = f"{camp}:{eval_line(camp)}: eval.path"
    assert where in err, f"no '{where}' in:\n{err}"
    assert str(eval_file) in err, f"the eval file is not named:\n{err}"
    assert "hint:" in err, err
    for t in texts:
        assert t in err, f"no '{t}' in:\n{err}"


# ------------------------------------------------------------------ torch --

@pytest.fixture(scope="module")
def zoo(work_dir):
    src = MODELS / "fashion_mnist_test.h5"
    if not (MODELS / "cnn.pt").exists() or not src.exists():
        pytest.skip(f"no model zoo in {MODELS} (ctest -L zoo builds it)")
    d = work_dir / "eval_validation"
    d.mkdir(parents=True, exist_ok=True)
    with h5py.File(src, "r") as f:
        images = f["images"][:64].astype(np.float32)
        labels = f["labels"][:64].astype(np.int64)

    def write(name, imgs, labs):
        p = d / name
        with h5py.File(p, "w") as f:
            f["images"] = imgs
            f["labels"] = labs
        return p

    nan = images.copy()
    for i in NAN_AT:
        nan[i, 0, 14, 14] = np.nan
    keep = [i for i in range(64) if i not in NAN_AT]
    bad = labels.copy()
    bad[7] = 93
    bad[8:18] = np.arange(90, 100)
    neg = labels.copy()
    neg[11] = -1
    return {
        "dir": d,
        "cnn": f"{{name: m, host: torch, path: {MODELS}/cnn.pt, threads: 1}}",
        "nan": write("nan.h5", nan, labels),
        "clean": write("clean.h5", images[keep], labels[keep]),
        "labels_big": write("labels_90.h5", images, bad),
        "labels_neg": write("labels_neg.h5", images, neg),
        "labels_float": write("labels_float.h5", images, labels.astype(np.float32)),
        "images_str": write("images_str.h5", np.array([b"x" * 8] * 64), labels),
        "empty": write("empty.h5", images[:0], labels[:0]),
    }


def test_nan_images_refused(nnfi_bin, zoo):
    camp = campaign(zoo["dir"] / "nan.yaml", "nan", zoo["cnn"], zoo["nan"])
    r = run(nnfi_bin, ["run", camp, "-o", zoo["dir"] / "nan.h5.out", "--progress", "off"], expect=1)
    expect_refusal(r, camp, zoo["nan"], "non-finite logits for 3 of 64 eval samples (5, 17, 40)",
                   "drop_nonfinite")


def test_nan_images_two_ranks(nnfi_bin, zoo, mpi_env, mpiexec):
    camp = campaign(zoo["dir"] / "nan2.yaml", "nan2", zoo["cnn"], zoo["nan"])
    r = run(nnfi_bin, ["run", camp, "-o", zoo["dir"] / "nan2.out.h5", "--progress", "off"], env=mpi_env, ranks=2,
            mpiexec=mpiexec, expect=1)
    expect_refusal(r, camp, zoo["nan"], "non-finite logits for 3 of 64 eval samples (5, 17, 40)")


def test_drop_nonfinite_equals_clean_subset(nnfi_bin, zoo):
    d = zoo["dir"]
    camp = campaign(d / "drop.yaml", "drop", zoo["cnn"], zoo["nan"], extra="  drop_nonfinite: true\n")
    out = d / "drop.out.h5"
    r = run(nnfi_bin, ["run", camp, "-o", out, "--progress", "off", "--quiet", "--force"])
    msg = "nnfi: model m: 3 eval samples with non-finite golden logits dropped (5, 17, 40)"
    assert r.stderr.count(msg) == 1, r.stderr
    clean = campaign(d / "clean.yaml", "drop", zoo["cnn"], zoo["clean"])
    ref = d / "clean.out.h5"
    run(nnfi_bin, ["run", clean, "-o", ref, "--progress", "off", "--quiet", "--force"])
    with h5py.File(out, "r") as f, h5py.File(ref, "r") as g:
        assert int(f["golden/m"].attrs["samples"]) == 61
        assert str(f["golden/m"].attrs["dropped_nonfinite"]) in ("3", "b'3'")
        assert f["golden/m"].attrs["accuracy"] == g["golden/m"].attrs["accuracy"]
        assert np.array_equal(f["golden/m/logits"][()], g["golden/m/logits"][()])
        assert np.array_equal(f["golden/m/labels"][()], g["golden/m/labels"][()])
        ok = f["trials/done"][()]
        assert ok.all() and len(ok) == 16
    # no difference but the campaign (its text names another eval file and the
    # new key) and the recorded drop
    allowed = re.compile(r"^/ @config(_hash|_path)?: |^/golden/m @dropped_nonfinite: only in new$")
    diffs = [x for x in compare_h5.compare(ref, out) if not allowed.match(x)]
    trials = [x for x in diffs if x.startswith("/trials")]
    assert not trials, "\n".join(trials)
    assert not diffs, "\n".join(diffs)


def test_labels_out_of_range(nnfi_bin, zoo):
    camp = campaign(zoo["dir"] / "lab90.yaml", "lab90", zoo["cnn"], zoo["labels_big"])
    r = run(nnfi_bin, ["run", camp, "-o", zoo["dir"] / "lab90.out.h5", "--progress", "off"], expect=1)
    expect_refusal(r, camp, zoo["labels_big"], "label 7 (dataset 'labels') is 93", "10 classes", "11 of 64")


def test_label_negative(nnfi_bin, zoo):
    camp = campaign(zoo["dir"] / "labneg.yaml", "labneg", zoo["cnn"], zoo["labels_neg"])
    r = run(nnfi_bin, ["run", camp, "-o", zoo["dir"] / "labneg.out.h5", "--progress", "off"], expect=1)
    expect_refusal(r, camp, zoo["labels_neg"], "label 11 (dataset 'labels') is -1")


def test_labels_float(nnfi_bin, zoo):
    camp = campaign(zoo["dir"] / "labfloat.yaml", "labfloat", zoo["cnn"], zoo["labels_float"])
    r = run(nnfi_bin, ["run", camp, "-o", zoo["dir"] / "labfloat.out.h5", "--progress", "off"], expect=1)
    expect_refusal(r, camp, zoo["labels_float"], "dataset 'labels' holds 32-bit floats", "int64")


def test_images_strings(nnfi_bin, zoo):
    camp = campaign(zoo["dir"] / "imgstr.yaml", "imgstr", zoo["cnn"], zoo["images_str"])
    r = run(nnfi_bin, ["run", camp, "-o", zoo["dir"] / "imgstr.out.h5", "--progress", "off"], expect=1)
    expect_refusal(r, camp, zoo["images_str"], "dataset 'images' holds strings", "cannot take")


def test_empty_eval_set(nnfi_bin, zoo):
    camp = campaign(zoo["dir"] / "empty.yaml", "empty", zoo["cnn"], zoo["empty"])
    out = zoo["dir"] / "empty.out.h5"
    r = run(nnfi_bin, ["run", camp, "-o", out, "--progress", "off"], expect=1)
    expect_refusal(r, camp, zoo["empty"], "holds no samples")
    assert str(out) not in r.stderr, "the message names the output file, not the eval file"


# ------------------------------------------------------------------- null --

NULL = "{name: m, host: null, shape: {inputs: 16, hidden: 16, layers: 1, classes: 10}}"


@pytest.fixture(scope="module")
def null_files(work_dir):
    d = work_dir / "eval_validation_null"
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(19)
    images = rng.standard_normal((32, 16)).astype(np.float32)
    labels = rng.integers(0, 10, 32).astype(np.int32)
    nan = images.copy()
    nan[3, 0] = np.inf
    nan[30, 5] = np.nan
    big = labels.copy()
    big[9] = 10
    files = {"dir": d}
    for name, (im, lab) in {"nan": (nan, labels), "big": (images, big)}.items():
        files[name] = d / f"{name}.h5"
        with h5py.File(files[name], "w") as f:
            f["images"] = im
            f["labels"] = lab
    return files


def test_null_nan_refused(nnfi_bin, null_files, mpi_env, mpiexec):
    d = null_files["dir"]
    camp = campaign(d / "nan.yaml", "nullnan", NULL, null_files["nan"])
    r = run(nnfi_bin, ["run", camp, "-o", d / "nan.out.h5", "--progress", "off"], expect=1)
    expect_refusal(r, camp, null_files["nan"], "non-finite logits for 2 of 32 eval samples (3, 30)")
    # 2 ranks: every rank fails, exit 1 with the message, no hang
    r = run(nnfi_bin, ["run", camp, "-o", d / "nan2.out.h5", "--progress", "off"], env=mpi_env, ranks=2,
            mpiexec=mpiexec, expect=1)
    expect_refusal(r, camp, null_files["nan"], "non-finite logits for 2 of 32 eval samples (3, 30)")


def test_null_labels_refused(nnfi_bin, null_files):
    d = null_files["dir"]
    camp = campaign(d / "big.yaml", "nullbig", NULL, null_files["big"])
    r = run(nnfi_bin, ["run", camp, "-o", d / "big.out.h5", "--progress", "off"], expect=1)
    expect_refusal(r, camp, null_files["big"], "label 9 (dataset 'labels') is 10", "10 classes")


def test_null_builtin_drop(nnfi_bin, null_files):
    """The built-in set has no file: it runs, with the drop recorded as 0."""
    d = null_files["dir"]
    camp = campaign(d / "builtin.yaml", "nullbuiltin", NULL, None, extra="  samples: 40\n  drop_nonfinite: true\n")
    out = d / "builtin.out.h5"
    r = run(nnfi_bin, ["run", camp, "-o", out, "--progress", "off", "--quiet", "--force"])
    assert "dropped" not in r.stderr, r.stderr
    with h5py.File(out, "r") as f:
        assert int(f["golden/m"].attrs["samples"]) == 40
        assert str(f["golden/m"].attrs["dropped_nonfinite"]) in ("0", "b'0'")
        assert f["trials/done"][()].all()
