"""Whose request it is: the peer, or, behind a trusted proxy, the address the proxy saw."""

from __future__ import annotations

from ipaddress import ip_network

from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from shared.infra.ratelimit import client_address


def test_the_client_address_is_the_peer_unless_a_trusted_proxy_says_otherwise() -> None:
    proxies = (ip_network("10.0.0.0/8"),)

    def request(peer: str, forwarded: str) -> web.Request:
        transport = type("T", (), {"get_extra_info": lambda self, key, default=None: (peer, 1234)})()
        return make_mocked_request("GET", "/", headers={"X-Forwarded-For": forwarded}, transport=transport)

    assert client_address(request("203.0.113.7", "1.2.3.4"), proxies) == "203.0.113.7", "not from a trusted proxy"
    assert client_address(request("10.0.0.2", "1.2.3.4, 198.51.100.9"), proxies) == "198.51.100.9"
    assert client_address(request("10.0.0.2", "198.51.100.9, 10.0.0.5"), proxies) == "198.51.100.9"
