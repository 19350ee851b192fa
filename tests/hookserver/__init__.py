"""Tests of the Metacontroller hooks: pure functions, the HTTP server, the commands, manifests."""
