"""How many database commands a service sends, by collection, command and kind (``MONGODB_COMMAND_METRICS``).

Counted on the client with PyMongo's command monitoring: one count per command the driver sends, that is
per round trip to the server (a batch write of many documents is one ``insert`` or ``update``), as a
server counts them in ``serverStatus().opcounters``. Kinds:

* ``read``: ``find``, ``getMore``, ``count``, ``aggregate``, ``distinct``;
* ``write``: ``insert``, ``update``, ``delete``, ``findAndModify``;
* ``command``: everything else (``ping`` from readiness checks, ``createIndexes`` at start, ``endSessions`` …).

The driver's own monitoring of the server (``hello`` heartbeats) is not a command it reports, so it is not
counted here. Shown at ``/metrics`` as ``inspiration_db_commands_total``; ``bench/bench_end_to_end.py``
reads it to give the operations per booking of each service.
"""

from __future__ import annotations

from typing import Literal

from prometheus_client import Counter
from pymongo import monitoring

Kind = Literal["read", "write", "command"]

READS = frozenset({"find", "getMore", "count", "aggregate", "distinct"})
WRITES = frozenset({"insert", "update", "delete", "findAndModify"})

COMMANDS = Counter(
    "inspiration_db_commands_total",
    "Database commands sent (round trips), by collection, command and kind (read, write, command)",
    ["collection", "command", "kind"],
)
WAITED = Counter(
    "inspiration_db_command_seconds_total",
    "Time from sending a database command to its answer, summed, by collection and command",
    ["collection", "command"],
)


def kind_of(command_name: str) -> Kind:
    if command_name in READS:
        return "read"
    if command_name in WRITES:
        return "write"
    return "command"


class CommandCounter(monitoring.CommandListener):
    """Counts every command as it is sent (a failed one was a round trip all the same), and the time
    until its answer (divided by the count: the mean round trip as this client sees it)."""

    def __init__(self) -> None:
        self._collections: dict[int, str] = {}  # request id -> collection

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        name = event.command_name
        target = event.command.get("collection") if name == "getMore" else event.command.get(name)
        collection = target if isinstance(target, str) else ""
        COMMANDS.labels(collection, name, kind_of(name)).inc()
        self._collections[event.request_id] = collection

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        self._answered(event)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._answered(event)

    def _answered(self, event: monitoring.CommandSucceededEvent | monitoring.CommandFailedEvent) -> None:
        collection = self._collections.pop(event.request_id, "")
        WAITED.labels(collection, event.command_name).inc(event.duration_micros / 1e6)
