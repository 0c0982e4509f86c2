"""Commands cannot change the store.

A deployment (or a runbook run) gives its commands a folder of their own under
``.trainmaster/work`` with one name per package, ``$TRAINMASTER_PACKAGE_*``, made
in this order of preference:

1. a **reflink copy** (Linux ``ioctl(FICLONE)``: btrfs, XFS with reflinks,
   bcachefs…): a file of its own that shares the stored blocks copy-on-write, made
   in constant time whatever the size. Nothing a command does to it reaches the
   store, so it is not checked afterwards.
2. otherwise a **read-only hard link** to the stored blob (no copy, whatever the
   size). ``sed -i``, ``mv`` or ``rm`` only change the link, but a command can make
   the file writable and edit it in place, which changes the stored blob. So after
   the commands (deploy, smoke, monitor; those of a rollback too) every blob given
   this way is **re-hashed**, and one a command gave another name (``mv`` into place)
   is replaced in the store by a checked copy of its own (:func:`unshare`). A changed
   blob fails the deployment (exit 4, naming the package), is moved to
   ``store/quarantine/<digest hex>.<deployment>`` (kept for inspection; the store no
   longer has it, so no later deployment or rollback can use it), and the next
   ``release create`` or ``release fetch`` of a release that needs it puts the pinned
   bytes back, from the build's file or the remote, and says so.
3. a read-only copy when the work folder and the store are on different file systems.

``TRAINMASTER_REFLINK=0`` skips the reflink (a read-only link, re-hashed).

A run killed after its commands (``kill -9``, OOM, a lost runner) never re-hashes: the next
command that finds it dead calls :func:`abandoned`, which re-hashes each stored blob its work
folder still holds a hard link to (or that is no longer read-only) before removing the folder,
and quarantines a changed one under the dead run's label. ``gc`` removes quarantined copies
under the policy of :mod:`trainmaster.retention` (:func:`quarantine_files` lists them).

The check re-hashes rather than comparing size, mtime, ctime and inode: those can
miss a same-size rewrite on a file system with coarse timestamps or after the clock
was set back, and the cost is one more pass of the hash the deployment already made
before its commands: 0.4-1.6 s for 512 MiB on a shared 2-core machine, 1.0-1.25 times
that first check (``bench/bench_core_store_guard.py``; a stat takes 1-5 µs).
"""

from __future__ import annotations

import os
import re
import stat
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from trainmaster.errors import EXIT_INTEGRITY, DeploymentFailed, DigestMismatch, InvalidInput

if TYPE_CHECKING:
    from trainmaster.interfaces import PackagePlan
    from trainmaster.model import Package
    from trainmaster.store import Staged, Store

FICLONE = 0x40049409  # _IOW(0x94, 9, int), linux/fs.h
READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH

Clone = Callable[[Path, Path], bool]
QUARANTINE_NAME = re.compile(r"([0-9a-f]{64})\.((?:deployment|runbook)-[0-9]+)(?:\.[0-9]+)?")
"""What :func:`quarantine` names a copy: ``<digest hex>.<label>``, ``.<n>`` when that name was taken."""


class StoreChanged(DeploymentFailed):
    """A deployment's commands changed a stored blob through its link (exit 4, not 1)."""

    exit_code = EXIT_INTEGRITY


def clone_file(source: Path, target: Path) -> bool:
    """Make ``target`` (which must not exist) a reflink copy of ``source``; False, leaving nothing, where unsupported.

    Linux only (``FICLONE``); any error of the clone itself (another file system,
    no reflink support, an old kernel) means "not here": the caller falls back.
    """
    if not sys.platform.startswith("linux"):
        return False
    import fcntl

    with open(source, "rb") as reader:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, READ_ONLY)
        try:
            fcntl.ioctl(fd, FICLONE, reader.fileno())
        except OSError:
            os.close(fd)
            target.unlink()
            return False
        os.close(fd)
    return True


