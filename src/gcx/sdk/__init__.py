"""A small synchronous Python SDK for the GCX exchange API (``docs/exchange-api.md``, ``docs/sdk.md``).

::

    from gcx.keys import load_key
    from gcx.sdk import ApiError, Client

    with Client("http://127.0.0.1:8600", load_key("trader")) as client:
        print(client.book("CH-A-SPOT", depth=5))
        answer = client.place("CH-A-SPOT", "buy", qty=10, price=2010)
        client.cancel("CH-A-SPOT", answer["order"]["client_order_id"])
        for message in client.feed("CH-A-SPOT"):
            ...

* :class:`Client` — every route: public reads, signed order entry, private reads, the feed.
* Errors — :class:`ApiError` (the exchange refused: ``status``, ``code``, ``message``),
  :class:`ApiUnreachable` (no answer), :class:`InvalidRequest` (bad arguments, nothing sent),
  :class:`FeedClosed`, :class:`FeedGap` (the feed lost its sequence); all are :class:`SdkError`, a :class:`gcx.errors.GCXError`.
* :func:`resolve_api_url` — the API URL when none is given (settings, a running coordinator's
  endpoint file, ``http://127.0.0.1:8600``).
* :mod:`gcx.sdk.messages` — the pure message builders, nonce counter and read-token cache.
"""

from __future__ import annotations

from .client import Client
from .endpoint import DEFAULT_API_URL, resolve_api_url
from .errors import ApiError, ApiUnreachable, FeedClosed, FeedGap, InvalidRequest, SdkError
from .messages import ORDER_TYPES, SIDES

__all__ = [
    "DEFAULT_API_URL",
    "ORDER_TYPES",
    "SIDES",
    "ApiError",
    "ApiUnreachable",
    "Client",
    "FeedClosed",
    "FeedGap",
    "InvalidRequest",
    "SdkError",
    "resolve_api_url",
]
