"""Every test gets a private runtime directory (simulator discovery files live there)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def private_runtime_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    # its own MonkeyPatch: the test's ``monkeypatch`` keeps its own teardown order
    folder = tmp_path_factory.mktemp("runtime")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LABCTL_RUNTIME_DIR", str(folder))
        yield folder
