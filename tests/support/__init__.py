"""Test support in one place: one builder per resource (`resources`), one way to wait
(`waiting.wait_for`), one way to find a free port (`ports.free_port`). A test's body then shows
only what is special about it."""
