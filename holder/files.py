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
the old one or the new one. The journal names its files by absolute paths: a recovery
runs from wherever the next process starts (a systemd unit's ``/``), and a journal whose
files cannot be found is refused, never deleted with the temporaries it lists (one of them
may be the only copy of a new key). Earlier journals named files as given,
relative to the writer's directory; ``recover`` finds that directory from the journal's
own place and reads them too. A renewal without a new key of a certificate file alone
is one rename: never a mismatch even for a reader that does not recover first (with its
siblings, each of them, old or new, still matches the key).

The files ``albca request`` writes beside a key (``NAME.crt.pem``, ``NAME.fullchain.pem``,
``NAME.chain.pem`` with ``NAME.key.pem``) are one set: ``pair_with_siblings`` adds the
others to the pair given, so a renewal replaces them all in one swap (a ``--rekey`` that
replaced ``NAME.crt.pem`` alone left ``NAME.fullchain.pem``, which nginx reads, holding
the old certificate for a key that was gone). Their journal and lock take the name of
``NAME.crt.pem`` whichever of them was given, so ``albca renew --cert NAME.crt.pem`` and
``albca agent --cert NAME.fullchain.pem`` share one lock and find each other's journal.

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
    "pair_with_siblings",
    "read_pair",
    "recover",
    "replace_pair",
    "write_new_file",
]

_NEW = ".albca-new"
_SWAP = ".albca-swap"
# The names ``albca request`` gives its files (``new_file_paths``), by label.
_REQUEST_SUFFIXES = {
    "private_key": ".key.pem",
    "certificate": ".crt.pem",
    "chain": ".chain.pem",
    "fullchain": ".fullchain.pem",
}
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
    # Other files holding the same certificate, alone or followed by its chain (each keeps
    # its shape): the siblings ``albca request`` wrote (``pair_with_siblings``).
    also: tuple[Path, ...] = ()
    # The file whose name the journal and the lock take; None: the certificate.
    anchor: Path | None = None

    @property
    def journal(self) -> Path:
        return _beside(self.anchor or self.certificate, _SWAP)

    @property
    def lock(self) -> Path:
        return _beside(self.anchor or self.certificate, ".albca-lock")

    def journals(self) -> list[Path]:
        """Where a journal of these files may be: the pair's own, and the one beside each
        certificate file (where a process given that file as ``--cert`` before its
        siblings were known, or an older albca, wrote it)."""
        found = [self.journal]
        for path in self.certificate_files():
            if _beside(path, _SWAP) not in found:
                found.append(_beside(path, _SWAP))
        return found

    def certificate_files(self) -> list[Path]:
        return [self.certificate, *self.also]

    def files(self) -> list[Path]:
        return [*self.certificate_files(), self.key, *([self.chain] if self.chain else [])]

    def absolute(self) -> PairPaths:
        # Path.absolute, not resolve: a symlinked file is replaced where the user named it,
        # as os.replace on the given path always did.
        return PairPaths(
            certificate=self.certificate.absolute(),
            key=self.key.absolute(),
            chain=self.chain.absolute() if self.chain else None,
            also=tuple(path.absolute() for path in self.also),
            anchor=self.anchor.absolute() if self.anchor else None,
        )


def pair_with_siblings(certificate: Path, key: Path, chain: Path | None = None) -> PairPaths:
    """The pair at ``certificate`` and ``key``; when they are files ``albca request`` wrote
    (``NAME.crt.pem`` or ``NAME.fullchain.pem`` beside ``NAME.key.pem``), with those of
    its other files that exist, so that a renewal replaces them together."""
    family = _request_family(certificate, key)
    if family is None:
        return PairPaths(certificate=certificate, key=key, chain=chain)
    also = tuple(
        path
        for path in (family["certificate"], family["fullchain"])
        if not _same_path(path, certificate) and path.exists()
    )
    if chain is None and family["chain"].exists():
        chain = family["chain"]
    return PairPaths(
        certificate=certificate, key=key, chain=chain, also=also, anchor=family["certificate"]
    )


def _request_family(certificate: Path, key: Path) -> dict[str, Path] | None:
    for label in ("certificate", "fullchain"):
        suffix = _REQUEST_SUFFIXES[label]
        base = certificate.name.removesuffix(suffix)
        if certificate.name.endswith(suffix) and base:
            family = new_file_paths(certificate.parent, base, with_p12=False)
            if _same_path(family["private_key"], key):
                return family
    return None


def _same_path(a: Path, b: Path) -> bool:
    return os.path.abspath(a) == os.path.abspath(b)


