"""SecantusDB with the CPU time of every command it serves, by the command's shape. Not a test.

    python bench/db_profile.py OUT.json -- <secantus arguments>

Runs the SecantusDB server as ``python -m secantus`` would, and around each command measures the CPU
time of the thread serving it (``time.thread_time``: waits for the interpreter lock or for another
connection's write are not counted), summed by shape: the command, the collection, the filter's field
names (values left out) and, for an update, its operators. ``OUT.json`` is rewritten every two seconds
and at exit, the costliest shape first: ``[shape, commands, cpu seconds, statements]`` (an ``update``
or ``insert`` carries many statements; ``find`` one).

``bench/bench_end_to_end.py --db-profile OUT.json`` starts its server this way and prints the table.
A server's cost is per statement more than per document, which is what this shows and what
``serverStatus`` does not.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import secantus.server
from secantus.cli import main as secantus_main

Shape = tuple[str, int]  # what the command looks like, and how many statements it carries


def fields(document: Any) -> str:
    return ",".join(sorted(document)) if isinstance(document, dict) else "…"


def shape(command: dict[str, Any]) -> Shape:
    name = next(iter(command))
    target = command.get("collection") if name == "getMore" else command.get(name)
    if name == "update":
        updates = command.get("updates", [])
        first = updates[0] if updates else {}
        how = "multi" if first.get("multi") else "upsert" if first.get("upsert") else "one"
        return f"update {target} q[{fields(first.get('q'))}] u[{fields(first.get('u'))}] {how}", len(updates)
    if name in ("insert", "delete"):
        return f"{name} {target}", len(command.get("documents" if name == "insert" else "deletes", []))
    if name in ("find", "count", "findAndModify"):
        query = command.get("filter", command.get("query"))
        return f"{name} {target} q[{fields(query)}] sort[{fields(command.get('sort', {}))}]", 1
    return f"{name} {target if isinstance(target, str) else ''}".strip(), 1


class Profile:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.costs: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0])
        self.lock = threading.Lock()

    def timed(self, dispatch: Any) -> Any:
        def dispatch_timed(command: dict[str, Any], ctx: Any) -> Any:
            started = time.thread_time()
            try:
                return dispatch(command, ctx)
            finally:
                spent = time.thread_time() - started
                what, statements = shape(command)
                with self.lock:
                    entry = self.costs[what]
                    entry[0] += 1
                    entry[1] += spent
                    entry[2] += statements

        return dispatch_timed

    def write(self) -> None:
        with self.lock:
            ranked = sorted(self.costs.items(), key=lambda item: -item[1][1])
        self.out.write_text(json.dumps([[what, *entry] for what, entry in ranked], indent=0))

    def write_every(self, seconds: float) -> None:
        while True:
            time.sleep(seconds)
            self.write()


def main() -> int:
    out, separator, *arguments = sys.argv[1:]
    if separator != "--":
        raise SystemExit(__doc__)
    profile = Profile(Path(out))
    secantus.server.dispatch = profile.timed(secantus.server.dispatch)  # the name the server calls
    threading.Thread(target=profile.write_every, args=(2.0,), daemon=True).start()
    sys.argv = ["secantus", *arguments]
    try:
        return int(secantus_main() or 0)
    finally:
        profile.write()


if __name__ == "__main__":
    raise SystemExit(main())
