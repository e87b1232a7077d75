"""The holder's files: a certificate and its key (and the chain beside them), replaced so
that a reader never gets a key that does not match the certificate.

Two files cannot be renamed in one step, so a replacement is a small roll-forward journal
(the same idea as a database's write-ahead log):

1. the new files are written to temporary names beside the old ones (``NAME.albca-new``),
   with the old files' permissions and owner, and fsynced;
2. a journal (``CERT.albca-swap``, itself written to a temporary name and renamed, so it is
   whole or absent) lists each temporary file and the name it replaces;
3. each temporary file is renamed over its target (``rename(2)`` is atomic, POSIX);
4. the journal is removed.

A process killed before step 2 leaves the old files and stray temporaries; killed after
it, the journal says how to finish. ``recover`` (run before every read and by every
``albca renew``/``agent`` start) finishes or discards, so through albca the pair is always
the old one or the new one. A renewal without a new key replaces the certificate alone:
one rename, never a mismatch even for a reader that does not recover first.

Why not a symlink swapped over a versioned directory (Kubernetes' AtomicWriter): it turns
the user's files into links into a hidden directory, which surprises the services and
backup tools that read them; plain files keep their paths, owner and mode.

The lock (``CERT.albca-lock``, the ``filelock`` package) keeps two agents (or an agent and
``albca renew``) from writing the same files. It is an OS lock on every platform
(``flock(2)`` on Linux and macOS, ``LockFileEx`` through ``msvcrt.locking`` on Windows),
released when the holder dies, so a killed agent never leaves a stale lock; the soft
(file-exists) fallback is off for that reason.

Platforms (issue 16, point 8): on Linux and macOS a replacement keeps the old files' mode
and owner and fsyncs the directory. On Windows there are no POSIX modes or owners: a new
file takes the access control list its folder passes on (a user's profile is private to
that user), so albca sets none, and a directory cannot be opened to fsync (NTFS journals
its metadata itself). ``os.replace`` is atomic on both (``rename(2)``; ``MoveFileExW``
with ``MOVEFILE_REPLACE_EXISTING``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from albca.ca.keys import CAKey
from albca.ca.names import RequestedNames
from albca.holder.errors import LockHeld, UnreadableFile

__all__ = [
    "HeldPair",
    "base_name",
    "new_file_paths",
    "PairPaths",
    "held_lock",
    "read_pair",
    "recover",
    "replace_pair",
    "write_new_file",
]

_NEW = ".albca-new"
_KEY_MODE = 0o600
# POSIX file modes, owners and directory fsync (Linux, macOS); none of them on Windows.
_POSIX = sys.platform != "win32"
# Windows' os.open translates newlines unless told the file is binary.
_BINARY = getattr(os, "O_BINARY", 0)


@dataclass(frozen=True)
class PairPaths:
    certificate: Path
    key: Path
    chain: Path | None = None

    @property
    def journal(self) -> Path:
        return self.certificate.with_name(self.certificate.name + ".albca-swap")

    @property
    def lock(self) -> Path:
        return self.certificate.with_name(self.certificate.name + ".albca-lock")

    def files(self) -> list[Path]:
        return [self.certificate, self.key, *([self.chain] if self.chain else [])]


@dataclass(frozen=True)
class HeldPair:
    certificate: x509.Certificate
    key: CAKey


def recover(paths: PairPaths) -> None:
    """Finish a replacement a killed process left half done, or discard one it never
    committed (see the module's docstring)."""
    if paths.journal.exists():
        try:
            moves = json.loads(paths.journal.read_text())
        except (OSError, ValueError):
            raise UnreadableFile(f"{paths.journal}: a damaged replacement journal") from None
        for temporary, target in moves:
            if os.path.exists(temporary):
                os.replace(temporary, target)
        _fsync_dirs(Path(target).parent for _, target in moves)
        paths.journal.unlink()
    for path in paths.files():
        with contextlib.suppress(FileNotFoundError):
            path.with_name(path.name + _NEW).unlink()


def read_pair(paths: PairPaths) -> HeldPair:
    """The certificate and its key, after ``recover``; refuses a pair that does not match."""
    recover(paths)
    certificate = _read_certificate(paths.certificate)
    key = _read_key(paths.key)
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(
        serialization.Encoding.DER, spki
    ) != certificate.public_key().public_bytes(serialization.Encoding.DER, spki):
        raise UnreadableFile(f"{paths.key} is not the key of {paths.certificate}")
    return HeldPair(certificate=certificate, key=key)


def replace_pair(
    paths: PairPaths,
    *,
    certificate_pem: bytes,
    chain_pem: bytes | None,
    key_pem: bytes | None,
    step: Callable[[str], None] = lambda name: None,
) -> None:
    """Replace the files as the module's docstring says. ``step`` is called between the
    steps with their names (tests kill the process there)."""
    moves: list[tuple[Path, Path]] = []
    contents: list[tuple[Path, bytes]] = [(paths.certificate, certificate_pem)]
    if key_pem is not None:
        contents.append((paths.key, key_pem))
    if paths.chain is not None and chain_pem is not None:
        contents.append((paths.chain, chain_pem))
    for target, data in contents:
        temporary = target.with_name(target.name + _NEW)
        _write_like(temporary, data, like=target, default_mode=0o644)
        moves.append((temporary, target))
        step(f"wrote {target.name}{_NEW}")
    if len(moves) > 1:
        _write_journal(paths.journal, moves)
        step("journal")
    for temporary, target in moves:
        os.replace(temporary, target)
        step(f"renamed {target.name}")
    _fsync_dirs(target.parent for _, target in moves)
    if len(moves) > 1:
        paths.journal.unlink()
        step("done")


def base_name(explicit: str | None, names: RequestedNames) -> str:
    """The files' base name: the one given, else the first name certified (the same
    names ``albca issue`` writes)."""
    candidate = explicit or names.common_name or next(iter(names.dns_names), None)
    if candidate is None:
        candidate = str(names.ip_addresses[0]) if names.ip_addresses else "certificate"
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", candidate.replace("*", "wildcard")).strip("._")
    return safe or "certificate"


def new_file_paths(out: Path, base: str, *, with_p12: bool) -> dict[str, Path]:
    paths = {
        "private_key": out / f"{base}.key.pem",
        "certificate": out / f"{base}.crt.pem",
        "chain": out / f"{base}.chain.pem",
        "fullchain": out / f"{base}.fullchain.pem",
    }
    if with_p12:
        paths["pkcs12"] = out / f"{base}.p12"
    return paths


def write_new_file(path: Path, data: bytes, *, private: bool, force: bool) -> None:
    """A file of a new certificate (``albca request``): keys and PKCS#12 files mode 0600."""
    if path.exists() and not force:
        raise FileExistsError(path)
    temporary = path.with_name(path.name + _NEW)
    _write_like(temporary, data, like=None, default_mode=_KEY_MODE if private else 0o644)
    os.replace(temporary, path)


@contextlib.contextmanager
def held_lock(paths: PairPaths) -> Iterator[None]:
    """Hold the pair's lock, or ``LockHeld`` naming the process that has it."""
    from filelock import FileLock, Timeout

    # A POSIX mode where there are modes (the lock file is the user's own; Windows has
    # only its folder's access rules).
    mode = 0o600 if _POSIX else -1
    lock = FileLock(paths.lock, timeout=0, mode=mode, fallback_to_soft=False)
    try:
        lock.acquire()
    except Timeout:
        holder = _lock_note(paths.lock) or "another process"
        raise LockHeld(
            f"{paths.certificate} is being renewed by process {holder} (lock "
            f"{paths.lock}); run one agent per certificate"
        ) from None
    try:
        _note_holder(paths.lock)
        yield
    finally:
        lock.release()


def _note_holder(lock: Path) -> None:
    """Write this process's id into the lock file, for the message a second agent gets.
    (Windows locks the file's first byte for its holder's handle alone: there the note is
    not written, and the message says "another process".)"""
    with contextlib.suppress(OSError):
        fd = os.open(lock, os.O_WRONLY)
        try:
            os.write(fd, f"{os.getpid()}\n".encode())
            os.ftruncate(fd, len(f"{os.getpid()}\n"))
        finally:
            os.close(fd)


def _lock_note(lock: Path) -> str:
    try:
        with lock.open("rb") as handle:
            return handle.read(32).decode(errors="replace").strip()
    except OSError:
        return ""


def _write_like(path: Path, data: bytes, *, like: Path | None, default_mode: int) -> None:
    mode, owner = default_mode, None
    if like is not None:
        try:
            info = like.stat()
            mode, owner = stat.S_IMODE(info.st_mode), (info.st_uid, info.st_gid)
        except FileNotFoundError:
            pass
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _BINARY, 0o600)
    try:
        if _POSIX:
            _keep_mode_and_owner(fd, mode, owner)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def _keep_mode_and_owner(fd: int, mode: int, owner: tuple[int, int] | None) -> None:
    """The mode (and, where allowed, the owner) the replaced file had (POSIX only)."""
    if owner is not None and owner != (os.geteuid(), os.getegid()):
        # Keep the owner (e.g. root:nginx on a key nginx reads); only root may.
        with contextlib.suppress(PermissionError):
            os.fchown(fd, *owner)
    os.fchmod(fd, mode)


