"""Where a team server listens: whether its address and port are free, the URL clients use, and
whether it answers."""

from __future__ import annotations

import urllib.error
import urllib.request

from textclf.errors import UserError


def answers_health(url: str) -> bool:
    """Whether MLflow's server at ``url`` answers /health."""
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def server_url(host: str, port: int) -> str:
    return f"http://{_address(host, port)}"


def _address(host: str, port: int) -> str:
    """``host:port``, an IPv6 address in brackets (``[::1]:5000``), as URLs write them."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def check_port_free(host: str, port: int) -> None:
    import errno
    import socket

    try:
        # the address family uvicorn will listen with: IPv6 for ::1 or ::, else IPv4
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]
    except (OSError, UnicodeError):
        family = socket.AF_INET  # not an address: binding says why, below
    with socket.socket(family) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: a TIME_WAIT is no user
        try:
            probe.bind((host, port))
        except OSError as error:
            in_use = error.errno == errno.EADDRINUSE
            raise UserError(f"cannot listen on {_address(host, port)} ({error.strerror}). Fix: " +
                            ("pass another --port, or stop what uses it" if in_use else
                             "pass --host with an address of this machine (127.0.0.1, or 0.0.0.0 for all)")) from None
        except UnicodeError as error:  # a host name that is not even one (a..b): the others are OSErrors
            raise UserError(f"cannot listen on {_address(host, port)} ({error}). Fix: pass --host with an address of "
                            "this machine (127.0.0.1, or 0.0.0.0 for all)") from None
