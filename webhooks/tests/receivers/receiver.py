"""A webhook receiver for the tests, verifying with PyPI's `standardwebhooks`.

    receiver.py PORT LOG SECRETS BEHAVIOUR

Every request is verified with each secret in the JSON list in SECRETS (read
afresh per request) and, with the first, checked to fail when the body is
tampered with, the secret is wrong, or the timestamp is old. One JSON line
per request goes to LOG. BEHAVIOUR (a JSON file, read per request, may be
missing) says how to answer: {"mode": "ok" | "fail" | "gone" | "chaos" |
"redirect", "location": URL, "seed": N}. "chaos" answers at random: 2xx, 500,
429 with Retry-After, a reset, a timeout (TIMEOUT_S) or a slow 2xx.
"""

import base64
import json
import os
import random
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

PORT, LOG, SECRETS, BEHAVIOUR = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
TIMEOUT_S = float(os.environ.get("RECEIVER_TIMEOUT_S", "3"))
lock = threading.Lock()
rng = random.Random(int(os.environ.get("RECEIVER_SEED", "7")))


def read_json(path, default):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def refused(secret, body, headers):
    try:
        Webhook(secret).verify(body, headers)
        return False
    except WebhookVerificationError:
        return True


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        headers = {k.lower(): v for k, v in self.headers.items()}
        secrets = read_json(SECRETS, [])
        verified_with = [i for i, s in enumerate(secrets) if not refused(s, body, headers)]
        checks = {}
        if secrets:
            wrong = "whsec_" + base64.b64encode(os.urandom(32)).decode()
            old = dict(headers, **{"webhook-timestamp": str(int(time.time()) - 600)})
            checks = {
                "tamper_refused": refused(secrets[0], body + b" ", headers),
                "wrong_secret_refused": refused(wrong, body, headers),
                "old_timestamp_refused": refused(secrets[0], body, old),
            }
        try:
            message = json.loads(body)
        except ValueError:
            message = {}
        behaviour = read_json(BEHAVIOUR, {"mode": "ok"})
        answer = self.answer(behaviour)
        entry = {
            "webhook_id": headers.get("webhook-id"),
            "signatures": len(headers.get("webhook-signature", "").split(" ")),
            "verified_with": verified_with,
            **checks,
            "type": message.get("type"),
            "id": message.get("id"),
            "account_id": message.get("account_id"),
            "account_version": message.get("account_version"),
            "data": message.get("data"),
            "answer": answer,
            "at": time.time(),
        }
        with lock, open(LOG, "a") as f:
            f.write(json.dumps(entry) + "\n")

    def answer(self, behaviour):
        mode = behaviour.get("mode", "ok")
        if mode == "chaos":
            mode = rng.choices(["ok", "fail", "busy", "reset", "timeout", "slow"], [40, 15, 15, 10, 10, 10])[0]
        if mode == "fail":
            return self.reply(500, b"boom")
        if mode == "gone":
            return self.reply(410, b"gone")
        if mode == "busy":
            return self.reply(429, b"slow down", {"Retry-After": "1"})
        if mode == "redirect":
            return self.reply(302, b"", {"Location": behaviour["location"]})
        if mode == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            return "reset"
        if mode == "timeout":
            time.sleep(TIMEOUT_S)
            self.reply(200, b"late")
            return "timeout"
        if mode == "slow":
            time.sleep(0.3)
        return self.reply(200, b"ok")

    def reply(self, status, body, headers=None):
        try:
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass
        return status


ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer.allow_reuse_address = True
ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
