"""The engine: image references, maplets and mappings, and the acceptance of ImageMaps.

Pure functions of plain values, shared by both servers and the commands; nothing here talks to
the API server, serves HTTP, or keeps state between calls: `decide` takes the prior decision and
returns a new one, and what a server remembers is its own. Its only memory is two bounded
`lru_cache`s of pure parsing (`reference.parse_normalized_cached`, `consistency.compile_map`).
It imports nothing from the other parts of `image_mapper`, and no two of its modules import each
other.

- `names`: the ImageMap API's group, version, kind and plural.
- `reference`: the image reference grammar of distribution/reference (the only module that
  takes image strings apart).
- `mapping`: maplets and the compiled mapping of a namespace: what a pod image becomes.
- `imagemap`: the ImageMap resource: the typed value read from an object.
- `patterns`, `consistency`: the consistency rule (design.md#consistency), pair by pair and as a
  walk.
- `record`: the namespace's decision record (design.md#one-decider), kept on the Namespace.
- `acceptance`: the acceptance walk (design.md#acceptance, `decide`), the record it makes
  (`record_of`), and those who follow it: the ImageMap hook (`follow`) and the webhook's mapping
  (`compile_recorded`); `verdicts`: what it says of each ImageMap.
"""