def reflinks_wanted(environ: Mapping[str, str]) -> bool:
    """``TRAINMASTER_REFLINK``: unset or ``1`` (try reflinks), ``0`` (read-only links only); else exit 2."""
    value = environ.get("TRAINMASTER_REFLINK", "").strip()
    if value not in ("", "0", "1"):
        raise InvalidInput(f"TRAINMASTER_REFLINK must be 0 or 1, not {value[:20]!r}")
    return value != "0"


class StoreGuard:
    """The links one deployment (and its rollback) gave its commands, and the check after them."""

    def __init__(self, store: Store, environ: Mapping[str, str], *, clone: Clone = clone_file) -> None:
        self.store = store
        self.clone: Clone | None = clone if reflinks_wanted(environ) else None
        self.linked: dict[str, str] = {}  # digest -> package name: blobs given by hard link
        self.folder: Path | None = None
        self.label = ""
        self.changed: list[str] = []  # every problem found, across the deployment and its rollback

    def give(self, stored: Path, target: Path) -> str:
        """Give ``stored`` the new name ``target``: ``reflink``, else ``link`` (read-only), else ``copy``."""
        if self.clone is not None and self.clone(stored, target):
            return "reflink"
        try:
            os.link(stored, target)
        except OSError:  # another file system: a copy, which never overwrites either
            from trainmaster.record import copy_new

            copy_new(stored, target)
            os.chmod(target, READ_ONLY)
            return "copy"
        return "link"

    def workspace(self, state_dir: Path, label: int | str, plan: list[PackagePlan]) -> Path:
        """A fresh folder with one name per package of ``plan``; each item's ``path`` then points there."""
        import tempfile

        from trainmaster.record import inside

        parent = state_dir / "work"
        parent.mkdir(parents=True, exist_ok=True)
        self.folder = Path(tempfile.mkdtemp(prefix=f"{label}-", dir=parent))  # never a leftover of another run
        self.label = f"deployment-{label}" if isinstance(label, int) else str(label)
        for item in plan:
            link = inside(self.folder, item.package.name, item.package.file_name)
            link.parent.mkdir(parents=True, exist_ok=True)
            try:
                how = self.give(item.path, link)
            except FileNotFoundError:  # quarantined by a concurrent deployment since it was verified
                raise DigestMismatch(f"package {item.package.name!r} {item.package.digest} left the store after "
                                     "it was verified (another deployment's commands changed it?)") from None
            if how == "link":
                self.linked.setdefault(item.package.digest, item.package.name)
            item.stored, item.path = item.stored or item.path, link
        return self.folder

    def finish(self) -> dict[str, str]:
        """Remove the work folder, re-hash each blob given by hard link, quarantine a changed one.

        Returns a message per package whose blob changed (or vanished), also kept in :attr:`changed`.
        """
        from trainmaster.store import hash_file

        if self.folder is not None:
            remove_tree(self.folder)
            self.folder = None
        found: dict[str, str] = {}
        for digest, name in self.linked.items():
            path = self.store.path_for(digest)
            if path.is_file() and stat.S_IMODE(path.stat().st_mode) != READ_ONLY:
                os.chmod(path, READ_ONLY)  # its mode was changed through the link (even to 000): read-only again
            if path.is_file() and hash_file(path)[0] == digest:
                if path.stat().st_nlink > 1:
                    unshare(path, digest)
                continue
            if path.is_file():
                kept = quarantine(self.store, digest, self.label)
                found[name] = (f"the commands changed the stored blob of package {name!r} ({digest}) through "
                               f"its read-only link; it is kept in quarantine at {kept}")
            else:
                elsewhere = quarantined(self.store, digest)
                where = f" (in quarantine at {elsewhere[-1]})" if elsewhere else ""
                found[name] = (f"the stored blob of package {name!r} ({digest}) changed or vanished while the "
                               f"commands ran{where}")
        self.linked.clear()
        if found:
            last = list(found)[-1]
            found[last] += ("; `trainmaster release create` (from the build) or `trainmaster release fetch` of a "
                            "release that needs it restores it")
        self.changed.extend(found.values())
        return found

    def failure(self, message: str, then: str = "", deployment: object = None, rollback: object = None) -> StoreChanged:
        """The exit-4 error for a run whose commands changed the store: ``message: what changed; then``."""
        text = f"{message}: " + "; ".join(self.changed) + (f"; {then}" if then else "")
        return StoreChanged(text, deployment=deployment, rollback=rollback)


