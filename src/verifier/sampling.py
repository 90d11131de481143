"""Which jobs a verifier re-executes: an unpredictable, reproducible coin per job.

A verifier re-executes a job with probability ``p``. The coin for job ``j`` is
``HMAC-SHA256(secret, "gcx.verifier.sample.v1" ‖ j) < p · 2^256`` (``p`` in parts per million),
where ``secret`` is the verifier's own 32 random bytes kept on disk. A provider, who does not
know the secret, cannot tell which of its jobs will be checked (each is checked with
probability ``p``, independently of the others); the verifier gets the same answer for a job
after a restart, so it never skips a job it had picked nor picks one twice.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

from gcx.errors import ConfigError
from gcx.files import write_atomic

PPM = 1_000_000
SECRET_BYTES = 32
_DOMAIN = b"gcx.verifier.sample.v1"


def sampled(secret: bytes, job_id: bytes, probability_ppm: int) -> bool:
    """Whether the verifier holding ``secret`` re-executes job ``job_id`` when it samples with
    probability ``probability_ppm`` / 10^6 (0: never, 10^6: always)."""
    if len(secret) != SECRET_BYTES:
        raise ConfigError(f"a sampling secret is {SECRET_BYTES} bytes, not {len(secret)}")
    if type(probability_ppm) is not int or not 0 <= probability_ppm <= PPM:
        raise ConfigError(f"a sampling probability is 0..{PPM} ppm, not {probability_ppm!r}")
    coin = int.from_bytes(hmac.new(secret, _DOMAIN + job_id, hashlib.sha256).digest(), "big")
    return coin * PPM < probability_ppm << 256


def load_secret(path: Path) -> bytes:
    """The verifier's sampling secret at ``path``, created (mode 0600) on first use."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        data = os.urandom(SECRET_BYTES)
        write_atomic(path, data, mode=0o600)
        return data
    except OSError as exc:
        raise ConfigError(f"cannot read the sampling secret {path}: {exc.strerror or exc}") from None
    if len(data) != SECRET_BYTES:
        raise ConfigError(f"the sampling secret {path} is {len(data)} bytes, not {SECRET_BYTES}")
    return data
