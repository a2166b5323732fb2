"""The hop-by-hop header fields: meaningful for one connection only, so a proxy (the backends'
forwarding data plane, the test suite's retrying proxy) never passes them on.

Source: RFC 9110 section 7.6.1 (Connection, Proxy-Connection, Keep-Alive, TE,
Transfer-Encoding, Upgrade; https://www.rfc-editor.org/rfc/rfc9110#section-7.6.1) and
RFC 2616 section 13.5.1 (also Proxy-Authenticate, Proxy-Authorization, Trailers(s);
https://www.rfc-editor.org/rfc/rfc2616#section-13.5.1). Lower case.
"""

from __future__ import annotations

HOP_BY_HOP = frozenset(
    {
        "connection",
        "proxy-connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
