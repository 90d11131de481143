"""The registry's errors, rooted in :class:`gcx.errors.GCXError` (the CLI prints one ``error:`` line).

* :class:`RegistryError` — the base.
* :class:`RegistryStoreError` — the registry's database file cannot be used (empty, not SQLite,
  another application's, structurally damaged): the coordinator refuses to start (exit 2).
* :class:`StoredRecordError` — one provider's stored row or advert does not decode: the registry
  leaves that provider out until it advertises again, and never answers a 500 for it.

Pure: the core imports this module.
"""

from __future__ import annotations

from gcx.errors import GCXError

__all__ = ["RegistryError", "RegistryStoreError", "StoredRecordError"]


class RegistryError(GCXError):
    """Base of every registry error."""


class RegistryStoreError(RegistryError):
    """The registry's database file cannot be used as it is."""

    def __init__(self, path: object, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


class StoredRecordError(RegistryError):
    """One provider's stored record is damaged (a column of the wrong type, an advert that does not
    decode or disagrees with its row)."""

    def __init__(self, peer_id: str, reason: str) -> None:
        super().__init__(f"the stored record of provider {peer_id} is damaged: {reason}")
        self.peer_id = peer_id
        self.reason = reason
