"""What the scheduler says now: its workers, asked afresh on every call.

Not `Client.scheduler_info()`: when the scheduler does not answer in time (a loaded machine) that logs and
returns the client's cached copy, which the client's periodic refresh fills without any worker
(`identity(n_workers=0)`), so every worker would look gone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import distributed


def scheduler_identity(client: distributed.Client) -> dict[str, Any]:
    """The scheduler's description of itself and every worker, asked now; raises when it does not answer."""
    scheduler = client.scheduler
    if scheduler is None:
        raise OSError("the client is not connected to a scheduler")
    return dict(client.sync(scheduler.identity, n_workers=-1))


def present_workers(client: distributed.Client) -> set[str]:
    """The addresses of the cluster's workers now (raises when the scheduler does not answer)."""
    return set(scheduler_identity(client)["workers"])
