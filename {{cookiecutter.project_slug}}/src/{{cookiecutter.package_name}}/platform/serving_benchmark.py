"""Request latency of the local endpoint, with the inference table and without, side by side.

    python -m {{ cookiecutter.package_name }}.platform.serving_benchmark [--requests 1000] [--endpoint NAME]

Serves the deployed endpoint (`make serve`) twice at once from a copy of the local store, so that
the project's own inference table is left as it is: one server with `--no-inference-table`, one as
`make serve` runs. One client sends the same one-trip request (the champion's serving input example)
to both in turn, `--warm-up` times untimed, then `--requests` times each, on kept-alive
connections, timing each from sending to the whole answer. Taking turns gives both servers the same
machine load, so the difference is what logging to the inference table costs a request. When the
servers stop, the one with the table must have written every request to it.
"""

import argparse
import http.client
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

from .entry_points import step_entry_point
from .environment import LOCAL_DIR_VARIABLE, local_dir
from .errors import UserError
from .local_serving import HOST, example_request, find_spec, read_spec, spec_folder
from .runtime import use_mlflow


@dataclass(frozen=True)
class Latencies:
    label: str
    milliseconds: list[float]

    def percentile(self, q: float) -> float:
        """The nearest-rank percentile: a latency some request really had."""
        ordered = sorted(self.milliseconds)
        rank = max(1, round(q / 100 * len(ordered) + 0.4999))
        return ordered[min(rank, len(ordered)) - 1]

    @property
    def mean(self) -> float:
        return statistics.fmean(self.milliseconds)

    @property
    def per_second(self) -> float:
        return 1000 * len(self.milliseconds) / sum(self.milliseconds)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


@contextmanager
def served(store: Path, endpoint: str, port: int, logging: bool, output: Path) -> Iterator[list]:
    """`make serve` on `store` until the block ends, then stopped by SIGINT like Ctrl-C.

    Yields a list that holds the server's output once it has stopped.
    """
    command = [sys.executable, "-m", f"{__package__}.local_serving", "--endpoint", endpoint]
    command += ["--port", str(port), "--seed", "0"]
    if not logging:
        command.append("--no-inference-table")
    env = os.environ | {LOCAL_DIR_VARIABLE: str(store)}
    with output.open("w") as log:
        server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    stopped: list[str] = []
    try:
        wait_until_ready(server, port, output)
        yield stopped
    finally:
        server.send_signal(signal.SIGINT)
        status = server.wait()
        stopped.append(output.read_text())
        if status != 0:
            raise UserError(f"The server ended with status {status}: {output.read_text()}")


def wait_until_ready(server: subprocess.Popen, port: int, output: Path) -> None:
    while server.poll() is None:
        try:
            with socket.create_connection((HOST, port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise UserError(f"The server did not start: {output.read_text()}")


class Client:
    """One kept-alive connection to a server, timing each request."""

    def __init__(self, port: int, path: str, body: bytes) -> None:
        self.connection = http.client.HTTPConnection(HOST, port, timeout=120)
        self.path, self.body = path, body

    def send(self) -> float:
        """Milliseconds from sending the request to reading its whole answer."""
        try:
            return self._send()
        except (ConnectionError, http.client.RemoteDisconnected):
            # uvicorn closes a connection idle for 5 s, as while the other server answered
            # slowly: connect again, untimed, and send it again.
            self.connection.close()
            self.connection.connect()
            return self._send()

    def _send(self) -> float:
        started = time.perf_counter()
        self.connection.request(
            "POST", self.path, body=self.body, headers={"Content-Type": "application/json"}
        )
        response = self.connection.getresponse()
        answer = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        if response.status != 200:
            raise UserError(f"The endpoint answered {response.status}: {answer[:300]!r}")
        return elapsed


def take_turns(off: Client, on: Client, warm_up: int, requests: int) -> tuple[list, list]:
    """Latencies of each server, sending to them in turn (who goes first alternates too)."""
    for _ in range(warm_up):
        off.send()
        on.send()
    timed: tuple[list, list] = ([], [])
    for turn in range(requests):
        order = (0, 1) if turn % 2 == 0 else (1, 0)
        for which in order:
            timed[which].append((off, on)[which].send())
    off.connection.close()
    on.connection.close()
    return timed


def report(requests: int, off: Latencies, on: Latencies, written: str) -> str:
    def row(label: str, p50: str, p99: str, mean: str, rate: str) -> str:
        return f"{label:<26}{p50:>10}{p99:>10}{mean:>10}{rate:>14}"

    def ms(value: float, sign: str = "") -> str:
        return f"{value:{sign}.2f} ms"

    lines = [
        f"Local serving benchmark: {requests:,} one-trip requests to each server, in turn, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, mlflow {version('mlflow')}, "
        f"uvicorn {version('uvicorn')}",
        row("", "p50", "p99", "mean", "requests/s"),
    ]
    for run in (off, on):
        lines.append(
            row(
                run.label,
                ms(run.percentile(50)),
                ms(run.percentile(99)),
                ms(run.mean),
                f"{run.per_second:,.0f}",
            )
        )
    lines.append(
        row(
            "logging overhead",
            ms(on.percentile(50) - off.percentile(50), "+"),
            ms(on.percentile(99) - off.percentile(99), "+"),
            ms(on.mean - off.mean, "+"),
            "",
        )
    )
    lines.append(written)
    return "\n".join(lines)


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--endpoint", default=None, help="endpoint name (default: the only one)")
    parser.add_argument("--requests", type=int, default=1000, help="timed requests per run")
    parser.add_argument("--warm-up", type=int, default=50, help="untimed requests first")


@step_entry_point("Time requests to the local endpoint with and without logging.", add_options)
def main(args: argparse.Namespace) -> None:
    spec = read_spec(find_spec(spec_folder(), args.endpoint))
    use_mlflow()
    example = example_request(spec)
    if example is None:
        raise UserError(
            f"The model {spec.entities[0].entity_name} has no serving input example to send: "
            "log it with an input_example (training.py does)."
        )
    body, path = example.encode(), f"/serving-endpoints/{spec.name}/invocations"
    with tempfile.TemporaryDirectory(prefix="serving-benchmark-") as scratch:
        store = Path(scratch) / "store"
        shutil.copytree(local_dir(), store, ignore=shutil.ignore_patterns("spark.log"))
        print("Starting two servers, inference table off and on...", flush=True)
        off_port, on_port = free_port(), free_port()
        with (
            served(store, spec.name, off_port, False, Path(scratch) / "off.log"),
            served(store, spec.name, on_port, True, Path(scratch) / "on.log") as output,
        ):
            off_ms, on_ms = take_turns(
                Client(off_port, path, body),
                Client(on_port, path, body),
                args.warm_up,
                args.requests,
            )
        stopped = re.search(r"Stopped: (\d+) request\(s\) written to (\S+)\.", output[0])
    sent = args.warm_up + args.requests
    if stopped is None or int(stopped.group(1)) != sent:
        raise UserError(f"The inference table did not get all {sent} requests: {output[0]}")
    written = (
        f"inference table: all {sent:,} requests (warm-up included) written to {stopped.group(2)}"
    )
    off, on = Latencies("inference table off", off_ms), Latencies("inference table on", on_ms)
    print(report(args.requests, off, on, written))


if __name__ == "__main__":
    main()
