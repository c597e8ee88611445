"""Hue bridge discovery: mDNS ``_hue._tcp`` and SSDP, the way a real bridge advertises itself.

Home Assistant and the Hue apps find bridges by mDNS (the ``bridgeid`` TXT record); older apps
and libraries by SSDP (``M-SEARCH`` answered with ``LOCATION: …/description.xml``, and a
``NOTIFY`` every minute). One advertiser per host: gunicorn's master starts this module as its
own process when ``HUE_DISCOVERY`` names where to advertise (gunicorn.conf.py), and stops it
with the server; workers never advertise. By hand: ``flask --app wsgi hue advertise --port N``.
"""

from __future__ import annotations

import ipaddress
import logging
import random
import socket
import struct
import threading
from dataclasses import dataclass

import ifaddr
from zeroconf import IPVersion, ServiceInfo, Zeroconf

log = logging.getLogger("homepair.hue.discovery")

SSDP_GROUP = "239.255.255.250"
SSDP_PORT = 1900
NOTIFY_SECONDS = 60.0
MAX_AGE_SECONDS = 100
MODEL_ID = "BSB002"
UUID_PREFIX = "uuid:2f402f80-da50-11e1-9b23-"


@dataclass(frozen=True)
class Address:
    """An IPv4 address to advertise on, with its network (to pick it for a client)."""

    ip: str
    network: ipaddress.IPv4Network


def addresses(setting: tuple[str, ...]) -> list[Address]:
    """The IPv4 addresses ``HUE_DISCOVERY`` names: addresses, interface names, or ``all``."""
    known: list[tuple[str, Address]] = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if isinstance(ip.ip, str):  # IPv4 (IPv6 come as tuples)
                network = ipaddress.IPv4Network(f"{ip.ip}/{ip.network_prefix}", strict=False)
                known.append((adapter.nice_name, Address(ip.ip, network)))
    chosen: list[Address] = []
    for token in setting:
        if token == "all":
            picked = [address for _, address in known]
        elif _is_ipv4(token):
            picked = [a for _, a in known if a.ip == token] or [
                Address(token, ipaddress.IPv4Network(f"{token}/32"))
            ]
        else:
            picked = [address for name, address in known if name == token]
        chosen += [address for address in picked if address not in chosen]
    return chosen


def _is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class Bridge:
    """What discovery tells: the bridge's id, its MAC (12 hex digits) and where its API is."""

    bridge_id: str  # 16 upper-case hex digits, as /api/config gives it
    mac12: str
    port: int
    api_version: str

    @property
    def udn(self) -> str:
        return UUID_PREFIX + self.mac12

    @property
    def server(self) -> str:
        return f"Linux/3.14.0 UPnP/1.0 IpBridge/{self.api_version}"


def service_info(bridge: Bridge, chosen: list[Address]) -> ServiceInfo:
    """The mDNS record of a real bridge: ``Philips Hue - XXXXXX._hue._tcp.local.``."""
    tail = bridge.bridge_id[-6:]
    return ServiceInfo(
        "_hue._tcp.local.",
        f"Philips Hue - {tail}._hue._tcp.local.",
        addresses=[socket.inet_aton(a.ip) for a in chosen],
        port=bridge.port,
        properties={"bridgeid": bridge.bridge_id.lower(), "modelid": MODEL_ID},
        server=f"Philips-hue-{tail.lower()}.local.",
    )


def _targets(bridge: Bridge) -> list[tuple[str, str]]:
    """(ST or NT, USN) of the three advertisements a bridge makes."""
    return [
        ("upnp:rootdevice", f"{bridge.udn}::upnp:rootdevice"),
        (bridge.udn, bridge.udn),
        ("urn:schemas-upnp-org:device:basic:1", bridge.udn),
    ]


def search_responses(bridge: Bridge, ip: str, search_target: str) -> list[bytes]:
    """The answers to an ``M-SEARCH`` for ``search_target`` (``ssdp:all``: all three)."""
    wanted = search_target.strip().lower()
    out = []
    for target, usn in _targets(bridge):
        if wanted not in ("ssdp:all", target.lower()):
            continue
        out.append(
            (
                "HTTP/1.1 200 OK\r\n"
                f"HOST: {SSDP_GROUP}:{SSDP_PORT}\r\n"
                "EXT:\r\n"
                f"CACHE-CONTROL: max-age={MAX_AGE_SECONDS}\r\n"
                f"LOCATION: http://{ip}:{bridge.port}/description.xml\r\n"
                f"SERVER: {bridge.server}\r\n"
                f"hue-bridgeid: {bridge.bridge_id}\r\n"
                f"ST: {target}\r\n"
                f"USN: {usn}\r\n"
                "\r\n"
            ).encode()
        )
    return out


