"""Where published files go: a local folder (default) or S3 / any S3-compatible endpoint.

Keys are '/'-joined relative names ('<sku>/<preset>/video-<sha>.mp4', 'runs/<id>/manifest.json'); every
segment is checked with `catalog_motion.paths.safe_segment`, so an untrusted SKU can never name a key
outside the sink's root. Every store is verified (size and SHA-256) before it is reported stored.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import tempfile
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlparse

from catalog_motion.errors import ConfigError, PermanentError, TransientError
from catalog_motion.paths import safe_segment, within
from catalog_motion.s3 import Fault, describe, make_client, s3_errors
from catalog_motion.settings import SinkSettings
from catalog_motion.types import Asset, sha256_file


def check_key(key: str) -> str:
    """Return `key` if every segment is already a safe segment, else raise ValueError."""
    parts = key.split("/")
    if not key or any(not part or safe_segment(part) != part for part in parts):
        raise ValueError(f"unsafe object key: {key!r}")
    return key


def make_key(*segments: str) -> str:
    """A key from untrusted segments (each made safe with safe_segment)."""
    return "/".join(safe_segment(segment) for segment in segments)


@dataclass(frozen=True)
class StoredObject:
    """One object as a listing shows it: key, size and last modification (Unix seconds)."""

    key: str
    size: int
    modified: float


BOOKKEEPING_KINDS = ("manifest", "receipt")
"""`kind` prefixes of objects that record a run (manifests, pointer, publish receipts), not assets: they are
counted in `manifest_writes`, so `uploads` stays the number of asset objects written."""

DELETE_CHUNK = 1000
"""Keys per S3 DeleteObjects request (the API's limit)."""


_META_KEY = re.compile(r"[^a-z0-9-]+")


def ascii_metadata(metadata: dict[str, Any] | None) -> dict[str, str]:
    """Flatten metadata for object headers: lowercase ascii keys, printable-ASCII values.

    Nested dicts become 'parent-child' keys (qc scores: 'qc-subject_drift' -> 'qc-subject-drift');
    non-ASCII text is percent-encoded (HTTP headers are ASCII); floats keep 6 significant digits.
    """
    flat: dict[str, str] = {}

    def add(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                add(f"{prefix}-{key}" if prefix else str(key), inner)
            return
        if value is None:
            return
        key = _META_KEY.sub("-", prefix.lower()).strip("-")[:64] or "x"
        if isinstance(value, float):
            text = f"{value:.6g}"
        elif isinstance(value, (list, tuple)):
            text = ",".join(str(v) for v in value)
        else:
            text = str(value)
        if not (text.isascii() and text.isprintable()):
            text = quote(text, safe=" !#$&'()*+,-./:;=?@[]^_`{|}~")
        flat[key] = text[:1024]

    add("", metadata or {})
    return flat


class Sink(ABC):
    """A place to store published objects by key."""

    settings: SinkSettings

    def __init__(self, settings: SinkSettings):
        self.settings = settings
        self.uploads = 0  # asset objects written by this instance (a re-run of unchanged inputs: 0)
        self.skipped = 0  # puts answered by an existing identical object
        self.manifest_writes = 0  # manifest/pointer/receipt objects written (every run writes its own)
        self.bytes_uploaded = 0
        self._lock = threading.Lock()

    def __reduce__(self):
        # Sinks cross process boundaries (Prefect process pools, Dask) as their settings; the boto3
        # client is not picklable and is rebuilt on the other side. Counters start again at zero.
        return (make_sink, (self.settings,))

    @abstractmethod
    def uri_for(self, key: str) -> str:
        """Public reference of `key` (a local path for the folder sink, s3://bucket/key for S3)."""

    @abstractmethod
    def stat(self, key: str) -> tuple[int, str | None] | None:
        """(size, sha256 or None if unknown) of a stored object, or None if there is none."""

    @abstractmethod
    def _store(
        self, local_path: Path, key: str, content_type: str, metadata: dict[str, str], cache_control: str
    ) -> None:
        """Store one file under `key` (atomically: readers see the old object or the whole new one)."""

    @abstractmethod
    def get_bytes(self, key: str) -> bytes:
        """Content of `key`; raises PermanentError if it does not exist."""

    @abstractmethod
    def list_keys(self, prefix: str) -> list[str]:
        """Keys starting with `prefix` (sorted)."""

    @abstractmethod
    def list_objects(self, prefix: str = "") -> list[StoredObject]:
        """Objects whose key starts with `prefix`, with size and modification time (sorted by key)."""

    @abstractmethod
    def delete_many(self, keys: Iterable[str]) -> int:
        """Remove these objects (absent ones are fine); how many were asked for. Only the orphan sweep and
        receipt clean-up delete: published objects are content-addressed and otherwise never change."""

    @abstractmethod
    def metadata(self, key: str) -> dict[str, str]:
        """Object metadata stored with `key` ({} if none)."""

    @abstractmethod
    def local_copy(self, key: str, dest: Path) -> Path:
        """A local file with the content of `key` (may be the stored file itself for the folder sink)."""

    def exists(self, key: str, sha256: str | None = None) -> bool:
        """True if `key` is stored (and, when `sha256` is given, has exactly that content)."""
        found = self.stat(check_key(key))
        if found is None:
            return False
        return sha256 is None or found[1] == sha256

    def verify(self, key: str, size: int, sha256: str) -> bool:
        """True if `key` is stored with this size and checksum (what the manifest relies on)."""
        found = self.stat(check_key(key))
        return found is not None and found[0] == size and found[1] == sha256

    def verify_many(self, items: list[tuple[str, int, str]]) -> list[bool]:
        """`verify` for many (key, size, sha256) at once (what a manifest of a whole catalog needs)."""
        if len(items) < 8:
            return [self.verify(*item) for item in items]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=8) as pool:  # HEAD latency, not CPU, bounds S3 checks
            return list(pool.map(lambda item: self.verify(*item), items))

    def put(
        self,
        local_path: str | Path,
        key: str,
        content_type: str,
        metadata: dict[str, Any] | None = None,
        *,
        kind: str = "file",
        cache_control: str | None = None,
        sha256: str | None = None,
    ) -> Asset:
        """Store `local_path` under `key` unless an identical object is there; verify; describe it."""
        check_key(key)
        local_path = Path(local_path)
        size = local_path.stat().st_size
        digest = sha256 or sha256_file(local_path)
        asset = Asset(kind=kind, uri=self.uri_for(key), size=size, sha256=digest, content_type=content_type, key=key)
        self._before_put(key)
        if self.verify(key, size, digest):
            with self._lock:
                self.skipped += 1
            return asset
        meta = ascii_metadata(metadata)
        meta["sha256"] = digest
        self._store(local_path, key, content_type, meta, cache_control or self.settings.cache_control)
        if not self.verify(key, size, digest):
            raise TransientError(f"stored object {key} failed verification (size or checksum differs)")
        with self._lock:
            if kind.startswith(BOOKKEEPING_KINDS):
                self.manifest_writes += 1
            else:
                self.uploads += 1
                self.bytes_uploaded += size
        return asset

    def _before_put(self, key: str) -> None:  # noqa: B027 - an optional hook, not an abstract method
        """Hook run before each put (the local sink sweeps temp files that killed writers left)."""

    def put_bytes(
        self,
        data: bytes,
        key: str,
        content_type: str,
        *,
        kind: str = "file",
        cache_control: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Asset:
        with tempfile.NamedTemporaryFile(delete=False, suffix=".upload") as handle:
            handle.write(data)
        try:
            return self.put(
                handle.name,
                key,
                content_type,
                metadata,
                kind=kind,
                cache_control=cache_control,
                sha256=hashlib.sha256(data).hexdigest(),
            )
        finally:
            os.unlink(handle.name)


STALE_PARTIAL_S = 3600.0
"""A temp file of another host older than this is abandoned (no single object copy takes an hour)."""
_HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname()) or "host"


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return True  # never signal a process group; an odd name is not ours to judge
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class LocalSink(Sink):
    """A folder. Metadata and checksums live in a sidecar '<file>.meta.json' next to each object.

    Objects are copied to a hidden temp file `.<name>.<host>.<pid>.<thread>.partial` and renamed, so a
    file at its final name is always whole. A writer killed mid-copy leaves its temp file: the next put
    of the same object removes it when its writer is gone (same host, process dead) or it is older than
    STALE_PARTIAL_S (another host's)."""

    def __init__(self, settings: SinkSettings):
        super().__init__(settings)
        self.root = Path(settings.uri.removeprefix("file://")).expanduser().resolve()

    def path_for(self, key: str) -> Path:
        return within(self.root, *check_key(key).split("/"))

    def uri_for(self, key: str) -> str:
        return str(self.path_for(key))

    def _meta_path(self, path: Path) -> Path:
        return path.with_name(path.name + ".meta.json")

    def stat(self, key: str) -> tuple[int, str | None] | None:
        path = self.path_for(key)
        if not path.is_file():
            return None
        size = path.stat().st_size
        try:
            meta = json.loads(self._meta_path(path).read_text())
        except (OSError, ValueError):
            meta = {}
        # The sidecar is trusted only if it describes this exact file (size and mtime); else re-hash.
        stat = path.stat()
        if meta.get("size") == size and meta.get("mtime_ns") == stat.st_mtime_ns and meta.get("sha256"):
            return size, meta["sha256"]
        return size, sha256_file(path)

    def _store(
        self, local_path: Path, key: str, content_type: str, metadata: dict[str, str], cache_control: str
    ) -> None:
        path = self.path_for(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{_HOST}.{os.getpid()}.{threading.get_ident()}.partial")
        try:
            with open(local_path, "rb") as src, open(tmp, "wb") as dst:
                while block := src.read(1 << 20):
                    dst.write(block)
                dst.flush()
                os.fsync(dst.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        stat = path.stat()
        sidecar = {
            "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
            "content_type": content_type,
            "cache_control": cache_control,
            **metadata,
        }
        meta_tmp = tmp.with_name(tmp.name + ".meta")
        meta_tmp.write_text(json.dumps(sidecar, sort_keys=True))
        os.replace(meta_tmp, self._meta_path(path))

    def _before_put(self, key: str) -> None:
        self.sweep_stale_partials(key)

    def sweep_stale_partials(self, key: str) -> list[Path]:
        """Remove temp files of `key`'s object left by writers that died; returns what was removed."""
        path = self.path_for(key)
        prefix = f".{path.name}."
        removed: list[Path] = []
        try:
            entries = [e for e in path.parent.iterdir() if e.name.startswith(prefix)]
        except FileNotFoundError:
            return removed
        now = time.time()
        for entry in entries:
            rest = entry.name[len(prefix) :]
            for suffix in (".partial.meta", ".partial"):
                if rest.endswith(suffix):
                    rest = rest[: -len(suffix)]
                    break
            else:
                continue
            host, _, ids = rest.partition(".")
            pid_text = ids.split(".")[0]
            try:
                age = now - entry.stat().st_mtime
            except FileNotFoundError:
                continue  # its writer just finished
            dead = host == _HOST and pid_text.isdigit() and not _pid_alive(int(pid_text))
            if dead or age > STALE_PARTIAL_S:
                entry.unlink(missing_ok=True)
                removed.append(entry)
        return removed

    def metadata(self, key: str) -> dict[str, str]:
        try:
            return json.loads(self._meta_path(self.path_for(key)).read_text())
        except (OSError, ValueError):
            return {}

    def local_copy(self, key: str, dest: Path) -> Path:
        path = self.path_for(key)
        if not path.is_file():
            raise PermanentError(f"no object {key} in {self.root}")
        return path

    def get_bytes(self, key: str) -> bytes:
        path = self.path_for(key)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise PermanentError(f"no object {key} in {self.root}") from None

    def list_keys(self, prefix: str) -> list[str]:
        # Walk only the folder the prefix names, not the whole tree (which holds every SKU).
        folder = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        base = within(self.root, *folder.split("/")) if folder else self.root
        if not base.is_dir():
            return []
        keys = []
        for path in base.rglob("*"):
            if not path.is_file() or path.name.endswith((".meta.json", ".partial")) or path.name.startswith("."):
                continue
            key = path.relative_to(self.root).as_posix()
            if key.startswith(prefix):
                keys.append(key)
        return sorted(keys)

    def list_objects(self, prefix: str = "") -> list[StoredObject]:
        # Hidden folders (the default work folder `<out>/.work`) and temp/sidecar files are not objects;
        # neither is anything whose path is not a valid key (files an operator put there by hand).
        folder = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        base = within(self.root, *folder.split("/")) if folder else self.root
        found: list[StoredObject] = []
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            here = Path(dirpath)
            for name in filenames:
                if name.startswith(".") or name.endswith((".meta.json", ".partial")):
                    continue
                path = here / name
                key = path.relative_to(self.root).as_posix()
                if not key.startswith(prefix):
                    continue
                try:
                    check_key(key)
                    stat = path.stat()
                except (ValueError, FileNotFoundError):
                    continue
                found.append(StoredObject(key=key, size=stat.st_size, modified=stat.st_mtime))
        return sorted(found, key=lambda o: o.key)

    def delete_many(self, keys: Iterable[str]) -> int:
        n = 0
        for key in keys:
            path = self.path_for(key)
            path.unlink(missing_ok=True)
            self._meta_path(path).unlink(missing_ok=True)
            n += 1
            # Empty folders left behind (an SKU's last object gone) go too, up to the root.
            parent = path.parent
            while parent != self.root and self.root in parent.parents:
                try:
                    parent.rmdir()
                except OSError:
                    break  # not empty (or already gone): its ancestors are not empty either
                parent = parent.parent
        return n


_REFUSED: frozenset[Fault] = frozenset({"denied", "no-bucket"})
"""Faults a sink call gives up on at once (access denied, no bucket); every other S3 failure is a
`TransientError`, so the flow's retries handle it."""


class S3Sink(Sink):
    """S3 through boto3 (any endpoint_url). Large files upload in parts (TransferConfig)."""

    def __init__(self, settings: SinkSettings):
        super().__init__(settings)
        from boto3.s3.transfer import TransferConfig

        parsed = urlparse(settings.uri)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise ConfigError(f"sink uri must look like s3://bucket/prefix, got {settings.uri!r}")
        self.bucket = parsed.netloc
        self.prefix = parsed.path.strip("/")
        if self.prefix:
            check_key(self.prefix)
        self.client = make_client(
            endpoint_url=settings.endpoint_url, region=settings.region, connect_timeout_s=5, read_timeout_s=30
        )
        mib = 1024 * 1024
        self.transfer = TransferConfig(
            multipart_threshold=settings.multipart_threshold_mb * mib,
            multipart_chunksize=settings.multipart_chunk_mb * mib,
            max_concurrency=settings.max_concurrency,
        )

    def object_key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def uri_for(self, key: str) -> str:
        return f"s3://{self.bucket}/{self.object_key(key)}"

    def head(self, key: str) -> dict[str, Any] | None:
        """The object's HEAD answer, or None when there is no such key."""
        uri = self.uri_for(key)
        try:
            return self.client.head_object(Bucket=self.bucket, Key=self.object_key(key))
        except Exception as exc:
            failure = describe(exc)
            if failure is None:
                raise
            if failure.fault == "missing":
                return None
            raise failure.error(what="object", uri=uri, verb="checking", permanent_faults=_REFUSED) from None

    def stat(self, key: str) -> tuple[int, str | None] | None:
        head = self.head(key)
        if head is None:
            return None
        return int(head["ContentLength"]), head.get("Metadata", {}).get("sha256")

    def _store(
        self, local_path: Path, key: str, content_type: str, metadata: dict[str, str], cache_control: str
    ) -> None:
        extra = {"ContentType": content_type, "CacheControl": cache_control, "Metadata": metadata}
        # Every upload failure is transient: `put` verifies afterwards, and a retry re-sends the whole file.
        with s3_errors(what="object", uri=self.uri_for(key), verb="uploading", permanent_faults=()):
            self.client.upload_file(
                str(local_path), self.bucket, self.object_key(key), ExtraArgs=extra, Config=self.transfer
            )

    def metadata(self, key: str) -> dict[str, str]:
        head = self.head(key)
        return dict(head.get("Metadata", {})) if head else {}

    def local_copy(self, key: str, dest: Path) -> Path:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with s3_errors(what="object", uri=self.uri_for(key), verb="downloading", permanent_faults=()):
            self.client.download_file(self.bucket, self.object_key(key), str(dest), Config=self.transfer)
        return dest

    def get_bytes(self, key: str) -> bytes:
        # Only "no such key" is permanent: readers (the manifest store) take it to mean "not written yet".
        with s3_errors(what="object", uri=self.uri_for(key), permanent_faults=("missing",)):
            return self.client.get_object(Bucket=self.bucket, Key=self.object_key(key))["Body"].read()

    def list_keys(self, prefix: str) -> list[str]:
        full = (f"{self.prefix}/" if self.prefix else "") + prefix
        strip = len(self.prefix) + 1 if self.prefix else 0
        keys = []
        with s3_errors(what="objects", uri=f"s3://{self.bucket}/{full}", verb="listing", permanent_faults=_REFUSED):
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=full):
                keys.extend(item["Key"][strip:] for item in page.get("Contents", []))
        return sorted(keys)

    def list_objects(self, prefix: str = "") -> list[StoredObject]:
        full = (f"{self.prefix}/" if self.prefix else "") + prefix
        strip = len(self.prefix) + 1 if self.prefix else 0
        found = []
        with s3_errors(what="objects", uri=f"s3://{self.bucket}/{full}", verb="listing", permanent_faults=_REFUSED):
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=full):
                for item in page.get("Contents", []):
                    found.append(
                        StoredObject(
                            key=item["Key"][strip:], size=int(item["Size"]), modified=item["LastModified"].timestamp()
                        )
                    )
        return sorted(found, key=lambda o: o.key)

    def delete_many(self, keys: Iterable[str]) -> int:
        names = [self.object_key(key) for key in keys]
        for start in range(0, len(names), DELETE_CHUNK):
            chunk = names[start : start + DELETE_CHUNK]
            uri = f"s3://{self.bucket}/{chunk[0]}"
            with s3_errors(what="objects", uri=uri, verb="deleting", permanent_faults=_REFUSED):
                answer = self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": [{"Key": name} for name in chunk], "Quiet": True}
                )
            errors = answer.get("Errors") or []
            if errors:
                first = errors[0]
                raise TransientError(
                    f"S3 did not delete {len(errors)} object(s), first s3://{self.bucket}/{first.get('Key')}: "
                    f"{first.get('Code', 'error')}"
                )
        return len(names)


def make_sink(settings: SinkSettings) -> Sink:
    """The sink for `settings.uri`: s3://bucket/prefix -> S3Sink, anything else -> a local folder."""
    if settings.uri.startswith("s3://"):
        return S3Sink(settings)
    if "://" in settings.uri and not settings.uri.startswith("file://"):
        raise ConfigError(f"unsupported sink uri {settings.uri!r}: use a folder or s3://bucket/prefix")
    return LocalSink(settings)
