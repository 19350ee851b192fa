"""The webhook side: pod admission over HTTPS (design.md#admission, #http).

- `reviews`: the AdmissionReview wire format, typed, and its validation; `patches`: JSONPatch
  operations; `admission`: the rewrite rule, one pure function (`admit`).
- `view`: one compiled mapping per namespace, from its decision record; `watcher`: the
  list-and-watch that keeps the view current; `kube`: the edge to the API server.
- `tls`: the serving certificate, bootstrapped, rotated and reloaded.
- `app`: the Flask app (`POST /mutate`, probes, metrics); `asgi`: `POST /mutate` on the event
  loop, the rest to Flask; `server`: uvicorn.

It maps with the engine (`image_mapper.engine`) and never imports the hooks
(`image_mapper.controller`).
"""
