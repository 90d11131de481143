"""The GCX p2p layer on py-libp2p (trio): identity, hosts, gossip and request/response.

What it offers (DESIGN §3–4):

* **Identity** — one secp256k1 key is both the Ethereum account and the libp2p peer ID:
  :func:`keypair_from_private_key`, :func:`peer_id_of`, and :func:`address_of_peer` (the
  checksummed address recovered from a peer ID alone).
* **Hosts** — :func:`open_host` runs a host with TCP, Noise only (plaintext/secio refused),
  Yamux only and a fixed identity, refuses a listen address it cannot own alone
  (:class:`ListenError`), and closes it explicitly on exit; :func:`connect` dials
  with a deadline and raises :class:`PeerUnreachable`; :func:`listen_addrs`;
  :func:`configure_libp2p_logging` routes libp2p's logs into the application's.
* **Gossip** — :func:`open_pubsub` runs gossipsub tuned for capacity adverts and heartbeats,
  with strict message signing (``Received.from_peer`` is authentic). Gossip is best effort:
  it is for discovery, never for anything that must arrive.
* **Request/response** — :func:`request` / :func:`serve`: one fresh stream per request,
  4-byte length-prefixed msgpack frames with size limits, deadlines, concurrency limits (per
  protocol and per peer) and typed errors (:class:`RemoteError` carries the peer's error code);
  every request refused before its handler answered is reported (``on_reject``).

Every failure is a :class:`P2PError` (a :class:`gcx.errors.GCXError`); no libp2p or trio
exception escapes the public API.
"""

from __future__ import annotations

from libp2p.abc import IHost as Host
from libp2p.peer.id import ID

from .errors import (
    FrameTooLarge,
    ListenError,
    MeshTimeout,
    P2PError,
    PeerIdentityError,
    PeerUnreachable,
    ProtocolError,
    RemoteError,
    RequestTimeout,
    StreamClosed,
)
from .host import DEFAULT_LISTEN, build_host, configure_libp2p_logging, connect, listen_addrs, open_host
from .identity import address_of_peer, keypair_from_private_key, parse_peer_id, peer_id_of
from .pubsub import GossipConfig, PubSub, Received, Subscription, open_pubsub
from .reqresp import (
    DEFAULT_MAX_PER_PEER,
    MAX_FRAME,
    REJECT_BUSY,
    REJECT_FRAME_TOO_LARGE,
    REJECT_PEER_BUSY,
    REJECT_TIMEOUT,
    REJECT_TRUNCATED,
    REJECTIONS,
    Handler,
    OnReject,
    Server,
    ServerStats,
    request,
    serve,
)

__all__ = [
    "DEFAULT_LISTEN",
    "DEFAULT_MAX_PER_PEER",
    "ID",
    "MAX_FRAME",
    "REJECTIONS",
    "REJECT_BUSY",
    "REJECT_FRAME_TOO_LARGE",
    "REJECT_PEER_BUSY",
    "REJECT_TIMEOUT",
    "REJECT_TRUNCATED",
    "FrameTooLarge",
    "GossipConfig",
    "Handler",
    "Host",
    "ListenError",
    "MeshTimeout",
    "OnReject",
    "P2PError",
    "PeerIdentityError",
    "PeerUnreachable",
    "ProtocolError",
    "PubSub",
    "Received",
    "RemoteError",
    "RequestTimeout",
    "Server",
    "ServerStats",
    "StreamClosed",
    "Subscription",
    "address_of_peer",
    "build_host",
    "configure_libp2p_logging",
    "connect",
    "keypair_from_private_key",
    "listen_addrs",
    "open_host",
    "open_pubsub",
    "parse_peer_id",
    "peer_id_of",
    "request",
    "serve",
]
