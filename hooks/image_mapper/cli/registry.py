"""Asking registries whether images exist, over the OCI distribution API: `HEAD
/v2/NAME/manifests/REFERENCE` with the manifest media types in `Accept`, and the manifest's
digest from `Docker-Content-Digest` (a `GET` and the body's sha256 where a registry leaves the
header out).

Built on requests and urllib3, which the Kubernetes client already brings: a pooled session
per thread, urllib3's `Retry` for 429 and 5xx answers (honouring `Retry-After`, capped) and for
connection errors, timeouts on every request, TLS with the system's CAs or a given CA file.
What the libraries do not do is the registry's authentication handshake
(distribution's token authentication): a `401` names a `Basic` or `Bearer` challenge; for
`Bearer`, a token for the repository's `pull` scope is fetched from the challenge's realm
(with the credentials, or anonymously) and kept for the other references of that repository.

References are taken apart only by `image_mapper.engine.reference`. No message carries a
credential or a token.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

import requests
import requests.adapters
import requests.utils
from urllib3.util.retry import Retry

from image_mapper.cli.docker_config import Credential, DockerConfig
from image_mapper.engine.reference import DEFAULT_DOMAIN, Reference

MANIFEST_MEDIA_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
DOCKER_HUB_API = "registry-1.docker.io"
"""Where Docker Hub (`docker.io`) serves the distribution API."""
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_AFTER_SECONDS = 30.0
"""A longer `Retry-After` is waited only this long: a check must end."""
USER_AGENT = "image-mapper"

Problem = Literal["missing", "unauthorized", "unreachable"]


@dataclass(frozen=True, slots=True)
class Options:
    ca_file: str | None = None
    insecure: frozenset[str] = frozenset()
    """Registries (`HOST[:PORT]`, as references name them) asked over plain HTTP."""
    timeout: float = 10.0
    concurrency: int = 16
    retries: int = 3


@dataclass(frozen=True, slots=True)
class Resolved:
    """What a registry said about one reference."""

    reference: str
    digest: str | None = None
    """The manifest's digest when it exists."""
    problem: Problem | None = None
    detail: str = ""


class _Retry(Retry):
    """urllib3's Retry with `Retry-After` capped."""

    def get_retry_after(self, response: object) -> float | None:
        after = super().get_retry_after(response)  # type: ignore[arg-type]
        return None if after is None else min(after, MAX_RETRY_AFTER_SECONDS)


def api_host(domain: str) -> str:
    return DOCKER_HUB_API if domain == DEFAULT_DOMAIN else domain


class Challenge:
    """A parsed `WWW-Authenticate` header: the scheme and its parameters."""

    def __init__(self, header: str) -> None:
        scheme, _, rest = header.strip().partition(" ")
        self.scheme = scheme.lower()
        parsed: dict[str, str | None] = requests.utils.parse_dict_header(  # type: ignore[no-untyped-call]
            rest)
        self.params = {k.lower(): v for k, v in parsed.items() if v is not None}