def _beside(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


@dataclass(frozen=True)
class HeldPair:
    certificate: x509.Certificate
    key: CAKey


def recover(paths: PairPaths) -> None:
    """Finish a replacement a killed process left half done, or discard one it never
    committed (see the module's docstring). A journal whose files cannot be found is
    refused (``UnreadableFile`` naming it) and nothing is deleted."""
    for journal in paths.journals():
        if journal.exists():
            _finish(journal)
    for path in paths.files():
        # No journal: these were never committed, and the old files are whole.
        with contextlib.suppress(FileNotFoundError):
            _beside(path, _NEW).unlink()
    for journal in paths.journals():
        with contextlib.suppress(FileNotFoundError):
            _beside(journal, ".tmp").unlink()


def _finish(journal: Path) -> None:
    moves = _read_journal(journal)
    lost = [target for temporary, target in moves if not (temporary.exists() or target.exists())]
    if lost:
        # Neither the new file nor the one it replaces: these are not the journal's files
        # (moved, or another directory). Deleting it and the temporaries could destroy
        # the only copy of a new key, so a person must look.
        raise UnreadableFile(
            f"{journal}: a half-done replacement of files that are not there "
            f"({', '.join(str(path) for path in lost)}); nothing was changed: finish it by "
            "hand (rename each NAME.albca-new over NAME) or remove the journal"
        )
    for temporary, target in moves:
        if temporary.exists():
            os.replace(temporary, target)
    _fsync_dirs(target.parent for _, target in moves)
    journal.unlink()


def _read_journal(journal: Path) -> list[tuple[Path, Path]]:
    """The journal's moves, as absolute paths."""
    try:
        raw = json.loads(journal.read_text())
        moves = [(str(temporary), str(target)) for temporary, target in raw]
    except (OSError, ValueError, TypeError):
        raise UnreadableFile(f"{journal}: a damaged replacement journal") from None
    if not moves:
        raise UnreadableFile(f"{journal}: a damaged replacement journal")
    if all(Path(target).is_absolute() for _, target in moves):
        return [(Path(temporary), Path(target)) for temporary, target in moves]
    writer = _writer_directory(journal, moves[0][1])
    if writer is None:
        raise UnreadableFile(
            f"{journal}: a half-done replacement journal with paths relative to a directory "
            "that cannot be told; nothing was changed: finish it by hand (rename each "
            "NAME.albca-new over NAME) or remove the journal"
        )
    return [(writer / temporary, writer / target) for temporary, target in moves]


def _writer_directory(journal: Path, first_target: str) -> Path | None:
    """The directory an older albca wrote a relative journal from: it named the journal
    after its first target (the certificate) as given, so the journal's absolute path ends
    with that relative path; what comes before is the writer's directory."""
    written_as = Path(first_target + _SWAP).parts
    here = journal.absolute().parts
    if ".." in written_as or len(written_as) >= len(here):
        return None
    if here[-len(written_as) :] != written_as:
        return None
    return Path(*here[: -len(written_as)])


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
    """Replace the files as the module's docstring says. ``certificate_pem`` is the leaf:
    each certificate file keeps its shape (a full chain, leaf then issuing CAs, as nginx's
    ssl_certificate and HAProxy read it, stays a full chain). ``step`` is called between
    the steps with their names (tests kill the process there)."""
    # Absolute, so the journal names the same files from any directory (a recovery may
    # run from another one: a systemd unit's "/").
    paths = paths.absolute()
    moves: list[tuple[Path, Path]] = []
    contents = [
        (path, _certificate_file(path, certificate_pem, chain_pem))
        for path in paths.certificate_files()
    ]
    if key_pem is not None:
        contents.append((paths.key, key_pem))
    if paths.chain is not None and chain_pem is not None:
        contents.append((paths.chain, chain_pem))
    for target, data in contents:
        temporary = _beside(target, _NEW)
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


def _certificate_file(path: Path, leaf_pem: bytes, chain_pem: bytes | None) -> bytes:
    if chain_pem and _holds_a_chain(path):
        return leaf_pem + chain_pem
    return leaf_pem


def _holds_a_chain(path: Path) -> bool:
    try:
        return path.read_bytes().count(b"-----BEGIN CERTIFICATE-----") > 1
    except FileNotFoundError:
        return False


def base_name(explicit: str | None, names: RequestedNames) -> str:
    """The files' base name: the one given, else the first name certified (the same
    names ``albca issue`` writes)."""
    candidate = explicit or names.common_name or next(iter(names.dns_names), None)
    if candidate is None:
        candidate = str(names.ip_addresses[0]) if names.ip_addresses else "certificate"
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", candidate.replace("*", "wildcard")).strip("._")
    return safe or "certificate"


def new_file_paths(out: Path, base: str, *, with_p12: bool) -> dict[str, Path]:
    paths = {label: out / f"{base}{suffix}" for label, suffix in _REQUEST_SUFFIXES.items()}
    if with_p12:
        paths["pkcs12"] = out / f"{base}.p12"
    return paths


def write_new_file(path: Path, data: bytes, *, private: bool, force: bool) -> None:
    """A file of a new certificate (``albca request``): keys and PKCS#12 files mode 0600."""
    if path.exists() and not force:
        raise FileExistsError(path)
    temporary = _beside(path, _NEW)
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
    temporary = _beside(journal, ".tmp")
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
