"""The sampling coin: reproducible per job, secret-dependent, at the configured rate."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from gcx.errors import ConfigError
from verifier.sampling import PPM, load_secret, sampled


def test_rate_and_reproducibility() -> None:
    secret = bytes(range(32))
    ids = [i.to_bytes(32, "big") for i in range(20_000)]
    picks = [sampled(secret, j, 100_000) for j in ids]
    # binomial(20000, 0.1): mean 2000, sd 42.4; 5 sd either side
    assert 1788 <= sum(picks) <= 2212
    assert picks == [sampled(secret, j, 100_000) for j in ids]
    other = [sampled(os.urandom(32), j, 100_000) for j in ids]
    assert other != picks  # another secret picks other jobs (fails with probability ~0)
    assert not any(sampled(secret, j, 0) for j in ids[:500])
    assert all(sampled(secret, j, PPM) for j in ids[:500])


@pytest.mark.parametrize(
    ("secret", "ppm"), [(b"x" * 31, 1), (b"x" * 32, -1), (b"x" * 32, PPM + 1), (b"x" * 32, True)]
)
def test_bad_parameters_refused(secret: bytes, ppm: int) -> None:
    with pytest.raises(ConfigError):
        sampled(secret, b"job", ppm)


def test_secret_is_created_private_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "verifier" / "sampling.secret"
    first = load_secret(path)
    assert len(first) == 32 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_secret(path) == first
    path.write_bytes(b"short")
    with pytest.raises(ConfigError, match="5 bytes"):
        load_secret(path)
