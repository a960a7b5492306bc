"""The Lava backend on a Python other than 3.10: a clear error, not a dataclass traceback.

Runs on every Python (no Lava needed)."""

import sys

import pytest

from sdt_neuro.errors import MissingBackendError


def test_lava_on_another_python_says_why(monkeypatch):
    from sdt_neuro.backends.lava.build import require_lava

    monkeypatch.setattr(sys, "version_info", (3, 12, 1, "final", 0))
    with pytest.raises(MissingBackendError, match=r"needs Python 3\.10.*archived upstream.*this is Python 3\.12"):
        require_lava()


@pytest.mark.skipif(sys.version_info[:2] == (3, 10), reason="Lava itself supports Python 3.10")
def test_using_the_backend_here_raises_the_python_error():
    import sdt_neuro.backends.lava as backend

    with pytest.raises(MissingBackendError, match="Python 3.10"):
        backend.evaluation_activity  # noqa: B018
