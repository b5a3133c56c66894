"""Schemathesis hooks for Ledgerline's contract run (scripts/schemathesis.sh).

They make the generated positive cases honour the two documented extensions
that JSON Schema cannot express, so the checks test what the documents say.

A parameter marked `x-ledgerline-opaque` in the OpenAPI documents is a value
only a service issues, signed (a consistency token): its pattern says what
one looks like, but no generator can make a valid one. So for every
*positive* case (data the schema says is valid) that carries such a
parameter, these hooks put in a real value, taken at start-up from a real
command response, named by the extension's value. Negative cases keep what
was generated, and the service must refuse it.

A request body whose schema has `x-ledgerline-distinct: [["from", "to"]]`
must have different values in each group (a transfer's two accounts): in a
positive case that repeats one, the repeat is replaced by a fresh UUID.

An Idempotency-Key names one request: reusing it for another is refused
(422 idempotency_key_reused, as draft-ietf-httpapi-idempotency-key-header
says), an answer about what the server saw before, not about the shape. So a
positive case's key is made unique to the case (its value is kept as a prefix).

A body property marked `x-ledgerline-egress` (a webhook endpoint's URL) is
admitted or not by where it points, which no schema can say: in a positive
case it is set to LEDGER_WEBHOOK_RECEIVER, a URL the egress rules admit.

Environment: LEDGER_COMMAND_URL, LEDGER_QUERY_URL, LEDGER_WEBHOOKS_URL,
LEDGER_WEBHOOK_RECEIVER, LEDGER_TOKEN (a bearer token).
"""

import json
import os
import urllib.request
import uuid

import schemathesis

OPAQUE = "x-ledgerline-opaque"
DISTINCT = "x-ledgerline-distinct"
EGRESS = "x-ledgerline-egress"
COMMAND = os.environ["LEDGER_COMMAND_URL"]
QUERY = os.environ["LEDGER_QUERY_URL"]
WEBHOOKS = os.environ["LEDGER_WEBHOOKS_URL"]
RECEIVER = os.environ["LEDGER_WEBHOOK_RECEIVER"]
AUTH = {"Authorization": "Bearer " + os.environ["LEDGER_TOKEN"]}


def _call(method, url, body=None):
    data = None if body is None else json.dumps(body).encode()
    headers = dict(AUTH, **({"Content-Type": "application/json"} if body is not None else {}))
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _issued():
    """Real values of every kind the documents mark opaque, from real commands."""
    opened = _call("POST", COMMAND + "/v1/accounts", {"currency": "EUR", "owner": "schemathesis"})
    account = opened["account_id"]
    deposited = _call("POST", f"{COMMAND}/v1/accounts/{account}/deposits", {"amount": 1, "reference": str(uuid.uuid4())})
    return {"consistency_token": deposited["consistency_token"]}


def _marked():
    """(METHOD, path) -> opaque parameters [(location, name, issued_as)],
    (METHOD, path) -> the body's distinct groups, and (METHOD, path) -> the
    body's egress-checked properties, for every document."""
    opaque, distinct, egress = {}, {}, {}
    for base in (COMMAND, QUERY, WEBHOOKS):
        with urllib.request.urlopen(base + "/openapi.json", timeout=30) as response:
            document = json.loads(response.read())
        schemas = document.get("components", {}).get("schemas", {})
        for path, item in document["paths"].items():
            for method, operation in item.items():
                key = (method.upper(), path)
                for parameter in operation.get("parameters", []):
                    issued_as = parameter.get("schema", {}).get(OPAQUE)
                    if issued_as:
                        opaque.setdefault(key, []).append((parameter["in"], parameter["name"], issued_as))
                for content in operation.get("requestBody", {}).get("content", {}).values():
                    ref = content.get("schema", {}).get("$ref", "")
                    schema = schemas.get(ref.rsplit("/", 1)[-1], {})
                    if schema.get(DISTINCT):
                        distinct[key] = schema[DISTINCT]
                    marked = [n for n, p in schema.get("properties", {}).items() if EGRESS in p]
                    if marked:
                        egress[key] = marked
    return opaque, distinct, egress


ISSUED = _issued()
OPAQUE_PARAMETERS, DISTINCT_GROUPS, EGRESS_PROPERTIES = _marked()


@schemathesis.hook
def before_call(context, case, kwargs):
    meta = case.meta
    if meta is not None and not meta.generation.mode.is_positive:
        return
    for location, name, issued_as in OPAQUE_PARAMETERS.get((case.method.upper(), case.path), []):
        values = case.headers if location == "header" else case.query if location == "query" else None
        if values and name in values:
            values[name] = ISSUED[issued_as]
    if case.headers and case.headers.get("Idempotency-Key"):
        case.headers["Idempotency-Key"] = (case.headers["Idempotency-Key"][:200].rstrip() + " " + uuid.uuid4().hex).lstrip()
    if isinstance(case.body, dict):
        for name in EGRESS_PROPERTIES.get((case.method.upper(), case.path), []):
            if name in case.body:
                case.body[name] = RECEIVER
        for group in DISTINCT_GROUPS.get((case.method.upper(), case.path), []):
            seen = set()
            for name in group:
                if name in case.body and case.body[name] in seen:
                    case.body[name] = str(uuid.uuid4())
                seen.add(case.body.get(name))
