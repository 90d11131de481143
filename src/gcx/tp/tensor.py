"""Tensor types of GCX tensor programs (docs/gcx-tp.md, "Tensors").

A tensor is a row-major (C-contiguous) array of ``int8`` or ``int32`` elements of rank 1 or 2;
every dimension is at least 1 and a tensor holds at most :data:`MAX_TENSOR_ELEMENTS` elements.
A rank-1 tensor of length ``n`` is one row of ``n`` elements. Values travel between the program
and the executors as :class:`numpy.ndarray`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from .errors import TensorValueError

DType = Literal["int8", "int32"]
DTYPES: tuple[DType, ...] = ("int8", "int32")
ITEMSIZE: dict[DType, int] = {"int8": 1, "int32": 4}
DTYPE_RANGE: dict[DType, tuple[int, int]] = {"int8": (-(2**7), 2**7 - 1), "int32": (-(2**31), 2**31 - 1)}

MAX_RANK = 2
MAX_TENSOR_ELEMENTS = 2**26


@dataclass(frozen=True, slots=True)
class TensorType:
    """The dtype and shape of a tensor (validated by :func:`tensor_type`)."""

    dtype: DType
    shape: tuple[int, ...]

    @property
    def elements(self) -> int:
        """Number of elements (the product of the dimensions)."""
        out = 1
        for d in self.shape:
            out *= d
        return out

    @property
    def nbytes(self) -> int:
        """Bytes of the tensor's row-major little-endian encoding."""
        return self.elements * ITEMSIZE[self.dtype]

    @property
    def rows(self) -> int:
        """Number of rows: the first dimension of a matrix, 1 for a vector."""
        return self.shape[0] if len(self.shape) == 2 else 1

    def describe(self) -> str:
        """E.g. ``int8[4,16]``."""
        return f"{self.dtype}[{','.join(map(str, self.shape))}]"


def check_value(value: object, expected: TensorType, what: str) -> np.ndarray:
    """``value`` if it is a C-contiguous ndarray of ``expected``'s dtype and shape;
    :class:`TensorValueError` naming ``what`` otherwise."""
    if not isinstance(value, np.ndarray):
        raise TensorValueError(f"{what} must be a numpy array, got a {type(value).__name__}")
    if value.dtype != np.dtype(expected.dtype) or value.shape != expected.shape:
        got = f"{value.dtype}[{','.join(map(str, value.shape))}]"
        raise TensorValueError(f"{what} is {got}, expected {expected.describe()}")
    if not value.flags.c_contiguous:
        raise TensorValueError(f"{what} must be C-contiguous (row-major)")
    return value
