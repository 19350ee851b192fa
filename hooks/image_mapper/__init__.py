"""Image Mapper: ImageMap resources, Metacontroller hooks and a mutating admission webhook.

One sub-package per part, imports pointing one way (docs/architecture.md; enforced by
tests/test_layout.py):

- `engine`: image references, maplets and mappings, the acceptance of ImageMaps. Imports
  nothing from the other parts.
- `serving`: what both servers share over HTTP (error bodies, probes, the body limit).
- `controller`: the Metacontroller hooks process; `webhook`: the admission webhook process.
  They never import each other.
- `cli`: the `image-mapper` command; the only part that knows argparse.
"""
