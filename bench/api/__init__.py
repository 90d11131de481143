"""Benchmark: order entry through the exchange API, on loopback (``python -m bench.api``;
what it does, its options and its output: :mod:`bench.api.cli`).

:mod:`.cli` parses the command line, runs and reports; :mod:`.coordinator_proc` starts and stops the
coordinator; :mod:`.flow` generates, signs and encodes the messages; :mod:`.lanes` splits them over
the connections and tallies the answers; :mod:`.drive` runs the warm-up and the timed part with the
lean client of :mod:`.raw_client` or the library one of :mod:`.lib_client`.
"""

from .cli import Options, main, run, run_against
from .coordinator_proc import Coordinator
from .drive import Client, Mode
from .flow import Flow, Message, encode_http, encode_ws, make_accounts, make_flow, sign_flow
from .lanes import Lane, Tally, Unit
from .raw_client import http_request, ws_frame

__all__ = [
    "Client",
    "Coordinator",
    "Flow",
    "Lane",
    "Message",
    "Mode",
    "Options",
    "Tally",
    "Unit",
    "encode_http",
    "encode_ws",
    "http_request",
    "main",
    "make_accounts",
    "make_flow",
    "run",
    "run_against",
    "sign_flow",
    "ws_frame",
]
