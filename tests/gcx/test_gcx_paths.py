"""gcx.paths.source_checkout: a checkout is recognised (its hints say `make …`); an installed wheel
is not (tests/install checks that side)."""

from __future__ import annotations

from pathlib import Path

from gcx.chain.anvil import contracts_dir
from gcx.paths import configs_dir, source_checkout

ROOT = Path(__file__).resolve().parents[2]


def test_this_checkout_is_recognised() -> None:
    assert source_checkout() == ROOT
    assert contracts_dir() == ROOT / "contracts"
    assert configs_dir() == ROOT / "configs"