def unshare(path: Path, digest: str) -> None:
    """Give the store a file of its own for ``path`` when another name still shares its inode.

    Once the work folder is gone, a second link is a name a command made for the blob (``mv`` or
    ``ln`` of ``$TRAINMASTER_PACKAGE_*`` into place, or another deployment's work folder): a later
    write in place through it (the next deploy's ``cp`` as root, the app itself) would change the
    stored bytes. A checked copy replaces the store's name; the other names keep the old inode.
    """
    import secrets

    from trainmaster.record import copy_new
    from trainmaster.store import _fsync_dir, hash_file

    fresh = path.with_name(f".{path.name}.{secrets.token_hex(4)}.unshare")
    try:
        copy_new(path, fresh)
        if hash_file(fresh)[0] != digest:  # changed while it was copied: left for the next check to find
            return
        os.chmod(fresh, READ_ONLY)
        try:
            os.replace(fresh, path)
        except OSError:  # Windows does not replace a read-only file: the store keeps the shared name
            return
        _fsync_dir(path.parent)
    finally:
        fresh.unlink(missing_ok=True)


def quarantine(store: Store, digest: str, label: str) -> Path:
    """Move the blob of ``digest`` out of the store into ``quarantine/`` (never over another file)."""
    from trainmaster.store import _fsync_dir

    source = store.path_for(digest)
    folder = store.root / "quarantine"
    folder.mkdir(parents=True, exist_ok=True)
    hexd = digest.split(":", 1)[1]
    n = 0
    while True:
        target = folder / (f"{hexd}.{label}" + (f".{n}" if n else ""))
        try:
            os.link(source, target)
            break
        except FileExistsError:
            n += 1
    os.unlink(source)
    _fsync_dir(source.parent)
    _fsync_dir(folder)
    return target


def quarantined(store: Store, digest: str) -> list[Path]:
    """The changed copies of ``digest``'s blob kept in quarantine, oldest first."""
    folder = store.root / "quarantine"
    if not folder.is_dir():
        return []
    hexd = digest.split(":", 1)[1]
    return sorted(folder.glob(f"{hexd}.*"), key=lambda p: p.stat().st_mtime_ns)


def abandoned(store: Store, folder: Path, label: str, packages: Iterable[Package]) -> dict[str, str]:
    """Remove the work folder of a run whose process died, after checking what its commands could change.

    The run never got to :meth:`StoreGuard.finish`. Each of ``packages`` (the run's release) whose
    stored blob the folder still holds a hard link to (same device and inode, under any name; a
    symbolic link is never followed), or whose stored blob is no longer read-only (made writable
    through a link since removed), or still has a second link (one moved out of the folder), goes
    through that check: re-hashed, and quarantined under
    ``label`` when it changed. A reflink or plain copy is the run's own: nothing to check.
    Returns a message per changed package, as :meth:`StoreGuard.finish` does.
    """
    inodes: set[tuple[int, int]] = set()
    walked = [] if os.path.islink(folder) else os.walk(folder)  # never into a linked folder (followlinks=False)
    for top, _dirs, names in walked:
        for name in names:
            try:
                st = os.lstat(os.path.join(top, name))
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                inodes.add((st.st_dev, st.st_ino))
    guard = StoreGuard(store, {"TRAINMASTER_REFLINK": "0"})
    guard.folder, guard.label = folder, label
    for pkg in packages:
        try:
            st = os.lstat(store.path_for(pkg.digest))
        except OSError:  # not in the store (quarantined already, or deleted): nothing of it to check
            continue
        # linked from the folder, made writable, or still linked from anywhere (a link moved out of the folder)
        if (st.st_dev, st.st_ino) in inodes or stat.S_IMODE(st.st_mode) != READ_ONLY or st.st_nlink > 1:
            guard.linked.setdefault(pkg.digest, pkg.name)
    return guard.finish()


