"""The chain client every GCX program uses: web3.py (sync, HTTP) bound to one deployment.

:class:`Chain` checks on connect that the RPC answers, that its chain id is the deployment's,
and that each deployed contract's code is still what was deployed (a reset devnet or a wrong
deployment file fails here, with the fix, instead of at the first call). Transactions are
signed locally with the participant key; a revert is raised as :class:`TransactionFailed`
naming the contract's custom error. web3 is blocking: from trio, call through
``trio.to_thread.run_sync``.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import Any, TypeVar

from eth_account import Account
from eth_hash.auto import keccak
from web3 import HTTPProvider, Web3
from web3.contract import Contract
from web3.exceptions import ContractCustomError, ContractLogicError, ContractPanicError, Web3RPCError
from web3.middleware import SignAndSendRawMiddlewareBuilder

from .deployment import Deployment, load_artifact
from .errors import ChainError, RpcUnreachable, TransactionFailed

log = logging.getLogger("gcx.chain")
T = TypeVar("T")
READ_RETRIES = 3


def _unreachable_reason(exc: BaseException) -> str:
    """The short cause inside requests'/urllib3's nested connection errors."""
    text = str(exc)
    if found := re.search(r"\[Errno -?\d+\] [^'\")]+", text):
        return found.group(0).strip()
    if "timed out" in text.lower() or "timeout" in type(exc).__name__.lower():
        return "timed out"
    return text[:200] or type(exc).__name__


def _error_selectors(abi: list[dict[str, Any]]) -> dict[str, str]:
    """4-byte selector (hex, with 0x) → ``Name(type,...)`` for the ABI's custom errors."""
    out = {}
    for item in abi:
        if item.get("type") == "error":
            sig = f"{item['name']}({','.join(i['type'] for i in item.get('inputs', []))})"
            out["0x" + keccak(sig.encode())[:4].hex()] = item["name"]
    return out


class Chain:
    """A connection to the chain of ``deployment``, optionally with a signing key."""

    def __init__(
        self, deployment: Deployment, private_key: bytes | None = None, rpc_url: str | None = None,
        timeout_s: float = 10.0,
    ) -> None:  # fmt: skip
        self.deployment = deployment
        self.rpc_url = rpc_url or deployment.rpc_url
        self.w3 = Web3(HTTPProvider(self.rpc_url, request_kwargs={"timeout": timeout_s}))
        chain_id = self._read(lambda: self.w3.eth.chain_id)
        if chain_id != deployment.chain_id:
            raise ChainError(
                f"{self.rpc_url} is chain {chain_id}, but the deployment file is for chain {deployment.chain_id}"
            )
        for name, deployed in deployment.contracts.items():
            code = self._read(lambda a=deployed.address: bytes(self.w3.eth.get_code(a)))  # type: ignore[misc]
            if "0x" + keccak(code).hex() != deployed.code_hash:
                raise ChainError(
                    f"stale deployment file: {name} at {deployed.address} is not the deployed contract "
                    "(was the chain reset?): deploy again (`gcx chain deploy`, or `gcx chain up` for a local chain) "
                    "or copy the deployer's current file"
                )
        self._contracts: dict[str, Contract] = {}
        self._errors: dict[str, str] = {}
        self.address: str | None = None
        if private_key is not None:
            account = Account.from_key(private_key)
            self.w3.middleware_onion.inject(SignAndSendRawMiddlewareBuilder.build(account), layer=0)
            self.address = account.address

    def _read(self, call: Callable[[], T]) -> T:
        """A read, retried with backoff on connection errors (the only failure a retry can fix)."""
        delay = 0.2
        for attempt in range(READ_RETRIES):
            try:
                return call()
            except (OSError, ConnectionError) as exc:
                if attempt == READ_RETRIES - 1:
                    raise RpcUnreachable(self.rpc_url, _unreachable_reason(exc)) from None
                time.sleep(delay)
                delay *= 2
            except Exception as exc:
                if type(exc).__module__.startswith("requests"):
                    if attempt == READ_RETRIES - 1:
                        raise RpcUnreachable(self.rpc_url, _unreachable_reason(exc)) from None
                    time.sleep(delay)
                    delay *= 2
                    continue
                raise
        raise AssertionError("unreachable")

    def contract(self, name: str) -> Contract:
        if name not in self._contracts:
            artifact = load_artifact(name)
            address = Web3.to_checksum_address(self.deployment.address(name))
            deployed = self.deployment.contracts[name].artifact
            if artifact.digest != deployed:
                raise ChainError(
                    f"this gcx's {name} build (bytecode keccak {artifact.digest[:18]}…) is not the one "
                    f"deployed at {address} ({deployed[:18]}…): install the release the deployment was "
                    "made with, or deploy again with this one"
                )
            self._contracts[name] = self.w3.eth.contract(address=address, abi=artifact.abi)
            self._errors.update(_error_selectors(artifact.abi))
        return self._contracts[name]

    def call(self, name: str, fn: str, *args: Any) -> Any:
        """A view call ``name.fn(*args)``."""
        return self._read(lambda: getattr(self.contract(name).functions, fn)(*args).call())

    def transact(self, name: str, fn: str, *args: Any, value: int = 0) -> Any:
        """Send ``name.fn(*args)`` (with ``value`` wei) from the key's account, wait for the receipt;
        raise on revert."""
        if self.address is None:
            raise ChainError("this chain client has no key to sign transactions with")
        contract = self.contract(name)
        try:
            tx: dict[str, Any] = {"from": self.address}
            if value:
                tx["value"] = value
            tx_hash = getattr(contract.functions, fn)(*args).transact(tx)
            receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60)
        except ContractCustomError as exc:
            data = exc.data if isinstance(exc.data, str) else ""
            reason = self._errors.get(data[:10], data[:10] or "unknown")
            raise TransactionFailed(f"{name}.{fn} reverted: {reason}", reason, data or None) from None
        except (ContractLogicError, ContractPanicError) as exc:
            raise TransactionFailed(f"{name}.{fn} reverted: {exc}", str(exc)) from None
        except Web3RPCError as exc:
            message = str(exc)
            if "insufficient funds" in message.lower():
                raise TransactionFailed(
                    f"{self.address} has too little ETH for gas to send {name}.{fn}: fund it first",
                    "insufficient_funds",
                ) from None
            raise TransactionFailed(f"{name}.{fn} was refused by the node: {message}") from None
        if receipt["status"] != 1:
            raise TransactionFailed(f"{name}.{fn} reverted (transaction {tx_hash.to_0x_hex()})")
        return receipt

    def events(self, name: str, event: str, from_block: int = 0) -> list[Any]:
        """Decoded logs of ``name``'s ``event`` since ``from_block``."""
        ev = getattr(self.contract(name).events, event)
        return list(self._read(lambda: ev.get_logs(from_block=from_block)))


class EventWatcher:
    """Follows one event of one contract: each :meth:`poll` returns the logs of blocks not yet
    seen, in order (call it from a loop or a trio worker thread at the interval you need)."""

    def __init__(self, chain: Chain, name: str, event: str, from_block: int = 0) -> None:
        self.chain, self.name, self.event = chain, name, event
        self.next_block = from_block

    def poll(self) -> list[Any]:
        head = int(self.chain._read(lambda: self.chain.w3.eth.block_number))
        if head < self.next_block:
            return []
        ev = getattr(self.chain.contract(self.name).events, self.event)
        start = self.next_block
        logs = list(self.chain._read(lambda: ev.get_logs(from_block=start, to_block=head)))
        self.next_block = head + 1
        return logs
