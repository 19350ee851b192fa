"""What both servers share over HTTP: one JSON error shape, the probes, the body limit.

The hooks (`hooks.controller`) and the webhook (`hooks.webhook`) answer alike wherever they
can: every error is `{"error": MESSAGE, "code": STATUS}`, a body past the limit gets the same
413 wording, and `/healthz`, `/readyz` and `/metrics` are one blueprint. This package imports
nothing from the parts that use it.
"""
