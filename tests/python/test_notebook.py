"""test_notebook.py - nnfi_analysis.notebook, the notebooks' shared setup:
which result file, and an output directory never inside the source tree."""
from pathlib import Path

import pytest

import nnfi_analysis as na
from nnfi_analysis import notebook

ROOT = Path(__file__).resolve().parents[2]


def test_output_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("NNFI_NOTEBOOK_OUT", str(tmp_path / "out"))
    assert notebook.output_dir() == tmp_path / "out" and (tmp_path / "out").is_dir()
    monkeypatch.delenv("NNFI_NOTEBOOK_OUT")
    monkeypatch.setenv("NNFI_PY_WORK", str(tmp_path / "work"))
    assert notebook.output_dir() == tmp_path / "work" / "notebook-out"
    monkeypatch.delenv("NNFI_PY_WORK")
    d = notebook.output_dir()  # a fresh temporary directory
    assert d.is_dir() and not str(d.resolve()).startswith(str(ROOT) + "/")
    d.rmdir()


@pytest.mark.parametrize("inside", ["analysis/results", "analysis/notebooks", "."])
def test_output_dir_refuses_source_tree(monkeypatch, inside):
    monkeypatch.setenv("NNFI_NOTEBOOK_OUT", str(ROOT / inside))
    with pytest.raises(ValueError, match="source tree"):
        notebook.output_dir()


def test_find_results(monkeypatch, tmp_path, fixture_path):
    monkeypatch.setenv("NNFI_RESULTS", str(fixture_path))
    assert notebook.find_results("results") == str(fixture_path)
    # candidates in order: a missing variable and a missing file are passed over
    monkeypatch.delenv("NNFI_ZOO_RESULTS", raising=False)
    monkeypatch.setenv("NNFI_BUILD_DIR", str(tmp_path))
    assert notebook.find_results(["$NNFI_ZOO_RESULTS", "{build}/demo.h5", "$NNFI_RESULTS"]) == str(fixture_path)
    (tmp_path / "demo.h5").write_bytes(b"")
    assert notebook.find_results(["$NNFI_ZOO_RESULTS", "{build}/demo.h5"]) == str(tmp_path / "demo.h5")
    monkeypatch.setenv("NNFI_SEED_CLAIMS", str(tmp_path / "absent.h5"))
    assert notebook.find_results("seed-claims") is None


def test_setup(monkeypatch, tmp_path, fixture_path, capsys):
    monkeypatch.setenv("NNFI_RESULTS", str(fixture_path))
    monkeypatch.setenv("NNFI_NOTEBOOK_OUT", str(tmp_path))
    nb = na.notebook.setup("results")
    assert nb.path == str(fixture_path) and len(nb.res.trials) == 270 and nb.out_dir == tmp_path
    assert str(tmp_path) in capsys.readouterr().out
    fig = na.plots.summary_figure(na.summarize(nb.res))
    assert Path(nb.save(fig, "s.png")).read_bytes()[:4] == b"\x89PNG"
    monkeypatch.setenv("NNFI_SEED_CLAIMS", str(tmp_path / "absent.h5"))
    monkeypatch.setenv("NNFI_BUILD_DIR", str(tmp_path))
    opt = na.notebook.setup("seed-claims", required=False)
    assert opt.path is None and opt.res is None
    with pytest.raises(na.NnfiFileError, match="hint"):
        na.notebook.setup("seed-claims")
