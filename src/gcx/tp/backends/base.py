"""The narrow interface every GCX-TP executor implements (pure Python, NumPy, CuPy).

Theory of operation: a backend holds tensors in its own representation (``Any`` here: Python
lists, NumPy arrays, CuPy device arrays). :func:`gcx.tp.execute.execute` moves the inputs in
with :meth:`Backend.load`, calls one method per op in program order, and brings every tensor
back with :meth:`Backend.fetch` as a C-contiguous NumPy array. A backend implements the exact
integer semantics of docs/gcx-tp.md and nothing else: operands are already checked against the
program (dtypes, shapes), so the methods do not re-validate them.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from ..commit import TensorCommitment


class Backend(Protocol):
    """One executor of the GCX-TP operations."""

    name: str

    def load(self, value: np.ndarray) -> Any:
        """A host array (int8 or int32, C-contiguous) in the backend's representation."""
        ...

    def fetch(self, value: Any) -> np.ndarray:
        """A backend tensor as a C-contiguous host array of its dtype and shape."""
        ...

    def matmul_nt(self, a: Any, b: Any) -> Any:
        """int8 A[m,k], int8 B[n,k] → int32 A·Bᵀ, exact."""
        ...

    def add(self, x: Any, y: Any) -> Any:
        """int32 X + Y (Y: X's shape, or one row broadcast over X's rows), wrapping."""
        ...

    def relu(self, x: Any) -> Any:
        """int32 max(x, 0)."""
        ...

    def requant(self, x: Any, multiplier: int, shift: int, zero_point: int) -> Any:
        """int32 → int8, see docs/gcx-tp.md."""
        ...

    def argmax(self, x: Any) -> Any:
        """int32 X[m,n] → int32[m], lowest index on ties."""
        ...

    def commit(self, tensor_id: int, value: np.ndarray) -> TensorCommitment:
        """The commitment of a host tensor, equal to :func:`gcx.tp.commit.commit_tensor`'s
        (the CPU backends call it; CuPy hashes on the GPU)."""
        ...
