"""Traffic from files: a scenario (TOML), a HAR recorded by a browser, a common/combined access log.

Each becomes request templates of a `LoadSpec`, sent to a loopback base. A scenario:

    base = "http://127.0.0.1:3000"        # optional when --base is given (which wins)
    seed = 1                              # of the random picks of [vars]
    headers = { "Accept-Language" = "en" }  # sent with every request

    [vars]                                # {q} → a random pick per request
    q = ["vue", "ssr", "memory"]
    id = { from = 1, to = 500 }           # {id} → a random integer in the range

    [[setup]]                             # once per virtual user, before its first request
    method = "POST"
    path = "/login"
    form = { user = "user{user}", password = "secret" }   # the session cookie is kept per user

    [[request]]
    path = "/account"                     # or url = "http://127.0.0.1:3000/account"
    weight = 3                            # share of the traffic (default 1)

    [[request]]
    route = "add to cart"                 # optional name (default: method and path, "POST /api/cart")
    method = "POST"
    path = "/api/cart?ref={n}"            # {n}: the request's number; {user}: the virtual user's
    json = { item = "sku-{id}", qty = 1 } # or form = {...}, or body = "..." with content_type
    headers = { "X-Requested-With" = "fetch" }

HAR and access logs keep only requests to the recorded site's origin, rewritten to the base;
requests to other hosts are dropped and counted. Identical requests become one template whose
weight is how often it occurs, so the replay has the recording's mix; paths that differ only by
ids (`/item/123`, `/item/456`) are one route (`GET /item/:id`).
"""

from __future__ import annotations

import json
import re
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus, urlencode, urlsplit

from leaksleuth.errors import UsageError
from leaksleuth.live.load import PLACEHOLDER, check_local_url
from leaksleuth.options import BodyKind, LoadSpec, RequestSpec, TrafficSource

TOP_KEYS = {"base", "seed", "headers", "vars", "setup", "request"}
REQUEST_KEYS = {"route", "method", "path", "url", "headers", "json", "form", "body", "content_type", "weight"}
SETUP_KEYS = REQUEST_KEYS - {"weight", "route"}
BUILTIN_VARS = {"n", "user"}
MAX_RANGE = 1_000_000

# not replayed from a recording: hop-by-hop, computed by the client, the recorded session (each
# virtual user gets its own from the cookies the server sets), conditional requests (a 304 skips
# the render we want to measure)
DROPPED_HEADERS = {
    "host", "content-length", "connection", "keep-alive", "transfer-encoding", "upgrade", "te", "trailer",
    "proxy-connection", "proxy-authorization", "cookie", "if-none-match", "if-modified-since",
}
ID_SEGMENT = re.compile(r"^(\d+|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9a-fA-F]{16,})$")


def _unknown(raw: dict[str, Any], allowed: set[str], where: str) -> None:
    extra = sorted(set(raw) - allowed)
    if extra:
        raise UsageError(f"unknown key{'s' if len(extra) > 1 else ''} in {where}: {', '.join(extra)}")


def check_base(base: str) -> str:
    """A loopback http(s) origin, with an optional path prefix; without a trailing slash."""
    check_local_url(base)
    parts = urlsplit(base)
    if parts.query or parts.fragment:
        raise UsageError(f"the base {base} must be an origin (and path), without a query")
    return base.rstrip("/")


def route_path(path: str) -> str:
    """A path with its ids replaced (`/item/123` → `/item/:id`), to group recorded requests."""
    return "/".join(":id" if ID_SEGMENT.match(seg) else seg for seg in path.split("/")) or "/"