@contextmanager
def reaping(lock_dir: Path) -> Iterator[bool]:
    """One process at a time checks and removes dead runs' work folders (an OS lock, freed if it dies).

    Yields whether this process holds the lock. Nobody waits for it: the holder is doing that very
    work (and may be stopped: Ctrl-Z, SIGSTOP), so a command that finds it taken leaves the folders
    to it or to a later command.
    """
    from trainmaster.locks import _try_lock

    lock_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_dir / "work-folders.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        yield _try_lock(fd)
    finally:
        os.close(fd)  # closing the descriptor drops the lock


def quarantine_files(store: Store) -> list[tuple[str, Path, str, os.stat_result]]:
    """The copies kept in ``quarantine/``: (name, path, digest, lstat), oldest change first.

    Names there are data: anything but a regular file named ``<digest hex>.<label>`` (a symbolic
    link, a folder, another name) is skipped with a warning, and the folder itself must not be a link.
    """
    folder = store.root / "quarantine"
    try:
        st = os.lstat(folder)
    except FileNotFoundError:
        return []
    if not stat.S_ISDIR(st.st_mode):
        print(f"warning: {folder} is not a folder (a symbolic link?): quarantined copies not examined",
              file=sys.stderr)
        return []
    found = []
    with os.scandir(folder) as listing:
        entries = sorted(listing, key=lambda e: e.name)
    for entry in entries:
        match = QUARANTINE_NAME.fullmatch(entry.name)
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if match is None or not stat.S_ISREG(st.st_mode):
            from trainmaster._output import data

            print(f"warning: skipped {data(repr(entry.name))} in {folder}: not a quarantined copy (a regular file "
                  "named <digest hex>.<label>)", file=sys.stderr)
            continue
        found.append((entry.name, Path(entry.path), f"sha256:{match[1]}", st))
    return sorted(found, key=lambda f: f[3].st_ctime_ns)


def verify_package(store: Store, pkg: Package) -> Path:
    """:meth:`Store.verify`, saying so when the blob is missing because it was quarantined (exit 4)."""
    if not store.has(pkg.digest):
        kept = quarantined(store, pkg.digest)
        if kept:
            raise DigestMismatch(f"package {pkg.name!r} {pkg.digest} is not in the store: commands changed it and "
                                 f"it was quarantined at {kept[-1]}; restore it with `trainmaster release create` "
                                 "(from the build) or `trainmaster release fetch`")
    return store.verify(pkg.digest, name=pkg.name)


def commit(store: Store, staged: Staged, name: str, source: str, out: Callable[[str], object]) -> None:
    """:meth:`Store.commit`; when that puts a quarantined blob back, say so on ``out``."""
    missing = not store.has(staged.digest)
    store.commit(staged)
    kept = quarantined(store, staged.digest) if missing else []
    if kept:
        out(f"restored package {name!r} ({staged.digest}) to the store from {source}; "
            f"the changed copy stays in quarantine at {kept[-1]}\n")


def remove_tree(folder: Path) -> None:
    """Remove a deployment's work folder (read-only links included).

    The commands had the folder: one they removed is done, one they replaced by a symbolic link
    loses the link only (what it points at is neither changed nor removed).
    """
    import shutil

    def writable_then_retry(func: Callable[..., object], path: str, exc: object) -> None:
        error = exc[1] if isinstance(exc, tuple) else exc  # onerror's exc_info (3.11), onexc's exception
        if isinstance(error, FileNotFoundError):
            return
        if os.path.islink(path):  # never chmod through a link: os.chmod follows it
            os.unlink(path)
            return
        os.chmod(path, stat.S_IWRITE | stat.S_IREAD)  # Windows refuses to delete read-only links
        func(path)

    if sys.version_info >= (3, 12):
        shutil.rmtree(folder, onexc=writable_then_retry)
    else:
        shutil.rmtree(folder, onerror=writable_then_retry)
