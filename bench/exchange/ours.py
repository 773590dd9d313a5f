"""The stream through scalebox's MatchingEngine: a throughput pass (one `apply` per operation and
nothing else in the loop) or a latency pass (every call timed on its own), each on a fresh engine
with freshly built commands: the engine adopts Order objects, so no pass may reuse another's.

Also runs as a worker process, for the mypyc-compiled copy of the engine:

    PYTHONPATH=<build dir> python bench/exchange/ours.py STREAM.pickle --gc on

loads the stream, then answers each line "throughput" or "latency" on stdin with one line
"THROUGHPUT {json}" or "LATENCY {json}" on stdout, until "quit". The engine modules then load from
<build dir> (the first line it prints, "MODULES {json}", says from where).
"""

from __future__ import annotations

import argparse
import importlib
import json
import pickle
import sys
import time
from pathlib import Path

import mix
from measure import (
    Latency,
    Outcome,
    Throughput,
    latency_to_json,
    summarise_latency,
    throughput_to_json,
    watch_gc,
)
from mix import SYMBOL, TIMESTAMP_ORIGIN_NS, TIMESTAMP_STEP_NS, Stream

from scalebox.exchange.domain import CancelReject, Trade
from scalebox.exchange.engine import MatchingEngine

NAME = "scalebox MatchingEngine"
ENGINE_MODULES = ("domain", "book", "engine", "risk", "market", "replace", "sessions", "auction")


def _prepared(stream: Stream) -> tuple[MatchingEngine, list[object]]:
    """A fresh engine with the instrument, participants and the set-up book applied, and the
    measured operations as freshly built command objects."""
    engine = MatchingEngine()
    names = mix.all_names()
    setup = [*mix.setup_commands(), *(mix.build_command(op, names) for op in stream.setup)]
    for sequence, command in enumerate(setup, 1):
        engine.apply(command, sequence, mix.timestamp(sequence))  # type: ignore[arg-type]
    commands = [mix.build_command(op, names) for op in stream.ops]
    return engine, commands


def throughput(stream: Stream, gc_mode: str) -> Throughput:
    engine, commands = _prepared(stream)
    apply = engine.apply
    first = engine.last_sequence + 1
    origin, step = TIMESTAMP_ORIGIN_NS, TIMESTAMP_STEP_NS
    with watch_gc(gc_mode) as gc_stats:
        cpu_start = time.process_time()
        start = time.perf_counter_ns()
        for sequence, command in enumerate(commands, first):
            apply(command, sequence, origin + sequence * step)  # type: ignore[arg-type]
        elapsed = time.perf_counter_ns() - start
        cpu = time.process_time() - cpu_start
    return Throughput(len(commands), elapsed / 1e9, cpu, gc_stats)


def latency(stream: Stream, gc_mode: str) -> tuple[Latency, Outcome]:
    engine, commands = _prepared(stream)
    apply = engine.apply
    clock = time.perf_counter_ns
    first = engine.last_sequence + 1
    origin, step = TIMESTAMP_ORIGIN_NS, TIMESTAMP_STEP_NS
    latencies: list[int] = [0] * len(commands)
    trades = volume = notional = cancel_rejects = replace_rejects = 0
    with watch_gc(gc_mode) as gc_stats:
        for index, command in enumerate(commands):
            sequence = first + index
            timestamp = origin + sequence * step
            start = clock()
            events = apply(command, sequence, timestamp)  # type: ignore[arg-type]
            latencies[index] = clock() - start
            for event in events:  # the cross-check's tallies, outside the timed call
                kind = type(event)
                if kind is Trade:
                    trades += 1
                    volume += event.quantity  # type: ignore[union-attr]
                    notional += event.quantity * event.price  # type: ignore[union-attr]
                elif kind is CancelReject:
                    if event.is_replace:  # type: ignore[union-attr]
                        replace_rejects += 1
                    else:
                        cancel_rejects += 1
    outcome = Outcome(
        trades=trades,
        volume=volume,
        notional=notional,
        resting_orders=len(engine.orders),
        resting_quantity=engine.instruments[SYMBOL].book.resting_quantity(),
        cancel_rejects=cancel_rejects,
        replace_rejects=replace_rejects,
    )
    return summarise_latency(latencies, [op.kind for op in stream.ops], gc_stats), outcome


def engine_modules() -> dict[str, str]:
    """Where each engine module was loaded from (a .so when mypyc compiled it)."""
    found = {}
    for module in ENGINE_MODULES:
        loaded = importlib.import_module(f"scalebox.exchange.{module}")
        found[module] = str(getattr(loaded, "__file__", "?"))
    return found


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("stream", type=Path, help="a pickled mix.Stream")
    parser.add_argument("--gc", choices=("on", "off"), default="on")
    args = parser.parse_args(argv)
    with args.stream.open("rb") as file:
        stream = pickle.load(file)
    print("MODULES " + json.dumps(engine_modules()), flush=True)
    for line in sys.stdin:
        request = line.strip()
        if request == "throughput":
            print("THROUGHPUT " + json.dumps(throughput_to_json(throughput(stream, args.gc))), flush=True)
        elif request == "latency":
            print("LATENCY " + json.dumps(latency_to_json(*latency(stream, args.gc))), flush=True)
        elif request == "quit":
            break
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
