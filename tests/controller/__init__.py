"""Tests of the Metacontroller hooks: the wire format, the hooks as pure functions, the HTTP app."""
