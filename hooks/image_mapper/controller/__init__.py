"""The Metacontroller side: the sync hooks that decide which ImageMaps are in force, and write
their statuses and the Namespaces' record and label (design.md#one-decider, #status,
#namespaces, #http).

- `protocol`: Metacontroller's hook requests and responses, typed, and their parsers.
- `imagemap_hook`: the CompositeController's hooks (an ImageMap's status, `status` its wire
  format); `namespace_hook`: the DecoratorController's (a namespace's label and summary).
- `memo`: what the server remembers between syncs (decisions, ImageMaps read), so that a
  namespace is not walked again and again.
- `dispatch`: the four hooks by path; `bodies`: request bodies, each related object decoded
  once; `app`: the Flask app over them; `server`: waitress.

It decides with the engine (`image_mapper.engine`) and never imports the webhook
(`image_mapper.webhook`).
"""
