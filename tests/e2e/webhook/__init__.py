"""`image-mapper serve-webhook` and its ImageMap watch alone against a real API server, on
their own control plane (no Metacontroller: the tests write the statuses the hooks would)."""
