"""Which code produced a run: labctl's version and, in a git checkout, the commit."""

from __future__ import annotations

from pathlib import Path

from labctl import __version__


def code_version(start: Path | None = None) -> str:
    """``labctl 0.1.0 (git 1a2b3c4)``, reading ``.git`` files (no subprocess)."""
    commit = _git_commit(start or Path(__file__).resolve().parent)
    return f"labctl {__version__}" + (f" (git {commit[:12]})" if commit else "")


def _git_commit(start: Path) -> str | None:
    for folder in (start, *start.parents):
        git = folder / ".git"
        if not git.is_dir():
            continue
        try:
            head = (git / "HEAD").read_text().strip()
            if not head.startswith("ref: "):
                return head
            ref = head[5:]
            ref_file = git / ref
            if ref_file.is_file():
                return ref_file.read_text().strip()
            packed = git / "packed-refs"
            if packed.is_file():
                for line in packed.read_text().splitlines():
                    if line.endswith(" " + ref):
                        return line.split()[0]
        except OSError:
            return None
        return None
    return None