def _write_journal(journal: Path, moves: list[tuple[Path, Path]]) -> None:
    temporary = journal.with_name(journal.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _BINARY, 0o600)
    try:
        os.write(fd, json.dumps([[str(a), str(b)] for a, b in moves]).encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, journal)
    _fsync_dirs([journal.parent])


def _fsync_dirs(directories: object) -> None:
    """Make the renames durable: fsync each directory (POSIX; Windows cannot open a
    directory as a file, and NTFS journals renames itself)."""
    if not _POSIX:
        return
    for directory in set(directories):  # type: ignore[call-overload]
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _read_certificate(path: Path) -> x509.Certificate:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UnreadableFile(f"cannot read {path}: {exc.strerror}") from None
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError:
        raise UnreadableFile(f"{path}: not a PEM or DER certificate") from None


def _read_key(path: Path) -> CAKey:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UnreadableFile(f"cannot read {path}: {exc.strerror}") from None
    try:
        key = serialization.load_pem_private_key(data, None)
    except TypeError:
        raise UnreadableFile(
            f"{path}: the key is encrypted; albca renews unencrypted keys (keep them 0600)"
        ) from None
    except ValueError:
        raise UnreadableFile(f"{path}: not a PEM private key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise UnreadableFile(f"{path}: neither an EC nor an RSA key")
    return key
