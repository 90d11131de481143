"""``gcx trade`` in real processes, without an exchange: bad input, missing keys, unreachable or
refusing APIs all end in one ``error:`` line and a non-zero exit, never a traceback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from gcx.keys import new_key


def gcx(home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("GCX_")}
    full_env.update({"GCX_HOME": str(home), **(env or {})})
    return subprocess.run(
        [sys.executable, "-m", "gcx", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=60,
        check=False,
    )


def assert_clean_failure(proc: subprocess.CompletedProcess[str], code: int, *needles: str) -> None:
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in proc.stderr, proc.stderr


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A home with a plain ``trader`` key."""
    path = tmp_path_factory.mktemp("trade-home")
    old = os.environ.get("GCX_HOME")
    os.environ["GCX_HOME"] = str(path)
    try:
        new_key("trader")
    finally:
        if old is None:
            del os.environ["GCX_HOME"]
        else:
            os.environ["GCX_HOME"] = old
    yield path


@pytest.fixture(scope="module")
def refusing_api() -> Iterator[str]:
    """A real HTTP server that refuses every request as the exchange refuses an unknown symbol."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"error": "unknown_instrument", "message": "no instrument 'CH-Z'"}).encode()
            self.send_response(404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        thread.join(5)


def test_an_unknown_side_is_a_usage_error(home: Path) -> None:
    proc = gcx(home, "trade", "place", "CH-A-SPOT", "hold", "1", "--price", "2000")
    assert_clean_failure(proc, 2, "'hold' is not one of 'buy', 'sell'")


def test_an_unknown_order_type_is_a_usage_error(home: Path) -> None:
    proc = gcx(home, "trade", "place", "CH-A-SPOT", "buy", "1", "--price", "2000", "--type", "stop")
    assert_clean_failure(proc, 2, "'stop' is not one of")


def test_a_limit_order_without_a_price_is_refused(home: Path) -> None:
    proc = gcx(home, "trade", "place", "CH-A-SPOT", "buy", "1", "--type", "ioc")
    assert_clean_failure(proc, 2, "error: a ioc order needs --price (integer ticks)")


def test_a_market_order_with_a_price_is_refused(home: Path) -> None:
    proc = gcx(home, "trade", "place", "CH-A-SPOT", "buy", "1", "--type", "market", "--price", "5")
    assert_clean_failure(proc, 2, "error: a market order takes no --price")


def test_a_zero_quantity_is_refused_before_sending(home: Path) -> None:
    # the API is unreachable: the input error must come first
    api = f"http://127.0.0.1:{_closed_port()}"
    proc = gcx(home, "trade", "place", "CH-A-SPOT", "buy", "0", "--price", "2000", "--api", api)
    assert_clean_failure(proc, 2, "error: qty must be between 1")


def test_a_missing_key_says_how_to_create_it(home: Path) -> None:
    proc = gcx(home, "trade", "orders", "--key", "alice", "--api", "http://127.0.0.1:1")
    assert_clean_failure(proc, 2, "error: no key named 'alice'", "`gcx keys new --name alice`")


def test_an_unreachable_api_is_one_clear_line(home: Path) -> None:
    api = f"http://127.0.0.1:{_closed_port()}"
    proc = gcx(home, "trade", "book", "CH-A-SPOT", "--api", api)
    assert_clean_failure(proc, 1, f"error: cannot reach the GCX API at {api}: ")
    proc = gcx(home, "trade", "watch", "CH-A-SPOT", "--api", api)
    assert_clean_failure(
        proc, 1, f"error: cannot reach the GCX API at ws://127.0.0.1:{api.rsplit(':', 1)[1]}/"
    )


def test_a_bad_api_url_is_refused(home: Path) -> None:
    proc = gcx(home, "trade", "instruments", "--api", "localhost:8600")
    assert_clean_failure(proc, 2, "error: invalid API URL 'localhost:8600'")


def test_the_api_defaults_to_the_running_coordinators_endpoint_then_the_setting(tmp_path: Path) -> None:
    port = _closed_port()
    endpoint = tmp_path / "coordinator" / "endpoint.json"
    endpoint.parent.mkdir(parents=True)
    endpoint.write_text(json.dumps({"api": f"http://127.0.0.1:{port}"}), encoding="utf-8")
    proc = gcx(tmp_path, "trade", "instruments")
    assert_clean_failure(proc, 1, f"cannot reach the GCX API at http://127.0.0.1:{port}:")
    other = _closed_port()
    proc = gcx(
        tmp_path, "trade", "instruments", env={"GCX_NETWORK__COORDINATOR_API": f'"http://127.0.0.1:{other}"'}
    )
    assert_clean_failure(proc, 1, f"cannot reach the GCX API at http://127.0.0.1:{other}:")
    endpoint.unlink()
    proc = gcx(tmp_path, "trade", "instruments", env={"GCX_NETWORK__COORDINATOR_API": "''"})
    assert_clean_failure(proc, 1, "cannot reach the GCX API at http://127.0.0.1:8600:")


def test_an_api_refusal_prints_its_code_and_message(home: Path, refusing_api: str) -> None:
    proc = gcx(home, "trade", "book", "CH-Z", "--api", refusing_api)
    assert_clean_failure(proc, 1, "error: unknown_instrument: no instrument 'CH-Z'")
    assert proc.stdout == ""


@pytest.fixture(scope="module")
def recording_api() -> Iterator[tuple[str, list[dict[str, object]]]]:
    """A real HTTP server that names an exchange domain and accepts (and records) every order."""
    bodies: list[dict[str, object]] = []
    domain = {
        "name": "GCX Exchange",
        "version": "1",
        "chainId": 31337,
        "verifyingContract": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
    }

    class Handler(BaseHTTPRequestHandler):
        def _send(self, answer: dict[str, object]) -> None:
            body = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            self._send({"domain": domain, "last_seq": 0})

        def do_POST(self) -> None:
            bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self._send({"seq": len(bodies), "status": "resting", "order": {}, "fills": []})

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", bodies
    finally:
        server.shutdown()
        server.server_close()


def test_the_cli_signs_nonces_by_the_documented_rule(
    home: Path, recording_api: tuple[str, list[dict[str, object]]]
) -> None:
    """docs/exchange-api.md: a nonce is Unix time in microseconds (gcx.orders.next_nonce), so a
    client following the docs and ``gcx trade`` can share a key."""
    api, bodies = recording_api
    before = time.time_ns() // 1000
    for price in ("2000", "2001"):
        proc = gcx(home, "trade", "place", "CH-A-SPOT", "buy", "1", "--price", price, "--api", api, "--json")
        assert proc.returncode == 0, proc.stderr
    after = time.time_ns() // 1000
    first, second = (b["message"]["nonce"] for b in bodies[-2:])  # type: ignore[index]
    assert isinstance(first, int) and isinstance(second, int)
    assert before <= first < second <= after  # microseconds since the epoch, increasing
    assert all(b["domain"]["chainId"] == 31337 for b in bodies[-2:])  # type: ignore[index]