class Client:
    """Resolves references concurrently; one instance per command run."""

    def __init__(self, options: Options, credentials: DockerConfig) -> None:
        self.options = options
        self.credentials = credentials
        self._local = threading.local()
        self._tokens: dict[tuple[str, str], str] = {}
        """Authorization header values by (host, repository)."""
        self._lock = threading.Lock()

    # --- HTTP ------------------------------------------------------------------------------

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            retry = _Retry(total=self.options.retries, connect=self.options.retries,
                           read=self.options.retries, status=self.options.retries,
                           other=0, backoff_factor=0.2, status_forcelist=RETRY_STATUSES,
                           allowed_methods=frozenset({"HEAD", "GET", "POST"}),
                           respect_retry_after_header=True, raise_on_status=False,
                           raise_on_redirect=False)
            adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=4,
                                                    max_retries=retry)
            session = requests.Session()
            session.mount("https://", adapter)
            session.mount("http://", adapter)
            session.headers["User-Agent"] = USER_AGENT
            session.verify = self.options.ca_file or True
            session.trust_env = False  # no proxy or .netrc credentials picked up silently
            self._local.session = session
        return session

    def _scheme(self, host: str) -> str:
        return "http" if host in self.options.insecure else "https"

    def _request(self, method: str, url: str, headers: dict[str, str]) -> requests.Response:
        return self._session().request(method, url, headers=headers,
                                       timeout=self.options.timeout, allow_redirects=True)

    # --- authentication --------------------------------------------------------------------

    def _authorization(self, host: str, repository: str, challenge: Challenge) -> str | None:
        """The `Authorization` value that answers a challenge; None when none can."""
        credential = self.credentials.credential(host)
        if challenge.scheme == "basic":
            if credential is None or credential.identity_token or credential.registry_token:
                return None
            pair = f"{credential.username}:{credential.secret}".encode()
            return "Basic " + base64.b64encode(pair).decode("ascii")
        if challenge.scheme != "bearer" or "realm" not in challenge.params:
            return None
        if credential is not None and credential.registry_token:
            return f"Bearer {credential.secret}"
        token = self._token(challenge, f"repository:{repository}:pull", credential)
        return None if token is None else f"Bearer {token}"

    def _token(self, challenge: Challenge, scope: str,
               credential: Credential | None) -> str | None:
        realm = challenge.params["realm"]
        service = challenge.params.get("service")
        session = self._session()
        timeout = self.options.timeout
        if credential is not None and credential.identity_token:
            # The OAuth2 refresh-token grant of distribution's token authentication.
            form = {"grant_type": "refresh_token", "refresh_token": credential.secret,
                    "client_id": USER_AGENT, "scope": scope}
            if service:
                form["service"] = service
            answer = session.post(realm, data=form, timeout=timeout)
        else:
            params = {"scope": scope, **({"service": service} if service else {})}
            auth = (credential.username, credential.secret) if credential else None
            answer = session.get(realm, params=params, auth=auth, timeout=timeout)
        if answer.status_code != 200:
            return None
        try:
            body = answer.json()
        except ValueError:
            return None
        token = body.get("token") or body.get("access_token") if isinstance(body, dict) else None
        return token if isinstance(token, str) and token else None

    # --- resolving -------------------------------------------------------------------------

    def resolve(self, reference: Reference) -> Resolved:
        """Whether the manifest exists, and its digest."""
        shown = str(reference)
        host = api_host(reference.domain)
        target = reference.digest or reference.tag or "latest"
        url = f"{self._scheme(host)}://{host}/v2/{reference.path}/manifests/{target}"
        headers = {"Accept": ", ".join(MANIFEST_MEDIA_TYPES)}
        try:
            answer = self._authorized("HEAD", url, headers, host, reference.path)
            if answer.status_code == 200 and "Docker-Content-Digest" not in answer.headers:
                answer = self._authorized("GET", url, headers, host, reference.path)
                if answer.status_code == 200:
                    digest = "sha256:" + hashlib.sha256(answer.content).hexdigest()
                    return Resolved(shown, reference.digest or digest)
        except requests.exceptions.SSLError as error:
            return Resolved(shown, problem="unreachable", detail=f"TLS: {_reason(error)} "
                            "(--ca-file for a private CA; --insecure-registry for plain HTTP)")
        except requests.exceptions.Timeout:
            return Resolved(shown, problem="unreachable",
                            detail=f"no answer within {self.options.timeout:g}s")
        except requests.exceptions.RequestException as error:
            return Resolved(shown, problem="unreachable", detail=_reason(error))
        status = answer.status_code
        if status == 200:
            return Resolved(shown, answer.headers["Docker-Content-Digest"])
        if status == 404:
            return Resolved(shown, problem="missing",
                            detail=f"{host} has no manifest {target} in {reference.path}")
        if status in (401, 403):
            return Resolved(shown, problem="unauthorized",
                            detail=f"{host} answered {status} "
                                   + ("with the credentials of the Docker config"
                                      if self.credentials.credential(host) else
                                      "to an anonymous request (no credentials for it in the "
                                      "Docker config)"))
        return Resolved(shown, problem="unreachable",
                        detail=f"{host} answered HTTP {status}"
                               + (" after retries" if status in RETRY_STATUSES else ""))

    def _authorized(self, method: str, url: str, headers: dict[str, str], host: str,
                    repository: str) -> requests.Response:
        key = (host, repository)
        with self._lock:
            known = self._tokens.get(key)
        if known is not None:
            headers = {**headers, "Authorization": known}
        answer = self._request(method, url, headers)
        if answer.status_code != 401:
            return answer
        header = answer.headers.get("WWW-Authenticate")
        authorization = (self._authorization(host, repository, Challenge(header))
                         if header else None)
        if authorization is None:
            return answer
        with self._lock:
            self._tokens[key] = authorization
        return self._request(method, url, {**headers, "Authorization": authorization})

    def resolve_all(self, references: Iterable[Reference],
                    done: Callable[[Resolved], None] | None = None) -> dict[str, Resolved]:
        """Each distinct reference resolved once, `concurrency` at a time."""
        unique = {str(r): r for r in references}
        with ThreadPoolExecutor(max_workers=self.options.concurrency) as pool:
            results = dict(zip(unique, pool.map(self.resolve, unique.values()), strict=True))
        if done is not None:
            for result in results.values():
                done(result)
        return results


def _reason(error: Exception) -> str:
    """The innermost cause of a requests error, without the URL's query (never a secret there,
    but a token realm's parameters are noise)."""
    cause: BaseException = error
    while True:
        nested = getattr(cause, "reason", None) or cause.__cause__ or cause.__context__
        if not isinstance(nested, BaseException) or nested is cause:
            break
        cause = nested
    text = str(cause) or type(cause).__name__
    return text.split("?", 1)[0] if "://" in text else text
