"""Fixtures of the fault matrix: the product in-process (``make_rig``) and fault proxies."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.faults.rig import FaultRig, open_rig
from tests.servers import MailServers
from tests.servers.proxy import FaultProxy


@pytest.fixture
def make_rig(
    tmp_path: Path, servers: MailServers, watchdog_env: dict[str, str]
) -> Iterator[Callable[..., FaultRig]]:
    """``make_rig(**config)``: the product on a fresh config for the test servers; closed after."""
    rigs: list[FaultRig] = []

    def make(**config: Any) -> FaultRig:
        rig = open_rig(tmp_path, servers, **config)
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        rig.close()


@pytest.fixture
def make_proxy() -> Iterator[Callable[[int], FaultProxy]]:
    """``make_proxy(upstream_port)``: a started :class:`FaultProxy`; stopped after the test."""
    proxies: list[FaultProxy] = []

    def make(upstream_port: int) -> FaultProxy:
        proxy = FaultProxy(upstream_port).start()
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        proxy.stop()
