"""Fetch behaviour against a local HTTP server on 127.0.0.1 that injects faults."""

from __future__ import annotations

import hashlib
import socket

import numpy as np
import pytest
import yaml
from fixtures import deposits
from fixtures.http_server import FaultyServer

from neurokine.errors import InputError
from neurokine.io import fetch

FAST = fetch.FetchOptions(retries=3, backoff_seconds=0.01, max_backoff_seconds=0.02,
                          timeout_seconds=2.0, chunk_bytes=4096, progress_seconds=0.0,
                          allow_local_http=True)


@pytest.fixture()
def server():
    with FaultyServer(slow_seconds=1.0) as srv:
        yield srv


@pytest.fixture()
def payload(tmp_path) -> bytes:
    """A real-format deposit file: a GEO per-library RAW.tar generated on the fly."""
    tar = tmp_path / "src" / "GSE000001_RAW.tar"
    deposits.write_geo_raw_tar(tar, deposits.schafflick_like_libraries(np.random.default_rng(1)))
    data = tar.read_bytes()
    assert len(data) > 3 * FAST.chunk_bytes  # big enough to be cut mid-file
    return data


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_http_500_then_success(server, payload, tmp_path):
    url = server.serve("/a.tar", payload, "500", "500")
    dest = tmp_path / "dl" / "a.tar"
    lines: list[str] = []
    digest = fetch.download(url, dest, options=FAST, log=lines.append, sleep=lambda s: None)
    assert dest.read_bytes() == payload
    assert digest == _sha(payload)
    assert len(server.requests_for("/a.tar")) == 3
    assert any("HTTP 500" in line and "retrying" in line for line in lines)
    assert not dest.with_name("a.tar.part").exists()


def test_dropped_connection_resumes_with_range(server, payload, tmp_path):
    url = server.serve("/b.tar", payload, "drop")
    dest = tmp_path / "b.tar"
    fetch.download(url, dest, options=FAST, sleep=lambda s: None)
    assert dest.read_bytes() == payload
    ranges = server.requests_for("/b.tar")
    assert ranges[0] is None
    # The second request asks only for the missing tail, starting where the first one broke.
    assert ranges[1] == f"bytes={len(payload) // 2}-"


def test_resume_when_server_ignores_range_restarts_cleanly(server, payload, tmp_path):
    url = server.serve("/c.tar", payload, "drop", "ignore_range")
    dest = tmp_path / "c.tar"
    lines: list[str] = []
    fetch.download(url, dest, options=FAST, log=lines.append, sleep=lambda s: None)
    assert dest.read_bytes() == payload
    assert any("ignored the resume request" in line for line in lines)


def test_partial_file_from_an_earlier_run_is_resumed(server, payload, tmp_path):
    url = server.serve("/d.tar", payload)
    dest = tmp_path / "d.tar"
    dest.with_name("d.tar.part").write_bytes(payload[:1000])
    fetch.download(url, dest, options=FAST, sleep=lambda s: None)
    assert dest.read_bytes() == payload
    assert server.requests_for("/d.tar") == ["bytes=1000-"]


def test_wrong_checksum_is_an_error_and_leaves_nothing(server, payload, tmp_path):
    url = server.serve("/e.tar", payload)
    dest = tmp_path / "e.tar"
    with pytest.raises(fetch.ChecksumError, match="does not match"):
        fetch.download(url, dest, expected_sha256="0" * 64, options=FAST, sleep=lambda s: None)
    assert not dest.exists()
    assert not dest.with_name("e.tar.part").exists()


def test_wrong_size_is_an_error(server, payload, tmp_path):
    url = server.serve("/size.tar", payload)
    with pytest.raises(fetch.ChecksumError, match="expects"):
        fetch.download(url, tmp_path / "size.tar", expected_size=len(payload) + 1, options=FAST,
                       sleep=lambda s: None)
    assert not (tmp_path / "size.tar").exists()


def test_slow_response_times_out_then_retries(server, payload, tmp_path):
    url = server.serve("/f.tar", payload, "slow")
    options = fetch.FetchOptions(**{**FAST.__dict__, "timeout_seconds": 0.3})
    lines: list[str] = []
    fetch.download(url, tmp_path / "f.tar", options=options, log=lines.append,
                   sleep=lambda s: None)
    assert (tmp_path / "f.tar").read_bytes() == payload
    assert any("timed out" in line.lower() for line in lines)


