"""`make run` with thousands of todos, over real HTTP: counts that add up after concurrent
writes, a bulk clear finished by overlapping job runs, and a prompt stop mid-clear."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.servers import Server, emulator_client, start_server, stop_server
from tools import sizes
from tools.sizes import fill, owner_of

pytestmark = [pytest.mark.server, pytest.mark.no_moto]
TABLE = "todo-api-local"


def writer(server: Server, token: str, n: int) -> None:
    """Creates (some replayed with their Idempotency-Key), toggles and deletes."""
    for i in range(12):
        key = {"Idempotency-Key": str(uuid.uuid4())}
        body = {"title": f"w{n}-{i}"}
        status, _, made = server.request("POST", "/todos", token, body, headers=key)
        assert status == 201, made
        replay = server.request("POST", "/todos", token, body, headers=key)
        assert (replay[0], replay[2]["id"]) == (201, made["id"])
        path = f"/todos/{made['id']}"
        assert server.request("PATCH", path, token, {"completed": True})[0] == 200
        if i % 3 == 0:
            assert server.request("DELETE", path, token)[0] == 204


def test_counts_and_a_clears_tally_add_up_on_thousands_of_todos(server: Server) -> None:
    token = server.token("sizes-ines")
    owner = owner_of(token)
    dynamodb = emulator_client("dynamodb", server.backend_port)
    fill(dynamodb, TABLE, owner, 2500)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda n: writer(server, token, n), range(4)))
    # 4 writers x 12 creates, a third of them deleted again; replays created nothing.
    assert sizes.counted(dynamodb, TABLE, owner) == sizes.stored(dynamodb, TABLE, owner) == 2500 + 48 - 16

    before = sizes.stored(dynamodb, TABLE, owner)
    # The stage's budget (1,000 deletes) inside the request: seconds on the embedded backend.
    status, headers, body = server.request("DELETE", "/todos", token, timeout=120)
    assert status == 202, body
    in_request = int(body["deleted"])
    # Todos created while the job runs are not the job's; overlapping runs of the jobs.
    later = [server.request("POST", "/todos", token, {"title": f"later {n}"})[0] for n in range(5)]
    assert later == [201] * 5
    for _ in range(10):
        runs = [threading.Thread(target=server.make, args=("cleanup",)) for _ in range(2)]
        for run in runs:
            run.start()
        for run in runs:
            run.join()
        job = server.request("GET", headers["Location"], token)[2]
        if job["status"] == "done":
            break
    assert job["status"] == "done"
    assert job["deleted"] == before  # the request's deletes and the jobs', each once
    assert in_request < before
    assert sizes.counted(dynamodb, TABLE, owner) == sizes.stored(dynamodb, TABLE, owner) == 5


def test_ctrl_c_stops_the_server_in_the_middle_of_a_long_clear() -> None:
    running = start_server()
    try:
        token = running.token("sizes-omar")
        fill(emulator_client("dynamodb", running.backend_port), TABLE, owner_of(token), 3000)
        clearing = threading.Thread(target=lambda: _ignore_drop(running, token), daemon=True)
        clearing.start()
        deadline = time.monotonic() + 60
        while not _clear_started(running) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        output = stop_server(running, signal.SIGINT)
    # stop_server would have had to SIGKILL it after 30 s: it stopped on the SIGINT itself.
    assert running.process.returncode != -signal.SIGKILL, output
    with pytest.raises(ProcessLookupError):
        os.killpg(running.process.pid, 0)
    for port in (running.port, running.backend_port):
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0


def _ignore_drop(running: Server, token: str) -> None:
    with contextlib.suppress(OSError):  # the server stopped under the request
        running.request("DELETE", "/todos", token, timeout=120)


def _clear_started(running: Server) -> bool:
    # The clear's first transactions have landed: some of the 3,000 are gone.
    dynamodb = emulator_client("dynamodb", running.backend_port)
    return int(dynamodb.scan(TableName=TABLE, Select="COUNT")["Count"]) < 3000
