"""The installed package's requirements (pyproject.toml as pip read it)."""

from importlib.metadata import requires

from packaging.requirements import Requirement


def numpy_caps(python_version: str, extra: str) -> list[str]:
    """The numpy specifiers ``pip install sdt-neuro[extra]`` applies on ``python_version``."""
    env = {"python_version": python_version, "python_full_version": f"{python_version}.0", "extra": extra}
    found = [Requirement(text) for text in requires("sdt-neuro") or []]
    return [str(r.specifier) for r in found if r.name == "numpy" and (r.marker is None or r.marker.evaluate(env))]


def test_numpy_is_held_below_2_only_where_lava_nc_runs():
    assert "<2" in numpy_caps("3.10", "lava")  # lava-nc 0.10 is built against numpy 1.x
    for version in ("3.12", "3.13"):  # no lava-nc there, and numpy 1.x has no 3.13 wheels
        assert not any("<2" in spec for spec in numpy_caps(version, "lava")), version
