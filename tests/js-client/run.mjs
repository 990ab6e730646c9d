// The JS client's scenario, run by tests/tests/api/js_client.rs against a
// real server: sign in, register, sync over HTTP and the WebSocket, edit,
// converge in the number of requests sync/PROTOCOL.md §3.4 promises.
// Prints one JSON line (`RESULT {...}`) for the Rust side to check.

import assert from "node:assert/strict";
import * as A from "@automerge/automerge";
import { Device, postJson } from "./protocol.mjs";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const baseUrl = env("TRUCKROLL_URL");
const ticket = env("TRUCKROLL_TICKET");
const colleagues = env("TRUCKROLL_COLLEAGUE_TICKET");
const device = await Device.signIn(baseUrl, {
  tenant: env("TRUCKROLL_TENANT"),
  email: env("TRUCKROLL_EMAIL"),
  password: env("TRUCKROLL_PASSWORD"),
});
const result = { requests: {} };

// --- POST /v1/sync ---------------------------------------------------------
// §3.4: a document the device does not hold yet arrives in two requests.
result.requests.first = await device.syncHttp();
assert.equal(result.requests.first, 2, "first sync of a new document");
assert.deepEqual([...device.docs.keys()], [ticket]);
const doc = device.view(ticket);
assert.equal(String(doc.ticket_id), ticket);
assert.equal(device.status(ticket).status, "assigned");

// Nothing changed on either side: one request.
result.requests.idle = await device.syncHttp();
assert.equal(result.requests.idle, 1, "sync with nothing to do");

// Edits: accept, a note with characters outside the BMP, a part.
device.appendEvent(ticket, "accept");
device.appendNotes(ticket, "Compressor noisy 🔧. ");
device.change(ticket, (d) => {
  d.parts.push({
    id: new A.ImmutableString(crypto.randomUUID()),
    part_number: new A.ImmutableString("CMP-1"),
    quantity: 1,
  });
});
result.requests.edit = await device.syncHttp();
assert.equal(result.requests.edit, 2, "sync of local edits");
assert.deepEqual(device.errors, []);
assert.equal(device.status(ticket).status, "accepted");

// Unknown frames are skipped (§3.1); a frame with bad base64 fails only its
// document; a colleague's ticket is answered like any id outside the set.
const reply = await postJson(baseUrl, "/v1/sync", device.token, {
  frames: [
    device.hello(),
    { type: "presence", doc_id: ticket, where: "on the roof" },
    { type: "sync", doc_id: ticket, data: "not base64!" },
    { type: "sync", doc_id: colleagues, data: "QgAAAQAAAA==" },
  ],
});
const kinds = reply.frames.map((f) => `${f.type}:${f.code ?? f.reason ?? ""}`);
// Job packets (§4) are not used by this client: it skips them.
assert.deepEqual(
  kinds.filter((k) => !k.startsWith("sync:") && !k.startsWith("packet:")),
  ["hello:", "doc_added:", "error:malformed_frame", "doc_removed:not_in_set", "error:not_in_set"],
);
assert.equal(reply.frames[2].doc_id, ticket);

// --- GET /v1/sync (WebSocket) ----------------------------------------------
const ws = await device.connect();
ws.send(device.hello());
ws.send({ type: "presence", doc_id: ticket });
assert.equal((await ws.step()).type, "hello");
assert.deepEqual(await ws.step(), { type: "doc_added", doc_id: ticket });
for (const frame of device.generateAll(ws.states)) ws.send(frame);
await ws.until(ticket);
// An edit on a live connection: one message each way.
const before = { sent: device.sent, received: device.received };
device.appendEvent(ticket, "start_travel");
device.appendNotes(ticket, "On my way.");
assert.ok(ws.push(ticket), "a message for the edit");
const seen = await ws.until(ticket);
result.ws = {
  sent: device.sent - before.sent,
  received: device.received - before.received,
  frames: seen.filter((f) => f.type !== "packet").map((f) => f.type),
};
assert.deepEqual(result.ws, { sent: 1, received: 1, frames: ["sync"] });
assert.equal(device.status(ticket).status, "en_route");
const closed = await ws.close();
assert.equal(closed.code, 1000);

// A session that starts with a bad first frame ends with a close code.
const bad = await device.connect();
bad.send("{not json");
const refusal = await bad.next();
assert.equal(refusal.code, "malformed_frame");
assert.equal(await bad.next(), null);
assert.equal(bad.closed.code, 4400);

// After the WebSocket, HTTP is idle again: one request.
result.requests.after_ws = await device.syncHttp();
assert.equal(result.requests.after_ws, 1);

// The earlier advice — decodeSyncState(encodeSyncState(state)) before each
// message — never lets generateSyncMessage return null: the cap is reached.
device.recipe = "reencode";
await assert.rejects(device.syncHttp(), /did not converge in eight requests/);
device.recipe = "clear-sent";
result.requests.old_recipe = "cap";

result.notes = device.view(ticket).notes;
result.status = device.status(ticket).status;
result.heads = A.getHeads(device.view(ticket));
console.log(`RESULT ${JSON.stringify(result)}`);
