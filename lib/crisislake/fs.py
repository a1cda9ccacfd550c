"""Small-file I/O outside Spark, on local disk and S3 alike, over one library (``pyarrow.fs``).

Run records, model pointers and metrics, manifests, sidecars, raw downloads and listings go
through here; table data goes through Spark's readers and writers, never through here. No JVM is
needed, so jobs without Spark (``load``, ``scrape-hdx``) write their run records the same way.

URIs: a local path, ``file:/path``/``file:///path``, or ``s3://``/``s3a://``/``s3n://bucket/key``.
S3 credentials come from the default AWS chain (an IAM role on EMR); a local S3 stand-in is
reached through the standard ``AWS_ENDPOINT_URL_S3`` variable, which boto3 reads too (the CLI
sets it from the ``s3_endpoint`` setting). Listings return URIs in the caller's scheme, local
files as ``file:/abs/path`` (the form Spark reports in its file metadata).
"""
from __future__ import annotations

import os
import uuid
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Dict, Iterator, List, Mapping, Optional, Tuple
from urllib.parse import unquote, urlparse

import pyarrow.fs as pafs

S3_SCHEMES = ("s3://", "s3a://", "s3n://")
SKIP_PREFIXES = ("_", ".")  # _SUCCESS, .crc, hidden and temporary files
# Fixed entry time keeps a zip byte-identical across builds (zip cannot store dates before 1980).
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def is_s3(uri: str) -> bool:
    """
    >>> is_s3("s3a://bucket/lake"), is_s3("/tmp/lake"), is_s3("file:/tmp")
    (True, False, False)
    """
    return uri.startswith(S3_SCHEMES)


def local_path(uri: str) -> str:
    """The absolute local path of a plain path or ``file:`` URI.

    >>> local_path("file:///tmp/a%20b.json"), local_path("file:/tmp/x"), local_path("/tmp/y/")
    ('/tmp/a b.json', '/tmp/x', '/tmp/y')
    """
    if uri.startswith("file:"):
        uri = unquote(uri[len("file:"):])
        if uri.startswith("//"):
            uri = uri[2:]
    return os.path.abspath(uri)


