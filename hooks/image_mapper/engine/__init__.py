"""The engine: image references, maplets and mappings, and the acceptance of ImageMaps.

Pure functions of plain values, shared by both servers and the commands; nothing here talks to
the API server, serves HTTP, or keeps state between calls (the decision cache is an object its
caller owns). It imports nothing from the other parts of `image_mapper`.

- `reference`: the image reference grammar of distribution/reference (the only module that
  takes image strings apart).
- `mapping`: maplets and the compiled mapping of a namespace: what a pod image becomes.
- `imagemap`: the ImageMap resource's names, and the typed value read from an object.
- `patterns`, `consistency`: the consistency rule (design.md#consistency), pair by pair and as a
  walk.
- `record`: the namespace's decision record (design.md#one-decider), kept on the Namespace.
- `acceptance`: the acceptance walk (design.md#acceptance, `decide`), the record it makes
  (`record_of`), and those who follow it: the ImageMap hook (`follow`) and the webhook's mapping
  (`compile_recorded`); `verdicts`: what it decides; `cache`: what a server may remember.
"""
