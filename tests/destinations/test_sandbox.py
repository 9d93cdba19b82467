"""The Meta sandbox validates requests like the platform, holds exactly what it was sent, and obeys its knobs."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from django.conf import settings

from audience_ops.core.embedded import port_is_open
from audience_ops.destinations.sandbox.client import MetaSandboxClient

TOKEN = "any-token-works-in-the-sandbox"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class Graph:
    """Raw Graph API calls, to test the emulator without the adapter."""

    def __init__(self, sandbox: MetaSandboxClient) -> None:
        self.root = sandbox.base_url + "/v25.0"

    def call(self, http_method: str, path: str, *, token: str | None = TOKEN, **fields) -> requests.Response:
        data = {key: json.dumps(value) if isinstance(value, (dict, list)) else value for key, value in fields.items()}
        if token is not None:
            data["access_token"] = token
        if http_method == "GET":
            return requests.get(f"{self.root}/{path}", params=data, timeout=5)
        return requests.request(http_method, f"{self.root}/{path}", data=data, timeout=5)

    def audience(self, name: str = "A") -> str:
        response = self.call(
            "POST", "act_42/customaudiences", name=name, subtype="CUSTOM", customer_file_source="USER_PROVIDED_ONLY"
        )
        assert response.status_code == 200, response.text
        return response.json()["id"]


@pytest.fixture
def graph(meta_sandbox) -> Graph:
    return Graph(meta_sandbox)


def error_of(response: requests.Response) -> dict:
    assert response.status_code >= 400
    return response.json()["error"]


def test_requests_without_a_token_or_with_a_rejected_one_are_refused(graph, meta_sandbox):
    assert error_of(graph.call("GET", "act_42", token=None))["code"] == 104
    meta_sandbox.reject_token()
    assert error_of(graph.call("GET", "act_42"))["code"] == 190
    meta_sandbox.accept_token()
    assert graph.call("GET", "act_42").json()["id"] == "act_42"


def test_audience_creation_is_validated(graph):
    bad_subtype = graph.call("POST", "act_42/customaudiences", name="A", subtype="LOOKALIKE")
    bad_source = graph.call(
        "POST", "act_42/customaudiences", name="A", subtype="CUSTOM", customer_file_source="SOMETHING"
    )
    no_name = graph.call("POST", "act_42/customaudiences", subtype="CUSTOM", customer_file_source="USER_PROVIDED_ONLY")

    assert "subtype" in error_of(bad_subtype)["message"]
    assert "customer_file_source" in error_of(bad_source)["message"]
    assert "name" in error_of(no_name)["message"]


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({"schema": "FAX_SHA256", "data": ["x"]}, "Invalid schema"),
        ({"schema": ["EMAIL", "FAX"], "data": [["", ""]]}, "FAX"),
        ({"schema": ["EMAIL", "PHONE"], "data": [[sha("a")]]}, "payload[data][0] has 1 values; the schema has 2"),
        ({"schema": "EMAIL_SHA256", "data": []}, "non-empty array"),
        ({"data": [sha("a")]}, "schema"),
    ],
)
def test_wrong_schema_or_row_width_is_code_100_with_a_message(graph, payload, fragment):
    audience_id = graph.audience()

    error = error_of(graph.call("POST", f"{audience_id}/users", payload=payload))

    assert error["code"] == 100
    assert fragment in error["message"]


def test_more_than_ten_thousand_rows_is_refused(graph, meta_sandbox):
    audience_id = graph.audience()
    rows = [sha(str(number)) for number in range(10_001)]

    error = error_of(graph.call("POST", f"{audience_id}/users", payload={"schema": "EMAIL_SHA256", "data": rows}))

    assert error["code"] == 100 and "at most 10000" in error["message"]
    assert meta_sandbox.members(audience_id) == []


def test_rows_may_be_flat_or_nested_and_remove_works_with_post_method_delete(graph, meta_sandbox):
    audience_id = graph.audience()
    graph.call("POST", f"{audience_id}/users", payload={"schema": "EMAIL_SHA256", "data": [[sha("a")], sha("b")]})

    removed = graph.call(
        "POST", f"{audience_id}/users", method="DELETE", payload={"schema": "EMAIL_SHA256", "data": [sha("a")]}
    )

    assert removed.json()["num_received"] == 1
    assert meta_sandbox.members(audience_id) == [{"EMAIL": sha("b")}]


def test_json_bodies_without_a_session_are_accepted(meta_sandbox, graph):
    # Segment's production destination posts JSON with no session
    audience_id = graph.audience()
    response = requests.post(
        f"{graph.root}/{audience_id}/users",
        json={"access_token": TOKEN, "payload": {"schema": ["EMAIL"], "data": [[sha("x")]]}},
        timeout=5,
    )

    assert response.status_code == 200
    assert response.json()["num_received"] == 1 and "session_id" not in response.json()
    assert meta_sandbox.members(audience_id) == [{"EMAIL": sha("x")}]


def test_badly_hashed_values_are_invalid_and_not_added(graph, meta_sandbox):
    audience_id = graph.audience()
    payload = {"schema": ["EMAIL", "PHONE"], "data": [[sha("a"), ""], ["Mary@Example.com", sha("1")], ["", ""]]}

    body = graph.call("POST", f"{audience_id}/users", payload=payload).json()

    assert body["num_received"] == 3
    assert body["num_invalid_entries"] == 2
    assert "Mary@Example.com" in body["invalid_entry_samples"]
    assert meta_sandbox.members(audience_id) == [{"EMAIL": sha("a")}]


def test_a_finished_session_refuses_later_batches(graph):
    audience_id = graph.audience()
    payload = {"schema": "EMAIL_SHA256", "data": [sha("a")]}
    first = {"session_id": 77, "batch_seq": 1, "last_batch_flag": False}
    last = {"session_id": 77, "batch_seq": 2, "last_batch_flag": True}
    late = {"session_id": 77, "batch_seq": 3, "last_batch_flag": False}

    assert graph.call("POST", f"{audience_id}/users", payload=payload, session=first).json()["num_received"] == 1
    assert graph.call("POST", f"{audience_id}/users", payload=payload, session=last).json()["num_received"] == 2
    error = error_of(graph.call("POST", f"{audience_id}/users", payload=payload, session=late))

    assert (error["code"], error["error_subcode"]) == (2650, 1870159)


def test_deprecated_api_versions_are_refused(meta_sandbox):
    response = requests.get(f"{meta_sandbox.base_url}/v12.0/act_42", params={"access_token": TOKEN}, timeout=5)

    assert error_of(response)["code"] == 2635


def test_knobs_can_target_one_kind_of_call_and_the_log_never_holds_the_token(graph, meta_sandbox):
    audience_id = graph.audience()
    meta_sandbox.throttle(1, 613, ops=["add"])

    assert graph.call("GET", "act_42").status_code == 200
    throttled = graph.call("POST", f"{audience_id}/users", payload={"schema": "EMAIL_SHA256", "data": [sha("a")]})
    passed = graph.call("POST", f"{audience_id}/users", payload={"schema": "EMAIL_SHA256", "data": [sha("a")]})

    assert error_of(throttled)["code"] == 613
    assert passed.status_code == 200
    log = meta_sandbox.request_log()
    assert [(entry["op"], entry["status"]) for entry in log] == [
        ("create_audience", 200),
        ("read_account", 200),
        ("add", 400),
        ("add", 200),
    ]
    assert log[2]["error_code"] == 613 and log[3]["rows"] == 1
    assert TOKEN not in json.dumps(log)


def test_reset_forgets_everything(graph, meta_sandbox):
    graph.audience()
    meta_sandbox.fail(5)

    meta_sandbox.reset()

    assert meta_sandbox.audiences() == [] and meta_sandbox.request_log() == []
    assert graph.call("GET", "act_42").status_code == 200


def test_concurrent_uploads_are_all_kept(graph, meta_sandbox):
    audience_id = graph.audience()
    batches = [[sha(f"{batch}-{row}") for row in range(200)] for batch in range(16)]

    def upload(rows):
        return graph.call("POST", f"{audience_id}/users", payload={"schema": "EMAIL_SHA256", "data": rows})

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = [response.status_code for response in pool.map(upload, batches)]

    assert statuses == [200] * 16
    assert meta_sandbox.member_values(audience_id, "EMAIL") == {value for rows in batches for value in rows}


def test_run_sandbox_serves_until_interrupted(tmp_path):
    port = _free_port()
    manage = Path(settings.BASE_DIR) / "manage.py"
    process = subprocess.Popen(
        [sys.executable, str(manage), "run_sandbox", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        for _ in range(100):
            if port_is_open("127.0.0.1", port):
                break
            time.sleep(0.1)
        client = MetaSandboxClient(f"http://127.0.0.1:{port}")
        index = requests.get(client.server_url + "/", timeout=5).json()
        account = requests.get(f"{client.base_url}/v25.0/act_9", params={"access_token": TOKEN}, timeout=5)
        assert index["sandboxes"]["meta"]["api"] == "/meta"
        assert account.json()["id"] == "act_9"
        assert client.request_log()[0]["op"] == "read_account"
    finally:
        process.terminate()
        process.wait(timeout=10)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
