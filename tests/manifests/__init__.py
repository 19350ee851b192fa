"""Tests of what is installed: the CRD, the controllers, both Deployments, the webhook
configuration, RBAC, the Dockerfile, and checkov over the rendered manifests."""
