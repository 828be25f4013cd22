"""The shared plumbing: atomic writer, sha256, registry, progress, markdown table."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import pytest

import virtualcell as vc
from virtualcell._utils import (
    TEMP_MARKER,
    Progress,
    Registry,
    atomic_path,
    atomic_write,
    clean_stale_temps,
    markdown_table,
    progress,
    sha256_bytes,
    sha256_file,
    write_json,
)


def test_atomic_write_replaces_only_on_success(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as handle:
            handle.write("new, partial")
            raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]  # temp file removed
    with atomic_write(target) as handle:
        handle.write("new")
    assert target.read_text() == "new"


def test_atomic_path_keeps_suffix_and_refuses_missing_folder(tmp_path):
    with atomic_path(tmp_path / "a.h5ad") as tmp:
        assert tmp.suffix == ".h5ad" and tmp.parent == tmp_path and TEMP_MARKER in tmp.name
        tmp.write_bytes(b"x")
    assert (tmp_path / "a.h5ad").read_bytes() == b"x"
    with pytest.raises(vc.ValidationError, match="does not exist"):
        with atomic_path(tmp_path / "missing" / "a.h5ad"):
            pass


def test_atomic_path_nothing_written_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        with atomic_path(tmp_path / "a.bin"):
            pass
    assert not (tmp_path / "a.bin").exists()


def test_clean_stale_temps_removes_dead_writers_only(tmp_path):
    # a process that has exited: its PID is free
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead = int(proc.stdout)
    stale = tmp_path / f".x.h5ad{TEMP_MARKER}{dead}-abcd.h5ad"
    live = tmp_path / f".y.h5ad{TEMP_MARKER}{os.getpid()}-abcd.h5ad"
    keep = tmp_path / "z.h5ad"
    for p in (stale, live, keep):
        p.write_text("x")
    removed = clean_stale_temps(tmp_path)
    assert removed == [stale]
    assert live.exists() and keep.exists() and not stale.exists()


def test_write_json_refuses_nan(tmp_path):
    import numpy as np

    write_json(tmp_path / "a.json", {"a": np.int64(3), "b": np.float32(0.5)})
    assert (tmp_path / "a.json").read_text().replace(" ", "").replace("\n", "") == '{"a":3,"b":0.5}'
    with pytest.raises(ValueError):
        write_json(tmp_path / "b.json", {"a": float("nan")})
    assert not (tmp_path / "b.json").exists()


def test_sha256_matches_hashlib(tmp_path):
    data = os.urandom(3 << 20)
    p = tmp_path / "blob"
    p.write_bytes(data)
    assert sha256_file(p) == hashlib.sha256(data).hexdigest()
    assert sha256_bytes("abc") == hashlib.sha256(b"abc").hexdigest()


def test_registry_lookup_errors_and_filters():
    calls = []

    def builtins():
        calls.append(1)

        def mean(x):
            """Mean baseline."""
            return x

        def fancy(x):
            return x

        from virtualcell._utils import Entry

        return [
            Entry("mean", mean, "Mean baseline.", True),
            Entry("fancy", fancy, "", False, ("deep",)),
        ]

    reg = Registry("predictor", builtins)
    assert calls == []  # lazy
    assert reg.names() == ["fancy", "mean"] and calls == [1]
    assert reg.names(baseline=True) == ["mean"]
    assert reg.names(tag="deep") == ["fancy"]
    assert reg.get("MEAN")(3) == 3
    with pytest.raises(vc.ValidationError, match=r"unknown predictor 'men'\. Did you mean: mean\?"):
        reg.get("men")
    with pytest.raises(vc.ValidationError, match="already registered"):
        reg.add("mean", lambda x: x)
    # a user's entry comes out again through the public API (no private state touched)
    reg.add("mine", lambda x: 2 * x)
    assert reg.remove("MINE").name == "mine" and "mine" not in reg
    assert reg.names() == ["fancy", "mean"]
    with pytest.raises(vc.ValidationError, match="unknown predictor 'mine'"):
        reg.remove("mine")

    @reg.register("mine", description="user method")
    def mine(x):
        return x + 1

    assert reg.describe()["mine"] == "user method" and "mine" in reg and len(reg) == 3


def test_progress_writes_plain_lines_to_stderr_only(capsys, monkeypatch):
    monkeypatch.setattr(vc.settings, "progress_interval_s", 0.0)
    monkeypatch.setattr(vc.settings, "verbosity", 1)
    assert list(progress(range(3), description="genes")) == [0, 1, 2]
    with Progress(10, description="train", fields={"loss": 1.5}) as bar:
        bar.update(5, loss=0.25)
    out, err = capsys.readouterr()
    assert out == ""
    assert "genes: 3/3 (100%)" in err
    assert "train: 5/10 (50%)" in err and "loss 0.25" in err


def test_progress_quiet(capsys, monkeypatch):
    monkeypatch.setattr(vc.settings, "verbosity", 0)
    monkeypatch.setattr(vc.settings, "progress_interval_s", 0.0)
    list(progress(range(3)))
    assert capsys.readouterr() == ("", "")


def test_markdown_table_formats_and_escapes():
    text = markdown_table([{"method": "a|b", "auprc": 0.12345, "n": 12000, "x": None}])
    assert text.splitlines() == [
        "| method | auprc | n | x |",
        "| --- | ---: | ---: | --- |",
        "| a\\|b | 0.123 | 12,000 | — |",
    ]


def test_errors_exported_at_top_level():
    for name in (
        "VirtualCellError",
        "ValidationError",
        "DataFormatError",
        "ChecksumError",
        "DatasetNotAvailableError",
    ):
        assert issubclass(getattr(vc, name), vc.VirtualCellError)


def test_unit_rows_scales_rows_keeps_zero_rows_and_float_dtype():
    import numpy as np

    from virtualcell._utils import unit_rows

    x = np.array([[3.0, 4.0], [0.0, 0.0], [-1.0, 0.0]], dtype=np.float32)
    out = unit_rows(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.0, 0.0], [-1.0, 0.0]], rtol=1e-6)
    ints = unit_rows(np.array([[0, 2], [0, 0]]))
    assert ints.dtype == np.float64
    np.testing.assert_array_equal(ints, [[0.0, 1.0], [0.0, 0.0]])
