"""A folder written completely beside its destination, then renamed into place.

`staged_folder` checks the destination first (a file, or a non-empty folder
without ``force``, is refused), yields a fresh sibling folder to write into,
and on success fsyncs what was written and renames it to the destination.
On any failure the sibling is removed and the destination is untouched, so
nobody ever sees a half-written folder.

Replacing a non-empty folder (``force``) takes two renames: the old folder
moves aside, the new one takes its name, the old one is deleted. Between
the two the destination is briefly absent, never partial. Only a folder
that `is_replaceable` says may go is replaced — ``--force`` pointed at a home
directory by mistake must not delete it.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

from labctl.errors import LabctlError

log = logging.getLogger(__name__)


class OutputFolderError(LabctlError):
    """The destination folder cannot be written or replaced."""


@contextlib.contextmanager
def staged_folder(target: Path, force: bool = False,
                  is_replaceable: Callable[[Path], bool] = lambda _: True) -> Iterator[Path]:
    """Yield an empty folder beside ``target``; rename it to ``target`` when the block ends."""
    target = Path(target)
    _check_target(target, force, is_replaceable)
    created = _make_parents(target.parent)
    staging = target.parent / f".{target.name}.{os.getpid()}-{secrets.token_hex(4)}.partial"
    try:
        staging.mkdir()
    except OSError as error:
        _remove_empty(created)
        raise OutputFolderError(f"cannot write the folder {target}: "
                                f"{_reason(error)}") from None
    try:
        yield staging
        _sync_tree(staging)
        _publish(staging, target, force, is_replaceable)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        _remove_empty(created)
        raise
    _sync_folder(target.parent)


def is_empty_folder(path: Path) -> bool:
    """True for an existing folder with nothing in it."""
    try:
        return path.is_dir() and not any(path.iterdir())
    except OSError:
        return False


def _check_target(target: Path, force: bool, is_replaceable: Callable[[Path], bool]) -> None:
    if target.exists() and not target.is_dir():
        raise OutputFolderError(f"{target} is a file, not a folder")
    if not target.is_dir() or is_empty_folder(target):
        return
    if not force:
        raise OutputFolderError(f"{target} exists and is not empty (--force replaces it)")
    if not is_replaceable(target):
        raise OutputFolderError(f"{target} is not empty and does not hold a report; "
                                "refusing to replace it even with --force")


def _publish(staging: Path, target: Path, force: bool,
             is_replaceable: Callable[[Path], bool]) -> None:
    try:
        os.rename(staging, target)     # succeeds onto a missing or empty folder
        return
    except OSError as error:
        if error.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise OutputFolderError(f"cannot put the folder {target} in place: "
                                    f"{_reason(error)}") from None
    if not force:                      # something was written into it meanwhile
        raise OutputFolderError(f"{target} exists and is not empty (--force replaces it)")
    _check_target(target, force, is_replaceable)   # it is still what we agreed to replace
    aside = target.parent / f".{target.name}.{os.getpid()}-{secrets.token_hex(4)}.old"
    try:
        os.rename(target, aside)
    except OSError as error:
        raise OutputFolderError(f"cannot move the old folder {target} aside: "
                                f"{_reason(error)}") from None
    try:
        os.rename(staging, target)
    except OSError as error:
        os.rename(aside, target)
        raise OutputFolderError(f"cannot put the folder {target} in place: "
                                f"{_reason(error)}") from None
    shutil.rmtree(aside, ignore_errors=True)
    log.info("replaced %s", target)


def _make_parents(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; the folders created, deepest first."""
    missing = []
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            break
        missing.append(candidate)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        _remove_empty(missing)
        raise OutputFolderError(f"cannot create the folder {folder}: {_reason(error)}") from None
    return missing


def _remove_empty(folders: list[Path]) -> None:
    for folder in folders:
        with contextlib.suppress(OSError):
            folder.rmdir()


def _sync_tree(root: Path) -> None:
    """fsync every file and folder under ``root`` (so the rename publishes data, not holes)."""
    for folder, _, files in os.walk(root):
        for name in files:
            descriptor = os.open(os.path.join(folder, name), os.O_RDONLY)
            try:
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
        _sync_folder(Path(folder))


def _sync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):     # not every file system syncs folders
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def _reason(error: OSError) -> str:
    return error.strerror or type(error).__name__
