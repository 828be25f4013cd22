"""Download machinery against a loopback HTTP server (no internet)."""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
from pathlib import Path
from typing import ClassVar

import pytest

from virtualcell import settings
from virtualcell._errors import ChecksumError, DatasetNotAvailableError
from virtualcell.datasets import cache_folder, fetch
from virtualcell.datasets._download import read_lock

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB, deterministic
SHA = hashlib.sha256(PAYLOAD).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    files: ClassVar[dict[str, bytes]] = {}
    honour_range = True
    cut_after: int | None = None  # send only this many body bytes, then close
    requests: ClassVar[list[dict]] = []

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        type(self).requests.append({"path": self.path, "range": self.headers.get("Range")})
        body = self.files.get(self.path.split("?")[0])
        if body is None:
            self.send_error(404)
            return
        start = 0
        rng = self.headers.get("Range")
        if rng and self.honour_range:
            start = int(rng.split("=")[1].split("-")[0])
            if start >= len(body):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        chunk = body[start:]
        self.send_header("Content-Length", str(len(chunk)))
        self.end_headers()
        if self.cut_after is not None:
            self.wfile.write(chunk[: self.cut_after])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(chunk)


@pytest.fixture
def server(monkeypatch):
    handler = type(
        "Handler",
        (_Handler,),
        {"files": {}, "requests": [], "honour_range": True, "cut_after": None},
    )
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    monkeypatch.setattr(settings, "offline", False)
    monkeypatch.setattr(settings, "data_dir", None)
    monkeypatch.setattr("virtualcell.datasets._download._TIMEOUT_S", 5.0)
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield handler, base
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def test_download_success_is_verified_and_recorded(server):
    handler, base = server
    handler.files["/data.bin"] = PAYLOAD
    path = fetch(f"{base}/data.bin?download=1", sha256=SHA, filename="data.bin")
    assert path == cache_folder() / "data.bin"
    assert path.read_bytes() == PAYLOAD
    assert not (cache_folder() / "data.bin.part").exists()
    assert read_lock()["data.bin"]["sha256"] == SHA
    # second call: served from the cache, no new request
    n = len(handler.requests)
    assert fetch(f"{base}/data.bin", sha256=SHA, filename="data.bin") == path
    assert len(handler.requests) == n


def test_checksum_mismatch_deletes_partial_and_raises(server):
    handler, base = server
    handler.files["/bad.bin"] = PAYLOAD
    with pytest.raises(ChecksumError, match="does not match its sha256"):
        fetch(f"{base}/bad.bin", sha256="0" * 64, filename="bad.bin")
    assert not (cache_folder() / "bad.bin").exists()
    assert not (cache_folder() / "bad.bin.part").exists()


def test_resume_partial_download_with_range(server):
    handler, base = server
    handler.files["/big.bin"] = PAYLOAD
    part = cache_folder() / "big.bin.part"
    part.parent.mkdir(parents=True, exist_ok=True)
    part.write_bytes(PAYLOAD[:300_000])
    path = fetch(f"{base}/big.bin", sha256=SHA, filename="big.bin")
    assert path.read_bytes() == PAYLOAD
    assert handler.requests[-1]["range"] == "bytes=300000-"


def test_server_ignoring_range_restarts_cleanly(server):
    handler, base = server
    handler.files["/big.bin"] = PAYLOAD
    handler.honour_range = False
    part = cache_folder() / "big.bin.part"
    part.parent.mkdir(parents=True, exist_ok=True)
    part.write_bytes(b"garbage" * 1000)
    assert fetch(f"{base}/big.bin", sha256=SHA, filename="big.bin").read_bytes() == PAYLOAD


def test_interrupted_download_leaves_no_final_file_then_resumes(server):
    handler, base = server
    handler.files["/cut.bin"] = PAYLOAD
    handler.cut_after = 200_000
    with pytest.raises(DatasetNotAvailableError, match="resum"):
        fetch(f"{base}/cut.bin", sha256=SHA, filename="cut.bin")
    assert not (cache_folder() / "cut.bin").exists()
    part = cache_folder() / "cut.bin.part"
    assert part.exists() and part.stat().st_size == 200_000
    handler.cut_after = None
    assert fetch(f"{base}/cut.bin", sha256=SHA, filename="cut.bin").read_bytes() == PAYLOAD
    assert handler.requests[-1]["range"] == "bytes=200000-"


