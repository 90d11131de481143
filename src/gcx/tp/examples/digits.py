"""A real GCX-TP job: a small MLP classifier of handwritten digits, quantized to int8.

:func:`digits_job` trains a 64-128-10 ReLU MLP (scikit-learn's ``MLPClassifier``) on the
digits data set bundled with scikit-learn (8×8 images, no download), quantizes it and writes
the held-out test images as a GCX-TP job:

* input ``x``: the test images, pixel ``p ∈ 0..16`` as ``round(p · 127 / 16)`` (int8 0..127);
* ``w1 int8[128,64]``, ``w2 int8[10,128]``: weights with one symmetric per-tensor scale each,
  ``s_w = max|W| / 127``; ``b1``, ``b2`` int32: biases in the accumulator's scale;
* the hidden activations are requantized to int8 with scale ``s_h`` (the largest hidden
  activation on the training set / 127) by an int32 multiplier and a right shift, zero point 0;
* ops: ``matmul_nt → add b1 → relu → requant → matmul_nt → add b2 → argmax``; outputs
  ``logits`` (int32[n,10]) and ``pred`` (int32[n]).

The job's evaluation carries the true labels and the float model's predictions, so a run
reports the integer program's accuracy and its agreement with the float model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from gcx.errors import ConfigError

from ..attest import commit_inputs
from ..jobfile import Evaluation, JobFile, make_job
from ..ops import Add, Argmax, MatmulNT, Op, Relu, Requant
from ..program import InputDecl, OutputDecl, make_program
from ..tensor import TensorType

HIDDEN = 128
PIXEL_MAX = 16


@dataclass(frozen=True, slots=True)
class DigitsModel:
    """What :func:`digits_job` trained, for reporting."""

    train_images: int
    test_images: int
    float_accuracy: float


def _sklearn() -> Any:
    try:
        from sklearn import datasets, model_selection, neural_network
    except ImportError:
        raise ConfigError(
            "the digits example needs scikit-learn: pip install 'gcx[examples]' (or scikit-learn==1.9.1)"
        ) from None
    return datasets, model_selection, neural_network


def requant_params(scale: float) -> tuple[int, int]:
    """The ``(multiplier, shift)`` with ``multiplier / 2**shift`` closest to ``scale`` (> 0),
    ``multiplier`` in ``[2**30, 2**31)`` (full int32 precision), ``shift`` in ``0..62``."""
    if not 0 < scale < 2**31:
        raise ConfigError(f"a requant scale of {scale} cannot be represented")
    shift = min(62, max(0, 30 - math.floor(math.log2(scale))))
    multiplier = round(scale * 2**shift)
    while multiplier >= 2**31:  # rounding up crossed the top
        shift -= 1
        multiplier = round(scale * 2**shift)
    return multiplier, shift


def _q_weights(w: np.ndarray) -> tuple[np.ndarray, float]:
    scale = float(np.abs(w).max()) / 127 or 1.0
    return np.clip(np.round(w / scale), -127, 127).astype(np.int8), scale


def digits_job(seed: int = 0, test_fraction: float = 0.2) -> tuple[JobFile, DigitsModel]:
    """Train, quantize and build the digits job (deterministic for a seed on one machine)."""
    datasets, model_selection, neural_network = _sklearn()
    data = datasets.load_digits()
    x, y = data.data.astype(np.float64), data.target.astype(np.int32)
    x_tr, x_te, y_tr, y_te = model_selection.train_test_split(
        x, y, test_size=test_fraction, random_state=seed, stratify=y
    )
    mlp = neural_network.MLPClassifier(
        hidden_layer_sizes=(HIDDEN,), activation="relu", max_iter=400, random_state=seed
    )
    mlp.fit(x_tr / PIXEL_MAX, y_tr)
    float_pred = mlp.predict(x_te / PIXEL_MAX).astype(np.int32)

    s_x = 1.0 / 127  # real input = x_q · s_x = pixel / 16
    w1, s_w1 = _q_weights(mlp.coefs_[0].T)  # [128, 64]
    w2, s_w2 = _q_weights(mlp.coefs_[1].T)  # [10, 128]
    b1 = np.round(mlp.intercepts_[0] / (s_x * s_w1)).astype(np.int32)
    hidden = np.maximum(x_tr / PIXEL_MAX @ mlp.coefs_[0] + mlp.intercepts_[0], 0)
    s_h = float(hidden.max()) / 127 or 1.0
    multiplier, shift = requant_params(s_x * s_w1 / s_h)
    b2 = np.round(mlp.intercepts_[1] / (s_h * s_w2)).astype(np.int32)
    x_q = np.round(x_te * 127 / PIXEL_MAX).astype(np.int8)

    n = x_q.shape[0]
    values = {
        name: np.ascontiguousarray(v)
        for name, v in (("x", x_q), ("w1", w1), ("b1", b1), ("w2", w2), ("b2", b2))
    }
    decls = [InputDecl(name, TensorType(str(v.dtype), v.shape)) for name, v in values.items()]  # type: ignore[arg-type]
    ops: list[Op] = [
        MatmulNT(0, 1),  # 5: x·w1ᵀ          int32[n,128]
        Add(5, 2),  # 6: + b1
        Relu(6),  # 7
        Requant(7, multiplier, shift, 0),  # 8: int8[n,128]
        MatmulNT(8, 3),  # 9: h·w2ᵀ           int32[n,10]
        Add(9, 4),  # 10: + b2 → logits
        Argmax(10),  # 11: pred int32[n]
    ]
    outputs = [OutputDecl("logits", 10), OutputDecl("pred", 11)]
    unrooted = make_program(decls, ops, outputs)
    roots = commit_inputs(unrooted, values)
    program = make_program(
        [InputDecl(d.name, d.type, c.root) for d, c in zip(decls, roots, strict=True)], ops, outputs
    )
    evaluation = Evaluation("pred", y_te.astype(np.int32), float_pred)
    model = DigitsModel(len(y_tr), n, float(np.mean(float_pred == y_te)))
    return make_job(program, values, evaluation), model