def test_stall_mid_body_times_out_and_resumes(server, payload, tmp_path):
    url = server.serve("/g.tar", payload, "stall")
    options = fetch.FetchOptions(**{**FAST.__dict__, "timeout_seconds": 0.3})
    fetch.download(url, tmp_path / "g.tar", options=options, sleep=lambda s: None)
    assert (tmp_path / "g.tar").read_bytes() == payload
    assert server.requests_for("/g.tar")[1] is not None  # resumed with a Range request


def test_always_slow_gives_up_with_manual_instructions(server, payload, tmp_path):
    url = server.serve("/h.tar", payload, "slow", "slow", "slow")
    options = fetch.FetchOptions(**{**FAST.__dict__, "timeout_seconds": 0.2, "retries": 2})
    delays: list[float] = []
    with pytest.raises(fetch.FetchError) as info:
        fetch.download(url, tmp_path / "h.tar", options=options, sleep=delays.append)
    message = str(info.value)
    assert url in message and "by hand" in message and str(tmp_path / "h.tar") in message
    assert len(server.requests_for("/h.tar")) == 3
    assert delays == [0.01, 0.02]  # exponential, capped at max_backoff_seconds


def test_404_fails_at_once_with_clear_message(server, tmp_path):
    url = server.url("/missing.tar")
    with pytest.raises(fetch.FetchError) as info:
        fetch.download(url, tmp_path / "m.tar", options=FAST, sleep=lambda s: None)
    assert "HTTP 404" in str(info.value) and url in str(info.value)
    assert len(server.requests_for("/missing.tar")) == 1  # a 404 is not retried


def test_no_network_names_url_and_manual_placement(tmp_path):
    # A port nobody listens on stands in for "no internet": the connection is refused.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/GSE1_RAW.tar"
    with pytest.raises(fetch.FetchError) as info:
        fetch.download(url, tmp_path / "x.tar", options=FAST, sleep=lambda s: None)
    message = str(info.value)
    assert "no internet" in message and url in message and "curl -L -o" in message


def test_only_https_urls_are_allowed():
    with pytest.raises(InputError, match="not https"):
        fetch.check_url("http://ftp.ncbi.nlm.nih.gov/geo/x")
    with pytest.raises(InputError, match="allow_local_http"):
        fetch.check_url("http://127.0.0.1:8000/x")
    with pytest.raises(InputError):
        fetch.check_url("ftp://ftp.ncbi.nlm.nih.gov/geo/x")
    with pytest.raises(InputError):
        fetch.check_url("file:///etc/passwd", allow_local_http=True)
    fetch.check_url("https://ftp.ncbi.nlm.nih.gov/geo/x")
    fetch.check_url("http://localhost:1/x", allow_local_http=True)


def test_redirect_to_plain_http_is_refused(server, payload, tmp_path):
    url = server.serve("/r.tar", payload, "redirect_http")
    with pytest.raises(InputError, match="not https"):
        fetch.download(url, tmp_path / "r.tar", options=FAST, sleep=lambda s: None)
    assert not (tmp_path / "r.tar").exists()


def test_progress_lines_are_logged(server, payload, tmp_path):
    url = server.serve("/p.tar", payload)
    lines: list[str] = []
    fetch.download(url, tmp_path / "p.tar", options=FAST, log=lines.append, sleep=lambda s: None)
    assert any("%" in line and "/s" in line for line in lines)
    assert lines[-1].startswith("done p.tar")


def _entry(files):
    return {"title": "t", "loader": "mex_per_sample", "tissue": ["CSF"], "citation": "c",
            "licence": "l", "files": files}


