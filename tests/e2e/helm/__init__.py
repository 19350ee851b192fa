"""The product as `helm install` of charts/image-mapper installs it, driven by the real
Metacontroller, on its own control plane."""