def s3_filesystem() -> pafs.S3FileSystem:
    """pyarrow's S3 filesystem, pointed at ``AWS_ENDPOINT_URL_S3`` (or ``AWS_ENDPOINT_URL``) when
    set: pyarrow's constructor does not read those variables itself."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint:
        return pafs.S3FileSystem()
    parsed = urlparse(endpoint)
    return pafs.S3FileSystem(endpoint_override=parsed.netloc or parsed.path, scheme=parsed.scheme or "https")


def _resolve(uri: str) -> Tuple[pafs.FileSystem, str, str]:
    """(filesystem, its path, the prefix that turns its paths back into the caller's URIs)."""
    if is_s3(uri):
        scheme, rest = uri.split("://", 1)
        return s3_filesystem(), rest.rstrip("/"), f"{scheme}://"
    return pafs.LocalFileSystem(), local_path(uri), "file:"


def exists(uri: str) -> bool:
    filesystem, path, _ = _resolve(uri)
    return filesystem.get_file_info(path).type != pafs.FileType.NotFound


def read_bytes(uri: str) -> bytes:
    filesystem, path, _ = _resolve(uri)
    with filesystem.open_input_stream(path) as stream:
        return stream.readall()


def read_text(uri: str) -> str:
    return read_bytes(uri).decode("utf-8")


def write_bytes(uri: str, data: bytes) -> None:
    """Write (replace) a small file atomically: readers see the old or the new bytes, never a
    part (a local temp file renamed over the target; one S3 PUT)."""
    with staged_output(uri) as out:
        out.write(data)


def write_text(uri: str, text: str) -> None:
    write_bytes(uri, text.encode("utf-8"))


@contextmanager
def staged_output(uri: str) -> Iterator[IO[bytes]]:
    """A binary stream whose bytes appear at ``uri`` only when the block ends without error.

    Locally the bytes go to a hidden temp file beside the target, renamed over it at the end
    and removed on failure. On S3 they go to a ``_<name>.<random>.staging`` object beside the
    target, copied into place at the end (an S3 object is never visible half-written, but a
    failed upload must not complete either) and deleted either way; ``_``-prefixed names are
    skipped by every listing of data files.
    """
    filesystem, path, _ = _resolve(uri)
    parent, name = path.rsplit("/", 1)
    # Beside the target, not in a folder of its own: pyarrow would leave an empty-folder marker
    # object behind on S3 once the staging object is gone.
    tmp = f"{parent}/_{name}.{uuid.uuid4().hex[:12]}.staging" if is_s3(uri) else f"{parent}/.{name}.{uuid.uuid4().hex[:12]}.tmp"
    if not is_s3(uri):
        filesystem.create_dir(parent, recursive=True)
    stream = filesystem.open_output_stream(tmp)
    try:
        yield stream
        stream.close()
        filesystem.move(tmp, path)
    except BaseException:
        if not stream.closed:
            if is_s3(uri):
                _abandon(stream)
            else:
                stream.close()
        if filesystem.get_file_info(tmp).type != pafs.FileType.NotFound:
            filesystem.delete_file(tmp)
        raise


def _abandon(stream: pafs.NativeFile) -> None:
    """Close a failed S3 upload stream; whatever it completes is the staging object, deleted next."""
    try:
        stream.close()
    except OSError:
        pass


def file_sizes(uri: str, recursive: bool = True) -> Dict[str, int]:
    """``{uri: size in bytes}`` of the files under ``uri`` (or of ``uri`` itself when it is a
    file), from one listing (on S3 the LIST pages carry the sizes); empty if it does not exist."""
    filesystem, path, prefix = _resolve(uri)
    info = filesystem.get_file_info(path)
    if info.type == pafs.FileType.NotFound:
        return {}
    if info.type == pafs.FileType.File:
        return {prefix + info.path: int(info.size)}
    selector = pafs.FileSelector(path, allow_not_found=True, recursive=recursive)
    return {
        prefix + entry.path: int(entry.size)
        for entry in filesystem.get_file_info(selector)
        if entry.type == pafs.FileType.File
    }


def data_files(sizes: Mapping[str, int]) -> Dict[str, int]:
    """``sizes`` (``{uri: size}``, e.g. from :func:`file_sizes`) in name order without
    ``_``/``.``-prefixed names (markers, hidden and temporary files).

    >>> data_files({"s3://b/p/b.json": 2, "s3://b/p/_SUCCESS": 0, "s3://b/p/.a.crc": 1, "s3://b/p/a.json": 3})
    {'s3://b/p/a.json': 3, 's3://b/p/b.json': 2}
    """
    return {f: sizes[f] for f in sorted(sizes) if not f.rsplit("/", 1)[-1].startswith(SKIP_PREFIXES)}


def list_files(uri: str, recursive: bool = True) -> List[str]:
    """URIs of the files under ``uri``, in name order (empty if it does not exist)."""
    return sorted(file_sizes(uri, recursive))


def names_in(uri: str) -> Optional[List[str]]:
    """Names of the files directly under the folder ``uri``, hidden ones included; None when there
    is no such folder (on S3: no object under that prefix)."""
    filesystem, path, _ = _resolve(uri)
    infos = filesystem.get_file_info(pafs.FileSelector(path, recursive=False, allow_not_found=True))
    if not infos and filesystem.get_file_info(path).type == pafs.FileType.NotFound:
        return None
    return sorted(info.base_name for info in infos if info.type == pafs.FileType.File)


def size_or_none(uri: str):
    """The size in bytes of the file at ``uri``, or None when there is no file there."""
    filesystem, path, _ = _resolve(uri)
    info = filesystem.get_file_info(path)
    return int(info.size) if info.type == pafs.FileType.File else None


def open_input_file(uri: str) -> pafs.NativeFile:
    """A random-access handle (what Parquet footers need); close it, or use it in ``with``."""
    filesystem, path, _ = _resolve(uri)
    return filesystem.open_input_file(path)


def file_size(uri: str) -> int:
    filesystem, path, _ = _resolve(uri)
    return int(filesystem.get_file_info(path).size)


def delete(uri: str) -> None:
    """Delete ``uri`` and everything under it (nothing to do if it does not exist)."""
    filesystem, path, _ = _resolve(uri)
    info = filesystem.get_file_info(path)
    if info.type == pafs.FileType.Directory:
        filesystem.delete_dir(path)
    elif info.type == pafs.FileType.File:
        filesystem.delete_file(path)


def move(src: str, dest: str) -> None:
    """Move a file (on S3 a copy and a delete) within one filesystem, replacing ``dest``."""
    filesystem, src_path, _ = _resolve(src)
    _, dest_path, _ = _resolve(dest)
    if not is_s3(dest):
        filesystem.create_dir(dest_path.rsplit("/", 1)[0], recursive=True)
    filesystem.move(src_path, dest_path)


def replace_dir(src: str, dest: str) -> None:
    """Put the folder ``src`` where the folder ``dest`` is, replacing it; ``src`` is gone after.

    The new files exist before any old one is deleted. Locally the switch is two renames (the
    old folder is moved aside, then deleted); on S3, which has no folders to rename, the old
    objects are deleted and the new ones moved in one by one, so a reader can meet a partial
    folder for that moment.
    """
    if not is_s3(dest):
        filesystem, src_path, _ = _resolve(src)
        _, dest_path, _ = _resolve(dest)
        aside = f"{dest_path}.replaced-{uuid.uuid4().hex[:8]}"
        had_old = filesystem.get_file_info(dest_path).type != pafs.FileType.NotFound
        if had_old:
            filesystem.move(dest_path, aside)
        filesystem.move(src_path, dest_path)
        if had_old:
            filesystem.delete_dir(aside)
        return
    new_files = list_files(src)
    delete(dest)
    prefix = src.rstrip("/") + "/"
    for uri in new_files:
        move(uri, dest.rstrip("/") + "/" + uri[len(prefix):])
    delete(src)


def iter_bytes(uri: str, chunk_bytes: int = 1 << 20, limit: int = 0) -> Iterator[bytes]:
    """Stream a file's bytes in chunks of at most ``chunk_bytes``; ``limit`` > 0 stops after
    that many bytes. Memory is bounded by ``chunk_bytes``."""
    filesystem, path, _ = _resolve(uri)
    remaining = limit if limit > 0 else -1
    with filesystem.open_input_stream(path) as stream:
        while remaining != 0:
            chunk = stream.read(chunk_bytes if remaining < 0 else min(chunk_bytes, remaining))
            if not chunk:
                return
            if remaining > 0:
                remaining -= len(chunk)
            yield chunk


def write_zip(entries: Mapping[str, Path], dest: Path) -> Path:
    """Write the local zip ``dest`` holding ``{archive name: file}``, entries in name order with
    fixed dates and modes, so the same files always give the same bytes (a jar is such a zip)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, Path(entries[name]).read_bytes())
    return dest
