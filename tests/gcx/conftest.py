"""Shared fixtures of the gcx core tests: an isolated home folder and the shipped profile's data."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

import pytest

from gcx.paths import default_reference_path
from gcx.reference import ReferenceProfile, load_profile

_REFERENCE_DATA = tomllib.loads(default_reference_path().read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def shipped_profile() -> ReferenceProfile:
    return load_profile()


@pytest.fixture
def ref_data() -> dict[str, Any]:
    """A private, mutable copy of the shipped reference profile as read from TOML."""
    return copy.deepcopy(_REFERENCE_DATA)


@pytest.fixture
def gcx_home(isolated_home: Path) -> Path:
    """``$GCX_HOME`` pointing at a fresh folder, with no other GCX settings in the environment."""
    return isolated_home