def test_unknown_checksum_recorded_on_first_download_then_enforced(server):
    handler, base = server
    handler.files["/tofu.bin"] = PAYLOAD
    path = fetch(f"{base}/tofu.bin", sha256=None, filename="tofu.bin")
    record = read_lock()["tofu.bin"]
    assert record["sha256"] == SHA and record["sha256_source"] == "first download"
    path.write_bytes(b"tampered")
    with pytest.raises(ChecksumError, match="cached file"):
        fetch(f"{base}/tofu.bin", sha256=None, filename="tofu.bin")


def test_mirror_is_checked_first(server, tmp_path, monkeypatch):
    handler, base = server
    mirror = tmp_path / "mirror"
    (mirror / "datasets").mkdir(parents=True)
    (mirror / "datasets" / "m.bin").write_bytes(PAYLOAD)
    monkeypatch.setattr(settings, "data_dir", mirror)
    path = fetch(f"{base}/m.bin", sha256=SHA, filename="m.bin")
    assert path == mirror / "datasets" / "m.bin"
    assert handler.requests == []
    (mirror / "datasets" / "m.bin").write_bytes(b"corrupt")
    with pytest.raises(ChecksumError, match="mirror"):
        fetch(f"{base}/m.bin", sha256=SHA, filename="m.bin")


def test_offline_error_names_dataset_url_file_and_places(monkeypatch, tmp_path):
    from virtualcell.datasets import load

    monkeypatch.setattr(settings, "offline", True)
    monkeypatch.setattr(settings, "data_dir", tmp_path)
    with pytest.raises(DatasetNotAvailableError) as info:
        load("norman2019")
    message = str(info.value)
    assert "'norman2019'" in message
    assert "https://zenodo.org/records/13350497/files/NormanWeissman2019_filtered.h5ad" in message
    assert "NormanWeissman2019_filtered.h5ad" in message
    assert str(tmp_path / "datasets") in message and str(cache_folder()) in message


def test_unreachable_server_gives_clear_error(server):
    _handler, base = server
    with pytest.raises(DatasetNotAvailableError, match="could not download"):
        fetch(f"{base}/missing.bin", sha256=SHA, filename="missing.bin")
    assert not (cache_folder() / "missing.bin").exists()


def test_lock_file_is_valid_json(server):
    handler, base = server
    handler.files["/a.bin"] = b"abc"
    fetch(f"{base}/a.bin", sha256=hashlib.sha256(b"abc").hexdigest(), filename="a.bin")
    json.loads((cache_folder() / "lock.json").read_text())
    assert Path(cache_folder() / "a.bin").read_bytes() == b"abc"


def test_extract_member_is_atomic_and_cleans_leftovers(tmp_path):
    """A folder member of a tar or zip archive lands whole; a killed extraction's temp
    sibling (dead PID) is removed by the next run."""
    import tarfile
    import zipfile

    from virtualcell._utils import TEMP_MARKER
    from virtualcell.datasets._download import cache_folder
    from virtualcell.datasets._loaders import extract_member

    src = tmp_path / "src" / "pkg-1.0" / "data" / "store"
    src.mkdir(parents=True)
    (src / "a.txt").write_text("A")
    (src / "b.txt").write_text("B")
    tar_path = tmp_path / "pkg.tar.gz"
    with tarfile.open(tar_path, "w:gz") as tf:
        tf.add(tmp_path / "src" / "pkg-1.0", arcname="pkg-1.0")
    zip_path = tmp_path / "pkg.zip"
    with zipfile.ZipFile(zip_path, "w") as zf:
        zf.write(src / "a.txt", "data/store/a.txt")
        zf.write(src / "b.txt", "data/store/b.txt")
    for archive in (tar_path, zip_path):
        folder = cache_folder() / "extracted" / archive.name / "data"
        folder.mkdir(parents=True)
        stale = folder / f".store{TEMP_MARKER}999999999-dead-x"
        stale.mkdir()
        out = extract_member(archive, "data/store", dataset="toy")
        assert sorted(p.name for p in out.iterdir()) == ["a.txt", "b.txt"]
        assert (out / "a.txt").read_text() == "A"
        assert sorted(p.name for p in folder.iterdir()) == ["store"]  # leftovers gone
        assert extract_member(archive, "data/store", dataset="toy") == out  # cached
