// A webhook receiver for the tests, verifying with npm's `standardwebhooks`.
//
//     node receiver.mjs PORT LOG SECRETS
//
// Every request is verified with each secret of the JSON list in SECRETS
// (read afresh per request), checked to fail tampered, with a wrong secret
// and with an old timestamp, answered 204, and logged as one JSON line.
import { appendFileSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import { randomBytes } from "node:crypto";
import { Webhook } from "standardwebhooks";

const [port, log, secretsFile] = process.argv.slice(2);

function refused(secret, body, headers) {
  try {
    new Webhook(secret).verify(body, headers);
    return false;
  } catch {
    return true;
  }
}

createServer((request, response) => {
  const chunks = [];
  request.on("data", (c) => chunks.push(c));
  request.on("end", () => {
    const body = Buffer.concat(chunks).toString("utf8");
    const headers = request.headers;
    let secrets = [];
    try {
      secrets = JSON.parse(readFileSync(secretsFile, "utf8"));
    } catch {}
    const verified_with = secrets.map((s, i) => (refused(s, body, headers) ? -1 : i)).filter((i) => i >= 0);
    const wrong = "whsec_" + randomBytes(32).toString("base64");
    const old = { ...headers, "webhook-timestamp": String(Math.floor(Date.now() / 1000) - 600) };
    let message = {};
    try {
      message = JSON.parse(body);
    } catch {}
    const entry = {
      webhook_id: headers["webhook-id"],
      verified_with,
      tamper_refused: secrets.length > 0 && refused(secrets[0], body + " ", headers),
      wrong_secret_refused: refused(wrong, body, headers),
      old_timestamp_refused: secrets.length > 0 && refused(secrets[0], body, old),
      type: message.type,
      id: message.id,
      account_id: message.account_id,
      account_version: message.account_version,
      data: message.data,
      answer: 204,
      at: Date.now() / 1000,
    };
    appendFileSync(log, JSON.stringify(entry) + "\n");
    response.writeHead(204).end();
  });
}).listen(Number(port), "127.0.0.1");
