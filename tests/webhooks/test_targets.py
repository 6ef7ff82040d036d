"""Webhook URLs reach public addresses only, unless WEBHOOK_ALLOWED_NETWORKS lets a network in."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from apps.webhooks.targets import TargetRefused, check_target


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1/hook", "loopback"),
        ("http://127.8.9.10:8000/hook", "loopback"),
        ("http://[::1]/hook", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[fe80::1]/hook", "link-local"),
        ("http://10.0.0.7/hook", "private"),
        ("http://172.16.3.4/hook", "private"),
        ("http://192.168.1.20/hook", "private"),
        ("http://[fd00::5]/hook", "private"),
        ("http://[::ffff:127.0.0.1]/hook", "loopback"),
        ("http://0.0.0.0/hook", "unspecified"),
        ("http://224.0.0.1/hook", "multicast"),
        ("http://100.64.0.1/hook", "not a public address"),
        # 6to4, Teredo and NAT64 forms of 127.0.0.1 and 10.0.0.1.
        ("http://[2002:7f00:1::]/", "loopback"),
        ("http://[2002:a00:1::1]/hook", "private"),
        ("http://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/hook", "private"),
        ("http://[64:ff9b::7f00:1]/hook", "loopback"),
    ],
)
def test_addresses_of_the_platforms_own_neighbourhood_are_refused(url: str, reason: str) -> None:
    with pytest.raises(TargetRefused, match=reason):
        check_target(url)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://hooks.example.com/x", "starts with https://"),
        ("https://user:pw@93.184.216.34/x", "no user name or password"),
        ("https:///x", "no host name"),
    ],
)
def test_urls_that_are_not_plain_http_are_refused(url: str, message: str) -> None:
    with pytest.raises(TargetRefused, match=message):
        check_target(url)


def test_a_public_address_is_accepted_with_its_port_and_path() -> None:
    target = check_target("https://93.184.216.34:8443/hooks/in?team=ml")

    assert (target.scheme, target.host, target.port, target.path, target.address) == (
        "https", "93.184.216.34", 8443, "/hooks/in?team=ml", "93.184.216.34",
    )  # fmt: skip


def test_a_name_is_judged_by_every_address_it_resolves_to(monkeypatch: pytest.MonkeyPatch) -> None:
    addresses = {"public.example": ["93.184.216.34"], "sneaky.example": ["93.184.216.34", "10.1.2.3"]}

    def resolve(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        if host not in addresses:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)) for address in addresses[host]]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)

    assert check_target("https://public.example/hook").address == "93.184.216.34"
    with pytest.raises(TargetRefused, match="sneaky.example is at 10.1.2.3, a private address"):
        check_target("https://sneaky.example/hook")
    with pytest.raises(TargetRefused, match="cannot be resolved"):
        check_target("https://nowhere.example/hook")


def test_the_allow_list_lets_a_network_in_and_no_other(settings: Any) -> None:
    settings.WEBHOOK_ALLOWED_NETWORKS = ["10.20.0.0/16"]

    assert check_target("http://10.20.3.4/hook").address == "10.20.3.4"
    with pytest.raises(TargetRefused, match="private"):
        check_target("http://10.21.0.1/hook")
