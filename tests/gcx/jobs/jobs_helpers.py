"""Helpers of the job tests: seeded tensors and connected real libp2p hosts on 127.0.0.1."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import numpy as np

from gcx.p2p import Host, connect, listen_addrs, open_host
from gcx.tp import Relu
from gcx.tp.commit import OpLeaf, commit_tensor, op_leaf

DIGEST = bytes(range(32))
"""A program digest for stored results."""


def tensor(dtype: str, shape: tuple[int, ...], seed: int = 1) -> np.ndarray:
    """A seeded int8/int32 tensor spanning its dtype's range."""
    rng = np.random.default_rng(seed)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)


def relu_leaves(n: int, seed: int = 1) -> list[OpLeaf]:
    """``n`` op leaves: op k is relu of tensor k into tensor k + 1 (int32[3, 2], seeded)."""
    a = tensor("int32", (3, 2), seed)
    return [op_leaf(k, Relu(k), commit_tensor(k + 1, a)) for k in range(n)]


@asynccontextmanager
async def connected_hosts(n: int) -> AsyncIterator[list[Host]]:
    """``n`` started hosts on loopback, the first connected to each other one; closed on exit."""
    async with AsyncExitStack() as stack:
        hosts = [await stack.enter_async_context(open_host(secrets.token_bytes(32))) for _ in range(n)]
        for other in hosts[1:]:
            await connect(hosts[0], listen_addrs(other)[0], timeout_s=5)
        yield hosts