def notifications(bridge: Bridge, ip: str, alive: bool = True) -> list[bytes]:
    """The ``NOTIFY`` messages (``ssdp:alive``, or ``ssdp:byebye`` when leaving)."""
    out = []
    for target, usn in _targets(bridge):
        lines = ["NOTIFY * HTTP/1.1", f"HOST: {SSDP_GROUP}:{SSDP_PORT}"]
        if alive:
            lines += [
                f"CACHE-CONTROL: max-age={MAX_AGE_SECONDS}",
                f"LOCATION: http://{ip}:{bridge.port}/description.xml",
                f"SERVER: {bridge.server}",
            ]
        lines += [
            f"NTS: ssdp:{'alive' if alive else 'byebye'}",
            f"hue-bridgeid: {bridge.bridge_id}",
            f"NT: {target}",
            f"USN: {usn}",
        ]
        out.append(("\r\n".join(lines) + "\r\n\r\n").encode())
    return out


def _header(message: str, name: str) -> str | None:
    for line in message.split("\r\n")[1:]:
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() == name:
            return value.strip()
    return None


class SsdpResponder:
    """Answers ``M-SEARCH`` on the chosen addresses and sends ``NOTIFY`` every minute."""

    def __init__(self, bridge: Bridge, chosen: list[Address]):
        self.bridge = bridge
        self.chosen = chosen
        self.stopping = threading.Event()
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if hasattr(socket, "SO_REUSEPORT"):
            self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        self.listener.bind(("", SSDP_PORT))
        for address in chosen:
            membership = socket.inet_aton(SSDP_GROUP) + socket.inet_aton(address.ip)
            self.listener.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
        self.listener.settimeout(1.0)

    def address_for(self, client: str) -> str:
        """The advertised address on the client's network (the first one otherwise)."""
        for address in self.chosen:
            if ipaddress.IPv4Address(client) in address.network:
                return address.ip
        return self.chosen[0].ip

    def serve(self) -> None:
        """Answer searches until :meth:`stop`."""
        while not self.stopping.is_set():
            try:
                data, client = self.listener.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            message = data.decode("utf-8", "replace")
            if not message.startswith("M-SEARCH * HTTP/1.1") or "ssdp:discover" not in message:
                continue
            target = _header(message, "st") or ""
            mx = _header(message, "mx") or "1"
            delay = random.uniform(0, min(int(mx) if mx.isdigit() else 1, 1))
            answers = search_responses(self.bridge, self.address_for(client[0]), target)
            threading.Timer(delay, self._reply, (answers, client)).start()

    def _reply(self, answers: list[bytes], client: tuple[str, int]) -> None:
        for answer in answers:
            try:
                self.listener.sendto(answer, client)
            except OSError as exc:  # the client left: nothing to do
                log.debug("SSDP answer to %s failed: %s", client, exc)

    def announce(self, alive: bool = True) -> None:
        """Multicast the three ``NOTIFY`` messages on every chosen address."""
        for address in self.chosen:
            sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
            try:
                sender.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, struct.pack("b", 2))
                sender.setsockopt(
                    socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(address.ip)
                )
                for message in notifications(self.bridge, address.ip, alive):
                    sender.sendto(message, (SSDP_GROUP, SSDP_PORT))
            except OSError as exc:
                log.warning("SSDP NOTIFY on %s failed: %s", address.ip, exc)
            finally:
                sender.close()

    def notify_loop(self) -> None:
        """``ssdp:alive`` at once and every minute, ``ssdp:byebye`` when stopping."""
        while not self.stopping.is_set():
            self.announce()
            self.stopping.wait(NOTIFY_SECONDS)
        self.announce(alive=False)

    def stop(self) -> None:
        """End both loops."""
        self.stopping.set()


def advertise(bridge: Bridge, chosen: list[Address], stop: threading.Event) -> None:
    """Advertise ``bridge`` by mDNS and SSDP on ``chosen`` until ``stop`` is set."""
    # SSDP answers first: whoever finds the bridge by mDNS may search for it by SSDP at once.
    ssdp = SsdpResponder(bridge, chosen)
    threads = [
        threading.Thread(target=ssdp.serve, name="ssdp-search", daemon=True),
        threading.Thread(target=ssdp.notify_loop, name="ssdp-notify", daemon=True),
    ]
    for thread in threads:
        thread.start()
    zeroconf = Zeroconf(interfaces=[a.ip for a in chosen], ip_version=IPVersion.V4Only)
    info = service_info(bridge, chosen)
    zeroconf.register_service(info)
    where = ", ".join(a.ip for a in chosen)
    log.info(
        "Hue discovery: bridge %s advertised on %s, port %d", bridge.bridge_id, where, bridge.port
    )
    try:
        stop.wait()
    finally:
        ssdp.stop()
        for thread in threads:
            thread.join(5)
        zeroconf.unregister_service(info)
        zeroconf.close()
        ssdp.listener.close()
