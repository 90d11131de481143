"""``gcx node doctor``: pre-flight checks for a provider host, each pass / warn / fail with a fix.

Checks are independent: one failing never stops the others, and none of them changes anything.
"""

from __future__ import annotations

import email.utils
import json
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from gcx.errors import GCXError
from gcx.settings import Settings, load_settings

Status = Literal["pass", "warn", "fail"]
MAX_SKEW_S = 5.0


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""


def _settings(config: Path | None) -> tuple[Check, Settings | None]:
    try:
        settings = load_settings(config)
    except GCXError as exc:
        return Check(
            "config", "fail", str(exc), "fix the key named above (configs/gcx.toml lists every key)"
        ), None
    return Check("config", "pass", "settings valid"), settings


def check_key(settings: Settings) -> Check:
    from gcx.keys import load_key

    try:
        key = load_key(settings.node.key)
    except GCXError as exc:
        return Check("key", "fail", str(exc), "gcx keys new (or fix the file's permissions: chmod 600)")
    return Check("key", "pass", f"{key.name}: {key.address}")


def check_reference(settings: Settings) -> Check:
    from gcx.reference import load_profile

    try:
        profile = load_profile(settings.reference.profile)
    except GCXError as exc:
        return Check("reference", "fail", str(exc), "point reference.profile at a valid profile, or unset it")
    return Check("reference", "pass", f"{profile.profile.name} v{profile.profile.version}")


def check_gpu(settings: Settings) -> Check:
    from .backends import select_backend

    if settings.node.backend == "numpy":
        return Check("gpu", "warn", "node.backend = numpy: the GPU is not used", 'set node.backend = "auto"')
    try:
        backend, reason = select_backend(settings.node.backend, settings.node.device_index)
    except GCXError as exc:
        return Check(
            "gpu", "fail", str(exc), "install the NVIDIA driver and gcx[gpu], or set node.backend = auto"
        )
    if reason:
        return Check(
            "gpu",
            "warn",
            f"no usable GPU, CPU only: {reason}",
            "install the NVIDIA driver and `pip install 'gcx[gpu]'` (CUDA 13) or 'gcx[gpu-cuda12]'",
        )
    return Check("gpu", "pass", backend.device().name)


def check_nvml(settings: Settings) -> Check:
    from .telemetry_nvml import nvml_device_facts

    facts = nvml_device_facts(settings.node.device_index)
    if "nvml_error" in facts:
        return Check(
            "nvml",
            "warn",
            f"no NVML telemetry: {facts['nvml_error']}",
            "the energy grade stays unrated without NVML (it ships with the NVIDIA driver)",
        )
    return Check("nvml", "pass", f"driver {facts.get('driver_version')}, {facts.get('name')}")


def check_ports(settings: Settings) -> Check:
    busy = []
    for addr in settings.network.listen:
        parts = addr.strip("/").split("/")
        if len(parts) < 4 or parts[0] not in ("ip4", "ip6") or parts[2] != "tcp":
            return Check("ports", "fail", f"cannot read listen address {addr!r}", "use /ip4/<ip>/tcp/<port>")
        port = int(parts[3]) if parts[3].isdigit() else -1
        if port == 0:
            continue
        family = socket.AF_INET if parts[0] == "ip4" else socket.AF_INET6
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((parts[1], port))
            except OSError as exc:
                busy.append(f"{addr} ({exc.strerror})")
    if busy:
        return Check(
            "ports",
            "fail",
            "cannot listen on " + ", ".join(busy),
            "stop what holds the port or change network.listen",
        )
    return Check("ports", "pass", ", ".join(settings.network.listen))


def check_clock(settings: Settings) -> Check:
    api = settings.network.coordinator_api
    if not api:
        return Check(
            "clock",
            "warn",
            "not checked: network.coordinator_api is not set",
            "set network.coordinator_api to compare this clock with the coordinator's",
        )
    import httpx

    try:
        before = time.time()
        response = httpx.get(f"{api.rstrip('/')}/healthz", timeout=settings.network.dial_timeout_s)
        after = time.time()
        remote = email.utils.parsedate_to_datetime(response.headers["date"]).timestamp()
    except (httpx.HTTPError, KeyError, TypeError, ValueError) as exc:
        return Check(
            "clock",
            "fail",
            f"cannot read the coordinator's clock at {api}: {exc}",
            "check network.coordinator_api and that the coordinator is up",
        )
    skew = (before + after) / 2 - remote  # HTTP dates have 1 s resolution
    if abs(skew) > MAX_SKEW_S:
        return Check(
            "clock",
            "fail",
            f"clock is {skew:+.1f} s off the coordinator's",
            "enable NTP (timedatectl set-ntp true): adverts from the future or past are rejected",
        )
    return Check("clock", "pass", f"within {abs(skew):.1f} s of the coordinator")


def check_bootstrap(settings: Settings) -> Check:
    addrs = settings.network.bootstrap
    if not addrs:
        return Check(
            "bootstrap",
            "warn",
            "no bootstrap peers: this node will not join a network",
            "add the coordinator's multiaddr to network.bootstrap",
        )
    import trio

    from gcx.keys import load_key
    from gcx.p2p import P2PError, connect, open_host

    async def dial_all() -> list[str]:
        failures = []
        key = load_key(settings.node.key)
        async with open_host(key.private_key, ["/ip4/127.0.0.1/tcp/0"]) as host:
            for addr in addrs:
                try:
                    await connect(host, addr, settings.network.dial_timeout_s)
                except P2PError as exc:
                    failures.append(f"{addr}: {exc}")
        return failures

    try:
        failures = trio.run(dial_all)
    except GCXError as exc:
        return Check("bootstrap", "fail", str(exc), "fix the key first")
    if failures:
        return Check(
            "bootstrap", "fail", "; ".join(failures), "check the addresses, that the peers run, and firewalls"
        )
    return Check("bootstrap", "pass", f"{len(addrs)} peer(s) reachable")


def check_report(settings: Settings) -> Check:
    from gcx.keys import load_key
    from gcx.reference import load_profile

    from .reports import latest_report_path, reusable

    path = latest_report_path()
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
        why = reusable(
            cached,
            load_key(settings.node.key),
            load_profile(settings.reference.profile),
            settings,
            time.time(),
        )
    except (OSError, ValueError, GCXError) as exc:
        why = f"none usable ({exc})" if not isinstance(exc, FileNotFoundError) else "there is none"
    if why:
        return Check(
            "report", "warn", f"the daemon will benchmark at start: {why}", "run `gcx node bench` now"
        )
    return Check("report", "pass", f"cached report {path} is reusable")


CHECKS: tuple[Callable[[Settings], Check], ...] = (
    check_key,
    check_reference,
    check_gpu,
    check_nvml,
    check_ports,
    check_clock,
    check_bootstrap,
    check_report,
)


def run_checks(config: Path | None) -> list[Check]:
    first, settings = _settings(config)
    if settings is None:
        return [first]
    results = [first]
    for check in CHECKS:
        try:
            results.append(check(settings))
        except Exception as exc:  # a doctor never crashes on what it diagnoses
            results.append(
                Check(check.__name__.removeprefix("check_"), "fail", f"{type(exc).__name__}: {exc}")
            )
    return results
