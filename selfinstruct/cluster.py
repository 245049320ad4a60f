"""Joining a Ray cluster: the one place that decides which cluster the sharded engines run on.

Ray is an optional dependency (``pip install 'selfinstruct-studio[ray]'``), so it is imported
only inside ``connect``: importing the library or the CLI never imports Ray. ``--ray auto``
joins a cluster already running on this machine or starts one; ``--ray HOST:PORT`` joins that
cluster's head (its GCS port, 6379 by default with ``ray start --head``).
"""

from __future__ import annotations

import argparse
import socket

INSTALL_HINT = "pip install 'selfinstruct-studio[ray]' (in a checkout: pip install '.[ray]')"
REACH_TIMEOUT_S = 5.0

_connected: str | None = None


class ClusterError(ConnectionError):
    """Ray is missing or the cluster named cannot be reached (an OSError: the CLI reports it
    as an error line, like a file it cannot open)."""


def add_ray_arg(parser: argparse.ArgumentParser) -> None:
    """``--ray ADDRESS``: run the heavy novelty work on a Ray cluster instead of this process."""
    parser.add_argument("--ray", metavar="ADDRESS", default=None,
                        help="run on a Ray cluster: auto (join or start one on this machine) | HOST:PORT (join that head)")


def connect(address: str) -> None:
    """Join the Ray cluster at ``address`` ("auto" or "HOST:PORT"). Once joined, "auto" or the
    same address again does nothing; another address is refused (a process has one cluster)."""
    global _connected
    try:
        import ray
    except ImportError:
        raise ClusterError(f"--ray {address}: Ray is not installed; {INSTALL_HINT}") from None
    if ray.is_initialized():
        if address == "auto":  # whichever cluster this process has joined
            _connected = _connected or address
            return
        if _connected not in (None, address):
            raise ClusterError(f"already connected to the Ray cluster at {_connected!r}, not {address!r}")
        _connected = address
        return
    if address != "auto":
        _reachable(address)
    try:
        # auto: no address, so Ray joins a cluster started on this machine (or $RAY_ADDRESS),
        # else starts a local one; it never looks for a remote cluster on its own.
        ray.init(address=None if address == "auto" else address, include_dashboard=False,
                 logging_level="warning", log_to_driver=False)
    except (ConnectionError, TimeoutError, RuntimeError) as e:
        raise ClusterError(f"cannot join the Ray cluster at {address!r}: {e}") from e
    _connected = address


def _reachable(address: str) -> None:
    """Fail fast, naming the address, when nothing listens there (Ray itself retries for a minute)."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ClusterError(f"--ray expects auto or HOST:PORT, got {address!r}")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=REACH_TIMEOUT_S).close()
    except OSError as e:
        raise ClusterError(f"cannot reach the Ray cluster at {address!r}: {e}") from None
