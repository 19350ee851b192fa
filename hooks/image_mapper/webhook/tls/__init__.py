"""TLS for the webhook without prerequisites: a CA and a serving certificate, kept fresh.

- `certificates`: making a CA and a serving certificate; what the Secret holds (`Material`).
- `rotation`: `plan`, the pure decision of what the Secret should hold now.
- `bootstrap`: `TLSBootstrap`, the I/O around the plan: the Secret, the files the server
  reads, the webhook configuration's caBundle.
- `reloader`: `CertificateReloader`, the server's SSL context, rebuilt when the files change,
  with the project's TLS policy.
"""
