"""The `image-mapper` command (design.md#commands): one entry point, one module per subcommand.

- `main`: the entry point and the table of subcommands; `errors`: `CommandError`.
- `map_cmd`, `review_cmd`, `hook_cmd`: run the engine, the webhook's admission and the hooks on
  files, without a cluster.
- `serve_hooks`, `serve_webhook`: read the options (and the environment) into the servers'
  configuration, and run them.
- `documents`: ImageMaps from YAML files; `options`: checks of option values, environment
  defaults.
- `images_cmd`, `import_cmd`, `verify_cmd`: the relocation loop; `workload_images` (what
  manifests run, and the layers that map it), `relocation_records` (copy tools' records),
  `registry` and `docker_config` (the distribution API client and its credentials, loaded only
  by `verify`).

The only part of `image_mapper` that knows argparse; the servers and the engine raise their own
errors, which the commands turn into one line for the user.
"""
