"""Download deposit files over HTTPS: retries with backoff, resume, atomic rename, sha256.

Design:
- A file is streamed into `<name>.part` next to its destination. A failed or cut transfer keeps
  the `.part`, and the next attempt asks for the rest with an HTTP Range request (a server that
  ignores Range makes us start over). Only a complete, verified file is renamed onto `<name>`,
  so no rule ever sees half a download.
- Checksums: a sha256 pinned in the registry is enforced. Without one, the first download's
  sha256 is recorded in a lock file (trust on first use; the user commits it) and every later
  download or re-verification must match it.
- Only https:// URLs are fetched. Plain http is allowed for loopback hosts only, and only with
  the explicit `allow_local_http` option (the tests' local server).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import http.client
import logging
import os
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pandas as pd
import yaml

from neurokine.errors import InputError
from neurokine.io.files import atomic_path, sha256sum, write_tsv
from neurokine.io.registry import download_dir, fetched_files
from neurokine.settings import FetchSettings

LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
#: HTTP statuses worth retrying: the server may recover (rate limits, overload, gateways).
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
USER_AGENT = "neurokine-fetch/0.1 (+https://github.com/; research workflow)"

logger = logging.getLogger(__name__)


class FetchError(RuntimeError):
    """A file could not be downloaded or verified; the message says how to fix it by hand."""


class ChecksumError(FetchError):
    """A downloaded or placed file does not have the expected sha256."""


@dataclasses.dataclass(frozen=True)
class FetchOptions:
    """Network behaviour of `download` (config key `fetch:`)."""

    retries: int = 5
    backoff_seconds: float = 2.0
    max_backoff_seconds: float = 120.0
    timeout_seconds: float = 60.0
    chunk_bytes: int = 1 << 20
    progress_seconds: float = 10.0
    allow_local_http: bool = False

    @classmethod
    def from_settings(cls, fetch: FetchSettings) -> FetchOptions:
        """The network options of config `fetch:` (transfer block size and progress interval stay
        at their defaults: they are not settings a user needs)."""
        return cls(retries=fetch.retries, backoff_seconds=fetch.backoff_seconds,
                   max_backoff_seconds=fetch.max_backoff_seconds,
                   timeout_seconds=fetch.timeout_seconds, allow_local_http=fetch.allow_local_http)


def check_url(url: str, allow_local_http: bool = False, source: str = "registry",
              field: str = "url") -> None:
    """Refuse anything but https:// (and http://localhost when explicitly allowed)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname in LOCAL_HOSTS and allow_local_http:
        return
    hint = (" (plain http to a loopback host needs fetch.allow_local_http: true, meant for tests)"
            if parts.scheme == "http" and parts.hostname in LOCAL_HOSTS else "")
    raise InputError(source, field, f"URL {url!r} is not https{hint}",
                     "use the https:// address of the file")


class _SafeRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects only to URLs that pass `check_url` (no downgrade to plain http)."""

    def __init__(self, allow_local_http: bool) -> None:
        super().__init__()
        self.allow_local_http = allow_local_http

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        check_url(newurl, self.allow_local_http, source=req.full_url, field="redirect")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _human(n: float) -> str:
    """Bytes as a short human-readable string."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} GiB"


def manual_instructions(url: str | None, dest: Path, landing_page: str | None = None) -> str:
    """How to place a file by hand when it cannot be fetched here."""
    origin = url or landing_page or "the deposit's landing page"
    steps = f"download {origin} by hand"
    if url:
        steps += f" (e.g. curl -L -o '{dest}' '{url}')"
    return (f"{steps} and place it at {dest}; rerun the workflow and its sha256 will be "
            "checked against the registry or recorded in the checksum lock file")


def _open(url: str, offset: int, options: FetchOptions):
    """Open a (ranged) GET request; return the response object."""
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    opener = urllib.request.build_opener(_SafeRedirects(options.allow_local_http))
    return opener.open(urllib.request.Request(url, headers=headers),
                       timeout=options.timeout_seconds)


def _content_range_start(value: str | None) -> int | None:
    """Start offset of a `Content-Range: bytes a-b/n` header, or None."""
    if not value or not value.startswith("bytes "):
        return None
    try:
        return int(value[6:].split("-", 1)[0])
    except ValueError:
        return None


