"""Joining a Ray cluster (the ``ray`` extra), for studies (``hairpin study --ray``) and Ray collectors
(``performance.collectors: ray``): a clear error without the package or without a cluster at the address."""

from __future__ import annotations

import socket

from hairpin.errors import HairpinError

__all__ = ["AT_NORMAL_PRIORITY", "RayClusterError", "connect"]

CONNECT_TIMEOUT_S = 5.0
AT_NORMAL_PRIORITY = {"env_vars": {"RAY_worker_niceness": "0"}}
"""The runtime env of hairpin's Ray tasks and actors: Ray starts its workers at niceness 15, which starves them on a
machine where anything else runs (a learner, another run); hairpin's work runs at the niceness of a local process."""


class RayClusterError(HairpinError):
    """Ray is not installed, or no cluster answers at the address given."""


def connect(address: str | None, option: str, log_to_driver: bool = False) -> None:
    """Join the Ray cluster at ``address`` (``auto``: the one this machine belongs to; None: that one, or else a
    Ray of this process's own). ``option`` names the setting in errors (``--ray``, ``performance.ray_address``)."""
    try:
        import ray
    except ImportError as error:
        raise RayClusterError(f"{option}: the ray package is not installed (pip install 'hairpin[ray]')") from error
    if ray.is_initialized():
        return
    if address is not None:
        _check_reachable(address, option)
    try:
        ray.init(address=address, log_to_driver=log_to_driver, configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError) as error:
        raise RayClusterError(
            f"{option} {address}: no Ray cluster there ({error}); start one with `ray start --head` and give its "
            "address, or `auto` on a machine of the cluster"
        ) from error


def _check_reachable(address: str, option: str) -> None:
    """A ``HOST:PORT`` that nothing answers on is refused at once (Ray itself would retry for minutes)."""
    host, _, port = address.rpartition(":")
    if "://" in address or not host or not port.isdigit():
        return  # auto, or a ray:// client address: Ray's own checks
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as error:
        raise RayClusterError(
            f"{option} {address}: nothing answers there ({error}); start the head with `ray start --head` and give "
            "the address it prints (HOST:6379), or `auto` on a machine of the cluster"
        ) from error
