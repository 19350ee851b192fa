"""The product installed from a kustomization of one's own, outside the clone, in another
namespace (`platform`) with the hooks-token and metrics components, driven by the real
Metacontroller; its metrics scraped as Prometheus Operator's ServiceMonitors say."""
