"""Hardening: bad input (fuzzing), TLS policy, bearer token and secrets in logs, the container."""