def test_fetch_dataset_trust_on_first_use_then_mismatch(server, payload, tmp_path):
    url = server.serve("/GSE1_RAW.tar", payload)
    entry = _entry([{"name": "GSE1_RAW.tar", "role": "archive", "url": url}])
    lock = tmp_path / "checksums.lock.yaml"
    root = tmp_path / "downloads"
    manifest = fetch.fetch_dataset("ds1", entry, lock_path=lock, root=root, options=FAST,
                                   sleep=lambda s: None)
    assert manifest.loc[0, "sha256"] == _sha(payload)
    assert manifest.loc[0, "checksum_source"] == "recorded"
    recorded = yaml.safe_load(lock.read_text())
    assert recorded["ds1"]["GSE1_RAW.tar"]["sha256"] == _sha(payload)
    assert lock.read_text().startswith("# sha256")

    # Second run: file present and matching the lock -> no request at all.
    n_requests = len(server.requests)
    again = fetch.fetch_dataset("ds1", entry, lock_path=lock, root=root, options=FAST)
    assert again.loc[0, "checksum_source"] == "lock" and len(server.requests) == n_requests

    # The deposit changes upstream: a fresh download must not silently replace the locked hash.
    (root / "ds1" / "GSE1_RAW.tar").unlink()
    server.files["/GSE1_RAW.tar"] = payload + b"changed"
    with pytest.raises(fetch.ChecksumError):
        fetch.fetch_dataset("ds1", entry, lock_path=lock, root=root, options=FAST,
                            sleep=lambda s: None)
    assert not (root / "ds1" / "GSE1_RAW.tar").exists()

    # A corrupted file already on disk is detected too.
    (root / "ds1" / "GSE1_RAW.tar").write_bytes(b"corrupt")
    with pytest.raises(fetch.ChecksumError, match="recorded in"):
        fetch.fetch_dataset("ds1", entry, lock_path=lock, root=root, options=FAST)


def test_fetch_dataset_pinned_checksum_wins(server, payload, tmp_path):
    url = server.serve("/x.tar", payload)
    entry = _entry([{"name": "x.tar", "role": "archive", "url": url, "sha256": _sha(payload)}])
    lock = tmp_path / "lock.yaml"
    manifest = fetch.fetch_dataset("ds2", entry, lock_path=lock, root=tmp_path / "dl",
                                   options=FAST)
    assert manifest.loc[0, "checksum_source"] == "registry"
    assert not lock.exists()  # pinned files need no lock entry


def test_fetch_dataset_manual_file(tmp_path):
    entry = _entry([{"name": "data.tar.gz", "role": "archive", "manual": True,
                     "landing_page": "https://figshare.com/projects/x/1"}])
    lock, root = tmp_path / "lock.yaml", tmp_path / "dl"
    with pytest.raises(fetch.FetchError) as info:
        fetch.fetch_dataset("paley", entry, lock_path=lock, root=root, options=FAST)
    assert "https://figshare.com/projects/x/1" in str(info.value)
    assert str(root / "paley" / "data.tar.gz") in str(info.value)
    (root / "paley").mkdir(parents=True)
    (root / "paley" / "data.tar.gz").write_bytes(b"placed by hand")
    manifest = fetch.fetch_dataset("paley", entry, lock_path=lock, root=root, options=FAST)
    assert manifest.loc[0, "sha256"] == _sha(b"placed by hand")


def test_lock_file_survives_parallel_writers(tmp_path):
    import threading

    lock = tmp_path / "lock.yaml"
    threads = [threading.Thread(target=fetch.record_checksum,
                                args=(lock, f"ds{i % 3}", f"f{i}", "a" * 64, i, None))
               for i in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    record = fetch.read_lock(lock)
    assert sum(len(v) for v in record.values()) == 24


def test_fetch_dataset_reports_every_failing_file(server, payload, tmp_path):
    ok = server.serve("/ok.tar", payload)
    entry = _entry([{"name": "missing1.tar", "role": "archive", "url": server.url("/nope1")},
                    {"name": "ok.tar", "role": "archive", "url": ok},
                    {"name": "missing2.tar", "role": "archive", "url": server.url("/nope2")}])
    with pytest.raises(fetch.FetchError) as info:
        fetch.fetch_dataset("ds3", entry, lock_path=tmp_path / "lock.yaml", root=tmp_path / "dl",
                            options=FAST, sleep=lambda s: None)
    message = str(info.value)
    assert "2 file(s)" in message and "/nope1" in message and "/nope2" in message
    assert (tmp_path / "dl" / "ds3" / "ok.tar").read_bytes() == payload  # the good one landed