def _transfer(url: str, part: Path, options: FetchOptions,
              log: Callable[[str], None]) -> None:
    """One attempt: append the missing bytes of `url` to `part`; raise on any shortfall."""
    offset = part.stat().st_size if part.exists() else 0
    try:
        response = _open(url, offset, options)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:
            # Our partial file is at least as long as the resource: start again from zero
            # rather than trust it (the checksum would catch a bad file, but be explicit).
            part.unlink()
            raise ConnectionError("server refused the resume range; restarting") from exc
        raise
    with response:
        status = getattr(response, "status", 200)
        length = response.headers.get("Content-Length")
        if offset and status == 206:
            start = _content_range_start(response.headers.get("Content-Range"))
            if start != offset:
                part.unlink()
                raise ConnectionError(f"server resumed at byte {start}, not {offset}; restarting")
            log(f"resuming {part.name[:-5]} at {_human(offset)}")
        elif offset:
            log(f"server ignored the resume request (HTTP {status}); restarting from zero")
            offset = 0
        total = offset + int(length) if length is not None else None
        done, last, started = offset, time.monotonic(), time.monotonic()
        with open(part, "ab" if offset else "wb") as handle:
            while True:
                block = response.read(options.chunk_bytes)
                if not block:
                    break
                handle.write(block)
                done += len(block)
                now = time.monotonic()
                if now - last >= options.progress_seconds:
                    rate = (done - offset) / max(now - started, 1e-9)
                    pct = f" ({100 * done / total:.0f}%)" if total else ""
                    log(f"{part.name[:-5]}: {_human(done)}"
                        f"{' / ' + _human(total) if total else ''}{pct} at {_human(rate)}/s")
                    last = now
    if total is not None and done != total:
        raise http.client.IncompleteRead(b"", total - done)


def download(url: str, dest: str | os.PathLike[str], *, expected_sha256: str | None = None,
             expected_size: int | None = None, options: FetchOptions = FetchOptions(),
             log: Callable[[str], None] = logger.info,
             sleep: Callable[[float], None] = time.sleep) -> str:
    """Fetch `url` to `dest` (resumable, atomic, verified) and return its sha256."""
    check_url(url, options.allow_local_http)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    last_error: BaseException | None = None
    for attempt in range(1, options.retries + 2):
        try:
            log(f"GET {url} -> {dest} (attempt {attempt}/{options.retries + 1})")
            _transfer(url, part, options, log)
            break
        except urllib.error.HTTPError as exc:
            if exc.code not in RETRY_STATUSES:
                raise FetchError(
                    f"{url}: HTTP {exc.code} {exc.reason}: the file is not available at this "
                    f"address. Check the URL in the registry, or "
                    f"{manual_instructions(url, dest)}") from exc
            last_error = exc
        except (http.client.HTTPException, OSError) as exc:
            # OSError covers URLError (DNS, refused), timeouts and dropped connections.
            last_error = exc
        if attempt <= options.retries:
            delay = min(options.backoff_seconds * 2 ** (attempt - 1), options.max_backoff_seconds)
            log(f"attempt {attempt} failed ({_describe(last_error)}); retrying in {delay:.1f} s")
            sleep(delay)
    else:
        raise FetchError(
            f"could not download {url} after {options.retries + 1} attempts "
            f"(last error: {_describe(last_error)}). This machine may have no internet access. "
            f"To continue offline, {manual_instructions(url, dest)}") from last_error
    size = part.stat().st_size
    digest = sha256sum(part)
    if expected_size is not None and size != expected_size:
        part.unlink()
        raise ChecksumError(f"{url}: downloaded {size} bytes, the registry expects "
                            f"{expected_size}; the partial file was removed. Retry, or "
                            f"{manual_instructions(url, dest)}")
    if expected_sha256 is not None and digest != expected_sha256:
        part.unlink()
        raise ChecksumError(f"{url}: sha256 {digest} does not match the expected "
                            f"{expected_sha256}; the download was removed. The deposit may "
                            "have changed or the transfer was corrupted: retry, and if it "
                            "persists check the file and update the checksum deliberately")
    os.replace(part, dest)
    log(f"done {dest.name}: {_human(size)} sha256 {digest}")
    return digest


def _describe(exc: BaseException | None) -> str:
    """One-line description of a network error."""
    if exc is None:
        return "unknown"
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return f"{type(exc.reason).__name__}: {exc.reason}"
    return f"{type(exc).__name__}: {exc}"


# ------------------------------------------------------------------------- checksum lock file

