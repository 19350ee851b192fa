"""The waitress internals that `image_mapper.controller.server` relies on, named one by one.

waitress offers no public graceful stop and no hook for its own error answers, so the hooks
server uses these (its docstring lists them) and pins waitress exactly; a waitress upgrade that
moves one of them fails here, by name, before the behaviour tests (tests/controller/test_http.py,
tests/cli/test_serve_hooks.py) fail less clearly.
"""

from __future__ import annotations

import inspect
import re
from importlib.metadata import version
from pathlib import Path

import waitress
from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer
from waitress.task import ErrorTask

from image_mapper.controller import server as hooks_server
from image_mapper.controller.app import create_app
from image_mapper.controller.server import HooksServer

ROOT = Path(__file__).resolve().parents[2]


def test_waitress_is_pinned_exactly_where_it_is_installed_from() -> None:
    requirement = re.search(r"^waitress==([\w.]+)$", (ROOT / "requirements.txt").read_text(),
                            re.MULTILINE)
    assert requirement is not None
    assert f'"waitress=={requirement.group(1)}"' in (ROOT / "pyproject.toml").read_text()
    assert version("waitress") == requirement.group(1)


def test_the_loop_and_stop_internals_exist() -> None:
    assert callable(wasyncore.loop)
    assert {"timeout", "map", "count"} <= set(inspect.signature(wasyncore.loop).parameters)
    assert callable(wasyncore.close_all)
    assert callable(wasyncore.dispatcher.close)
    server = HooksServer(create_app({}), host="127.0.0.1", port=0, threads=1)
    try:
        listeners = server._listeners()
        assert listeners
        assert all(isinstance(listener, BaseWSGIServer) for listener in listeners)
        assert callable(listeners[0].trigger.pull_trigger)
        assert callable(server._server.task_dispatcher.shutdown)
        assert listeners[0].adj.max_request_body_size == 64 * 1024 * 1024 + 1
        assert all(listener.channel_class.error_task_class.__mro__[1] is ErrorTask
                   for listener in listeners)
    finally:
        server._trigger.close()
        wasyncore.close_all(server._map)


def test_the_channel_and_error_task_internals_exist() -> None:
    channel_attributes = inspect.getsource(HTTPChannel)
    for name in ("self.request", "self.requests", "self.total_outbufs_len",
                 "error_task_class"):
        assert name in channel_attributes, name
    for name in ("execute", "set_close_on_finish", "write"):
        assert callable(getattr(ErrorTask, name)), name
    assert "self.request.error" in inspect.getsource(ErrorTask.execute)


def test_only_the_hooks_server_module_imports_waitress() -> None:
    package = ROOT / "hooks" / "image_mapper"
    importers = sorted(str(path.relative_to(package)) for path in package.rglob("*.py")
                       if re.search(r"^\s*(from|import) waitress", path.read_text(), re.MULTILINE))
    assert importers == ["controller/server.py"]
    assert hooks_server.waitress is waitress
