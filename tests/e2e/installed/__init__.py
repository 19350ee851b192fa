"""The product as `kubectl apply -k metacontroller/` installs it, on its own control plane."""