LOCK_HEADER = (
    "# sha256 of every deposit file fetched without a checksum pinned in the registry, recorded\n"
    "# on first download (trust on first use). Commit this file: later downloads must match.\n"
    "# To accept a changed deposit deliberately, delete its entry and fetch again.\n"
)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock for `path` (parallel fetch jobs share the lock file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # The lock token lives in the temp dir, keyed by the lock file's absolute path, so nothing
    # extra appears next to the committed lock file; fetch rules are local (one machine).
    key = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    token = Path(tempfile.gettempdir()) / f"neurokine-lock-{key}.flock"
    with open(token, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_lock(path: str | os.PathLike[str]) -> dict[str, dict[str, dict]]:
    """Return {dataset: {file name: {sha256, size, url}}} from the lock file (empty if absent)."""
    path = Path(path)
    if not path.exists():
        return {}
    try:
        record = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise InputError(str(path), "YAML syntax", str(exc).replace("\n", " "),
                         "fix or delete the lock file") from exc
    if not isinstance(record, dict):
        raise InputError(str(path), "(top level)", "is not a mapping",
                         "fix or delete the lock file")
    return record


def record_checksum(path: str | os.PathLike[str], dataset: str, name: str, sha256: str,
                    size: int, url: str | None) -> None:
    """Add one file's checksum to the lock file (atomic, safe against parallel writers)."""
    path = Path(path)
    with _locked(path):
        record = read_lock(path)
        entry = {"sha256": sha256, "size": int(size)}
        if url:
            entry["url"] = url
        record.setdefault(dataset, {})[name] = entry
        ordered = {ds: dict(sorted(files.items())) for ds, files in sorted(record.items())}
        with atomic_path(path) as tmp:
            tmp.write_text(LOCK_HEADER + yaml.safe_dump(ordered, sort_keys=False), encoding="utf-8")


def _expected(dataset: str, spec: Mapping, lock: Mapping) -> tuple[str | None, str]:
    """Expected sha256 for a file and where it comes from (registry, lock, or none yet)."""
    if "sha256" in spec:
        return spec["sha256"], "registry"
    locked = lock.get(dataset, {}).get(spec["name"])
    if locked:
        return locked["sha256"], "lock"
    return None, "first-use"


def _fetch_one(dataset: str, spec: Mapping, lock: Mapping, lock_path, root, options: FetchOptions,
               log: Callable[[str], None], sleep: Callable[[float], None]) -> dict:
    """Fetch or verify one file of a dataset; return its manifest row."""
    dest = download_dir(dataset, root) / spec["name"]
    expected, origin = _expected(dataset, spec, lock)
    url = spec.get("url")
    if dest.exists():
        log(f"{dest} already present; verifying sha256")
        digest = sha256sum(dest)
        if expected is not None and digest != expected:
            pinned_where = ("pinned in the registry" if origin == "registry"
                            else f"recorded in {lock_path} on first download")
            raise ChecksumError(
                f"{dest}: sha256 {digest} differs from {expected} ({pinned_where}). "
                "The file is corrupt or the deposit changed: delete the file and fetch "
                "again; to accept a changed deposit, delete its lock entry deliberately")
    elif spec.get("manual"):
        raise FetchError(
            f"{dataset}: {spec['name']} must be downloaded by hand (no direct URL is known): "
            f"{manual_instructions(None, dest, spec.get('landing_page'))}")
    else:
        check_url(url, options.allow_local_http, source=f"registry {dataset}",
                  field=f"files[{spec['name']}].url")
        digest = download(url, dest, expected_sha256=expected, expected_size=spec.get("size"),
                          options=options, log=log, sleep=sleep)
    if expected is None:
        record_checksum(lock_path, dataset, spec["name"], digest, dest.stat().st_size, url)
        log(f"recorded sha256 of {spec['name']} in {lock_path} (trust on first use)")
        origin = "recorded"
    return {"dataset_id": dataset, "name": spec["name"], "sha256": digest,
            "size": dest.stat().st_size, "checksum_source": origin,
            "url": url or spec.get("landing_page", "")}


def fetch_dataset(dataset: str, entry: Mapping, *, lock_path: str | os.PathLike[str],
                  root: str | os.PathLike[str] = "resources/downloads",
                  options: FetchOptions = FetchOptions(),
                  log: Callable[[str], None] = logger.info,
                  sleep: Callable[[float], None] = time.sleep) -> pd.DataFrame:
    """Fetch (or verify) every downloadable file of one dataset; return the manifest table."""
    rows: list[dict] = []
    failures: list[FetchError] = []
    lock = read_lock(lock_path)
    for spec in fetched_files(entry):
        try:
            rows.append(_fetch_one(dataset, spec, lock, lock_path, root, options, log, sleep))
        except FetchError as exc:
            # Keep going: one run then lists every file that needs attention.
            log(f"FAILED {spec['name']}: {exc}")
            failures.append(exc)
    if failures:
        kind = ChecksumError if any(isinstance(f, ChecksumError) for f in failures) else FetchError
        raise kind(f"{dataset}: {len(failures)} file(s) could not be fetched or verified:\n"
                   + "\n".join(f"- {f}" for f in failures))
    return pd.DataFrame(rows, columns=["dataset_id", "name", "sha256", "size",
                                       "checksum_source", "url"])


def write_manifest(frame: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write the fetch manifest (the load rule's input) atomically."""
    write_tsv(frame, path, sort_by=["name"])


