"""What both servers share over HTTP: one JSON error shape, the probes, the body limit.

The hooks (`image_mapper.controller`) and the webhook (`image_mapper.webhook`) answer alike
wherever they can: every error is `{"error": MESSAGE, "code": STATUS}`, a body past the limit
gets the same 413 wording, and `/healthz`, `/readyz` and `/metrics` are one blueprint. This
package imports nothing from the parts that use it.
"""