def _str_table(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise UsageError(f"{where} must be a table like {{ Name = \"value\" }}")
    out = {}
    for k, v in value.items():
        if isinstance(v, (dict, list)):
            raise UsageError(f"{where}.{k} must be a string")
        out[str(k)] = str(v).lower() if isinstance(v, bool) else str(v)
    return out


def _variables(raw: Any) -> dict[str, tuple[str, ...]]:
    if not isinstance(raw, dict):
        raise UsageError("[vars] must be a table of lists or ranges")
    out: dict[str, tuple[str, ...]] = {}
    for name, v in raw.items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or name in BUILTIN_VARS:
            raise UsageError(f"[vars] {name!r}: a name of letters, digits and _ (and not n or user)")
        if isinstance(v, list) and v and all(isinstance(x, (str, int, float)) for x in v):
            out[name] = tuple(str(x) for x in v)
        elif isinstance(v, dict) and set(v) == {"from", "to"} and all(isinstance(v[k], int) for k in v):
            if not 0 <= v["to"] - v["from"] < MAX_RANGE:
                raise UsageError(f"[vars] {name}: need from ≤ to, at most {MAX_RANGE:,} values")
            out[name] = tuple(str(i) for i in range(v["from"], v["to"] + 1))
        else:
            raise UsageError(f"[vars] {name} must be a non-empty list of values or {{ from = 1, to = 100 }}")
    return out


def _placeholders_known(text: str, known: set[str], where: str) -> None:
    unknown = sorted({m.group(1) for m in PLACEHOLDER.finditer(text)} - known)
    if unknown:
        raise UsageError(f"{where}: unknown placeholder {{{unknown[0]}}} (known: n, user and the names in [vars])")


def _form_template(pairs: dict[str, str], known: set[str]) -> str:
    """urlencoded, with the placeholders left in place (filled and escaped when sent)."""
    encoded = "&".join(f"{quote_plus(k)}={quote_plus(v)}" for k, v in pairs.items())
    return re.sub(r"%7B([A-Za-z_][A-Za-z0-9_]*)%7D", lambda m: "{" + m[1] + "}" if m[1] in known else m[0], encoded)


def _scenario_request(raw: Any, where: str, base: str | None, known: set[str], setup: bool) -> RequestSpec:
    if not isinstance(raw, dict):
        raise UsageError(f"{where} must be a table")
    _unknown(raw, SETUP_KEYS if setup else REQUEST_KEYS, where)
    if ("path" in raw) == ("url" in raw):
        raise UsageError(f"{where} needs either path (on the base) or url")
    method = raw.get("method", "GET")
    if not isinstance(method, str) or not re.fullmatch(r"[A-Za-z]+", method):
        raise UsageError(f"{where}: method must be a word like GET or POST")
    if "path" in raw:
        path = raw["path"]
        if not isinstance(path, str) or not path.startswith("/"):
            raise UsageError(f"{where}: path must start with /")
        if base is None:
            raise UsageError(f"{where} has a path but there is no base: give --base or base = \"http://127.0.0.1:PORT\"")
        url = base + path
    else:
        url = raw["url"]
        if not isinstance(url, str):
            raise UsageError(f"{where}: url must be a string")
        origin = url.split("/", 3)[:3]
        if "{" in "/".join(origin):
            raise UsageError(f"{where}: no placeholders in the host or port of {url}")
        check_local_url(url)
    _placeholders_known(url, known, where)
    headers = _str_table(raw.get("headers", {}), f"{where} headers")
    bodies = [k for k in ("json", "form", "body") if k in raw]
    if len(bodies) > 1:
        raise UsageError(f"{where}: give one of json, form and body")
    body: str | None = None
    kind: BodyKind = "raw"
    content_type = raw.get("content_type")
    if "json" in raw:
        body, kind, content_type = json.dumps(raw["json"], default=str), "json", content_type or "application/json"
    elif "form" in raw:
        form = _str_table(raw["form"], f"{where} form")
        body, kind = _form_template(form, known), "form"
        content_type = content_type or "application/x-www-form-urlencoded"
    elif "body" in raw:
        if not isinstance(raw["body"], str):
            raise UsageError(f"{where}: body must be a string (use json = {{...}} for JSON)")
        body = raw["body"]
    elif content_type is not None:
        raise UsageError(f"{where}: content_type without a body")
    if content_type is not None:
        if not isinstance(content_type, str):
            raise UsageError(f"{where}: content_type must be a string")
        if not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = content_type
    weight = raw.get("weight", 1)
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight > 0:
        raise UsageError(f"{where}: weight must be a positive number")
    route = raw.get("route", "")
    if not isinstance(route, str):
        raise UsageError(f"{where}: route must be a string")
    return RequestSpec(url=url, method=method, headers=tuple(headers.items()), body=body, body_kind=kind,
                       weight=float(weight), route=route.strip())


def load_scenario(path: Path, base: str | None = None, **load: Any) -> LoadSpec:
    """A scenario file as a LoadSpec (`load`: the other LoadSpec fields, e.g. concurrency)."""
    try:
        raw = tomllib.loads(path.read_text())
    except OSError as exc:
        raise UsageError(f"cannot read the scenario {path}: {exc.strerror}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"the scenario {path} is not valid TOML: {exc}") from exc
    _unknown(raw, TOP_KEYS, f"the scenario {path.name}")
    given = base or raw.get("base")
    if given is not None and not isinstance(given, str):
        raise UsageError("base must be a URL such as \"http://127.0.0.1:3000\"")
    root = check_base(given) if given else None
    variables = _variables(raw.get("vars", {}))
    known = BUILTIN_VARS | set(variables)
    seed = raw.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise UsageError("seed must be an integer")
    for key in ("request", "setup"):
        if key in raw and not isinstance(raw[key], list):
            raise UsageError(f"write requests as [[{key}]] tables")
    requests = tuple(_scenario_request(r, f"request #{i + 1}", root, known, False)
                     for i, r in enumerate(raw.get("request", [])))
    if not requests:
        raise UsageError(f"the scenario {path} has no [[request]]")
    setup = tuple(_scenario_request(r, f"setup #{i + 1}", root, known, True) for i, r in enumerate(raw.get("setup", [])))
    common = _str_table(raw.get("headers", {}), "headers")
    headers = tuple(load.pop("headers", ())) + tuple(common.items())
    source = TrafficSource("scenario", str(path), len(requests), len(requests), base=root or "")
    return LoadSpec(requests=requests, setup=setup, variables=tuple(variables.items()), seed=seed,
                    headers=headers, source=source, **load)


def _merge(found: Counter[tuple[Any, ...]]) -> tuple[RequestSpec, ...]:
    """Identical requests → one template weighted by how often it occurs (first seen first)."""
    out = []
    for (method, url, headers, body, route), count in found.items():
        out.append(RequestSpec(url=url, method=method, headers=headers, body=body, weight=float(count), route=route,
                               template=False))
    return tuple(out)


def _har_entries(path: Path) -> list[dict[str, Any]]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise UsageError(f"cannot read the HAR {path}: {exc.strerror}") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path} is not a HAR file (not JSON: {exc})") from exc
    entries = doc.get("log", {}).get("entries") if isinstance(doc, dict) and isinstance(doc.get("log"), dict) else None
    if not isinstance(entries, list):
        raise UsageError(f"{path} is not a HAR file: no log.entries")
    return [e for e in entries if isinstance(e, dict)]


def _har_origin(entries: list[dict[str, Any]]) -> str | None:
    """The recorded site: the origin of the first page loaded (else of the first request)."""
    def origin(e: dict[str, Any]) -> str | None:
        url = e.get("request", {}).get("url", "") if isinstance(e.get("request"), dict) else ""
        parts = urlsplit(url) if isinstance(url, str) else None
        return f"{parts.scheme}://{parts.netloc}" if parts and parts.scheme in ("http", "https") else None

    for e in entries:
        mime = str(e.get("response", {}).get("content", {}).get("mimeType", "")) if isinstance(e.get("response"), dict) else ""
        if e.get("_resourceType") == "document" or mime.startswith("text/html"):
            o = origin(e)
            if o:
                return o
    return next((o for o in map(origin, entries) if o), None)


def load_har(path: Path, base: str | None = None, **load: Any) -> LoadSpec:
    """A HAR (DevTools "Save all as HAR") as weighted templates on the base."""
    entries = _har_entries(path)
    origin = _har_origin(entries)
    if origin is None:
        raise UsageError(f"{path}: the HAR holds no http(s) request")
    if base is None:
        try:
            check_local_url(origin)
        except UsageError as exc:
            raise UsageError(f"the HAR was recorded on {origin}, not on this machine: give --base "
                             "http://127.0.0.1:PORT (where to replay it)") from exc
    root = check_base(base or origin)
    found: Counter[tuple[Any, ...]] = Counter()
    dropped: Counter[str] = Counter()
    unparsed = 0
    for e in entries:
        req = e.get("request")
        if not isinstance(req, dict) or not isinstance(req.get("url"), str) or not isinstance(req.get("method"), str):
            unparsed += 1
            continue
        parts = urlsplit(req["url"])
        if parts.scheme not in ("http", "https"):
            unparsed += 1  # data:, blob:, ws:, chrome-extension:
            continue
        if f"{parts.scheme}://{parts.netloc}" != origin:
            dropped[parts.netloc] += 1
            continue
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers = []
        for h in req.get("headers") or []:
            name, value = str(h.get("name", "")), str(h.get("value", ""))
            if not name or name.startswith(":") or name.lower() in DROPPED_HEADERS or name.lower().startswith("proxy-"):
                continue
            if name.lower() in ("origin", "referer") and value.startswith(origin):
                value = root + value[len(origin):]
            headers.append((name, value))
        body = None
        post = req.get("postData")
        if isinstance(post, dict):
            if isinstance(post.get("text"), str):
                body = post["text"]
            elif isinstance(post.get("params"), list):
                body = urlencode([(str(p.get("name", "")), str(p.get("value", ""))) for p in post["params"]])
            mime = post.get("mimeType")
            if body is not None and isinstance(mime, str) and mime and not any(k.lower() == "content-type" for k, _ in headers):
                headers.append(("Content-Type", mime))
        method = req["method"].upper()
        route = f"{method} {route_path(parts.path or '/')}"
        found[(method, root + target, tuple(headers), body, route)] += 1
    kept = sum(found.values())
    if not kept:
        raise UsageError(f"{path}: no request to {origin} in the HAR ({sum(dropped.values())} to other hosts)")
    source = TrafficSource("har", str(path), len(entries), kept, tuple(dropped.most_common()), unparsed, origin, root)
    return LoadSpec(requests=_merge(found), source=source, **load)


# %h %l %u %t "%r" %>s %b, and combined's "%{Referer}i" "%{User-agent}i"
LOG_LINE = re.compile(
    r'^(?P<host>\S+) \S+ \S+ \[[^\]]*\] "(?P<request>(?:[^"\\]|\\.)*)" (?P<status>\d{3}|-) (?P<bytes>\S+)'
    r'(?: "(?:[^"\\]|\\.)*" "(?:[^"\\]|\\.)*")?'
)


def load_access_log(path: Path, base: str | None = None, **load: Any) -> LoadSpec:
    """A common or combined access log as weighted templates on the base (the log has paths only)."""
    if not base:
        raise UsageError("an access log holds paths only: give --base http://127.0.0.1:PORT (where to send them)")
    root = check_base(base)
    own = urlsplit(root).netloc
    found: Counter[tuple[Any, ...]] = Counter()
    dropped: Counter[str] = Counter()
    lines = unparsed = 0
    first_bad = ""
    try:
        with path.open(encoding="utf-8", errors="replace") as f:
            for line in f:
                if not line.strip():
                    continue
                lines += 1
                m = LOG_LINE.match(line)
                parts = m.group("request").split() if m else []
                if not m or len(parts) not in (2, 3) or not re.fullmatch(r"[A-Z]+", parts[0]) or parts[0] == "CONNECT":
                    unparsed += 1
                    first_bad = first_bad or line.strip()[:80]
                    continue
                method, target = parts[0], parts[1]
                if "://" in target:  # absolute form (a proxy's log): keep the base's own host only
                    t = urlsplit(target)
                    if t.netloc != own:
                        dropped[t.netloc] += 1
                        continue
                    target = (t.path or "/") + (f"?{t.query}" if t.query else "")
                if not target.startswith("/"):
                    unparsed += 1
                    first_bad = first_bad or line.strip()[:80]
                    continue
                route = f"{method} {route_path(target.split('?', 1)[0])}"
                found[(method, root + target, (), None, route)] += 1
    except OSError as exc:
        raise UsageError(f"cannot read the access log {path}: {exc.strerror}") from exc
    kept = sum(found.values())
    if not kept:
        if not found and not dropped:
            raise UsageError(f"{path}: no request line in common or combined log format (first line: {first_bad!r})")
        raise UsageError(f"{path}: every request is to another host than {own}")
    source = TrafficSource("access-log", str(path), lines, kept, tuple(dropped.most_common()), unparsed, own, root)
    return LoadSpec(requests=_merge(found), source=source, **load)


def load_traffic(*, scenario: Path | None = None, har: Path | None = None, access_log: Path | None = None,
                 base: str | None = None, **load: Any) -> LoadSpec:
    """The one traffic file given, as a LoadSpec (`load`: concurrency, headers, vary_query, per_route)."""
    given = [(k, p) for k, p in (("scenario", scenario), ("har", har), ("access_log", access_log)) if p is not None]
    if len(given) != 1:
        raise UsageError("give one of --scenario, --har and --access-log")
    kind, path = given[0]
    reader = {"scenario": load_scenario, "har": load_har, "access_log": load_access_log}[kind]
    return reader(Path(path), base, **load)
