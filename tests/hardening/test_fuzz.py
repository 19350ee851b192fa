"""Every fuzz target, at the suite's budget: no crash, no 5xx, every refusal a JSON 400 or 413.

The budget is IMAGE_MAPPER_FUZZ_COUNT inputs per target (default 3,000, which keeps this module
well under a minute); `python -m tests.hardening.fuzz --count 100000` runs the full budget.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.webhook.server import Server

from .fuzz import server_log_problems
from .servers import Client, HooksHandle
from .targets import IN_PROCESS, Stats, admission_target, hooks_target, run

BUDGET = int(os.environ.get("IMAGE_MAPPER_FUZZ_COUNT", "3000"))
SLOWEST_SECONDS = 2.0
"""No single in-process input may take longer: a backtracking regex would."""


def assert_clean(stats: Stats) -> None:
    assert stats.tried >= BUDGET
    assert stats.clean, "\n".join(stats.failures)
    assert stats.reconnects == 0, f"the server closed {stats.reconnects} connections"


@pytest.mark.parametrize("name", list(IN_PROCESS))
def test_in_process_targets_never_crash(name: str) -> None:
    stats = run(IN_PROCESS[name](), BUDGET)
    assert_clean(stats)
    assert stats.slowest < SLOWEST_SECONDS, stats.slowest_input


def test_hooks_answer_every_body_with_json(hooks: HooksHandle) -> None:
    client = Client(hooks.host, hooks.port)
    try:
        stats = run(hooks_target(client), BUDGET)
    finally:
        client.close()
    assert_clean(stats)
    assert stats.refused > 0
    assert stats.ok > 0
    assert hooks.log.errors == []


def test_admission_answers_every_body_with_json(webhook: Server) -> None:
    client = Client("localhost", webhook.port, webhook.context)
    try:
        stats = run(admission_target(client), BUDGET)
    finally:
        client.close()
    assert_clean(stats)
    assert stats.refused > 0
    assert stats.ok > 0
    assert webhook.get("/metrics")[0] == 200
    assert webhook.get("/healthz")[0] == 200
    assert server_log_problems(Path(webhook.log)) == []
