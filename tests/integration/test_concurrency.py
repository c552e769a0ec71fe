"""A state machine of clients editing one todo with If-Match: no update is ever lost."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

Auth = Callable[..., dict[str, str]]
CLIENTS = 3


def test_clients_with_versions_never_lose_an_update(api: Any, auth: Auth) -> None:
    created = api.post("/todos", headers=auth(), body='{"title": "v1"}')
    path = f"/todos/{created.json_body['id']}"

    class Clients(RuleBasedStateMachine):
        """Each client remembers the ETag it last saw; the model is what the server must hold."""

        def __init__(self) -> None:
            super().__init__()
            response = api.get(path, headers=auth())
            self.title = response.json_body["title"]
            self.version = int(response.headers["ETag"].strip('"'))
            self.seen = [self.version] * CLIENTS

        @rule(client=st.integers(0, CLIENTS - 1))
        def refresh(self, client: int) -> None:
            response = api.get(path, headers=auth())
            self.seen[client] = int(response.headers["ETag"].strip('"'))
            assert self.seen[client] == self.version

        @rule(client=st.integers(0, CLIENTS - 1), title=st.text("abc", min_size=1, max_size=5))
        def edit(self, client: int, title: str) -> None:
            headers = auth(**{"If-Match": f'"{self.seen[client]}"'})
            response = api.patch(path, headers=headers, body=f'{{"title": "{title}"}}')
            if self.seen[client] == self.version:
                assert response.status_code == 200
                self.title, self.version = title, self.version + 1
                self.seen[client] = self.version
                assert response.headers["ETag"] == f'"{self.version}"'
            else:  # someone else changed it since this client looked: refused, nothing lost
                assert response.status_code == 412

        @rule(client=st.integers(0, CLIENTS - 1), title=st.text("xyz", min_size=1, max_size=5))
        def blind_edit(self, client: int, title: str) -> None:
            # Without If-Match a write applies to whatever version is current.
            response = api.patch(path, headers=auth(), body=f'{{"title": "{title}"}}')
            assert response.status_code == 200
            self.title, self.version = title, self.version + 1

        @invariant()
        def server_holds_the_model(self) -> None:
            response = api.get(path, headers=auth())
            assert response.json_body["title"] == self.title
            assert response.headers["ETag"] == f'"{self.version}"'

    run_state_machine_as_test(Clients, settings=settings(stateful_step_count=15, deadline=None))
