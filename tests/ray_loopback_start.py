"""`ray start` for the test session's 2-node cluster, every node and listener on 127.0.0.1.

Run as `python tests/ray_loopback_start.py start ...` with RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 in the
environment. With that setting Ray keeps a loopback node address (and every listener) on 127.0.0.1, as in
the guide's one-machine cluster, but a joining `ray start --address` refuses it ("Multi-node Ray clusters
are not supported on Windows and OSX"), and with it unset Ray swaps 127.0.0.1 for the machine's external
address (measured, ray 2.60, `ss -ltnp`). Here the joining command alone is let through, with its node
address kept on loopback; the processes it starts read the setting from the environment. A test fixture,
not something mlscale does or advises for real clusters (see docs/guide.md, "Network exposure").
"""

from __future__ import annotations

import sys

from ray._private import ray_constants, services


def _loopback(address: str | None = None) -> str:
    return "127.0.0.1"


services.get_node_ip_address = _loopback
ray_constants.ENABLE_RAY_CLUSTER = True  # the joining node's check only; its processes read the env

from ray.scripts.scripts import main  # noqa: E402  (after the two settings above)

if __name__ == "__main__":
    sys.exit(main())
