"""Tests of the `image-mapper` commands, as a user runs them (design.md#commands)."""
