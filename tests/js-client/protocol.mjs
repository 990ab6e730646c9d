// A Truckroll sync client on the official @automerge/automerge package,
// written from sync/PROTOCOL.md alone (no Truckroll code): the ticket
// document's writing rules (§1), the status fold (§2) and the wire protocol
// over POST /v1/sync and the GET /v1/sync WebSocket (§3).

import * as A from "@automerge/automerge";
import { randomBytes } from "node:crypto";
import WebSocket from "ws";

export const PROTOCOL_VERSION = 1;
const RESET_CODES = new Set([
  "malformed_sync_message",
  "foreign_actor",
  "schema_violation",
  "not_field_editable",
  "limit_exceeded",
  "invalid_changes",
]);

const toBase64 = (bytes) => Buffer.from(bytes).toString("base64");
const fromBase64 = (text) => new Uint8Array(Buffer.from(text, "base64"));

// ---------------------------------------------------------------------------
// §2: the status fold, and §1.5: HLC stamps.

const TRANSITIONS = {
  new: { assign: "assigned", cancel: "cancelled" },
  assigned: { reassign: "assigned", unassign: "new", accept: "accepted", decline: "new", cancel: "cancelled" },
  accepted: { start_travel: "en_route", hold: "on_hold", reassign: "assigned", unassign: "new", cancel: "cancelled" },
  en_route: { check_in: "on_site", hold: "on_hold", reassign: "assigned", unassign: "new", cancel: "cancelled" },
  on_site: { complete_work: "work_done", hold: "on_hold", cancel: "cancelled" },
  on_hold: { resume: "accepted", reassign: "assigned", unassign: "new", cancel: "cancelled" },
  work_done: { close: "closed", rework: "on_site" },
  closed: { reopen: "new" },
  cancelled: { reopen: "new" },
};
const FIELD_KINDS = new Set([
  "accept", "decline", "start_travel", "check_in", "hold", "resume", "complete_work", "rework", "close",
]);
const HOLD_REASONS = new Set(["waiting_customer", "waiting_parts"]);

const str = (v) => (v == null ? v : String(v));
const cmp = (a, b) => (a < b ? -1 : a > b ? 1 : 0);

/** The fold of §2: status, assignee and current assignment. */
export function foldStatus(events) {
  const sorted = [...events].sort(
    (a, b) => cmp(str(a.hlc), str(b.hlc)) || cmp(str(a.actor), str(b.actor)) || cmp(str(a.id), str(b.id)),
  );
  const seen = new Set();
  let status = "new";
  let assignee = null;
  let assignment = null;
  for (const e of sorted) {
    const id = str(e.id);
    if (seen.has(id)) continue;
    seen.add(id);
    const kind = str(e.kind);
    if (FIELD_KINDS.has(kind) && (str(e.assignment) ?? null) !== assignment) continue;
    const to = TRANSITIONS[status]?.[kind];
    if (!to || (kind === "hold" && !HOLD_REASONS.has(str(e.reason)))) continue;
    status = to;
    if (kind === "assign" || kind === "reassign") {
      assignment = id;
      assignee = str(e.assignee);
    } else if (kind === "unassign" || kind === "decline" || kind === "reopen") {
      assignment = null;
      assignee = null;
    }
  }
  return { status, assignee, assignment };
}

const pad = (n, width) => String(n).padStart(width, "0");
const parseHlc = (s) => {
  const [wall, counter] = String(s).split("-");
  return [Number(wall), Number(counter)];
};

/** §1.5: observe every event, tick at `now`, stamp with our actor. */
export function stampHlc(events, actor, now) {
  let [l, c] = [0, 0];
  for (const e of events) {
    const [w, n] = parseHlc(e.hlc);
    if (w > l || (w === l && n > c)) [l, c] = [w, n];
  }
  if (now > l) [l, c] = [now, 0];
  else if (c === 4294967295) [l, c] = [l + 1, 0];
  else c += 1;
  return `${pad(l, 15)}-${pad(c, 10)}-${actor}`;
}

// ---------------------------------------------------------------------------
// Documents and the sync recipe (§1.6, §1.7, §3.2).

/**
 * One device: its registered actor, and per document the Automerge document
 * and the persisted sync state (what an app writes to disk together).
 */
export class Device {
  constructor({ baseUrl, token, deviceId, actor }) {
    this.baseUrl = baseUrl;
    this.token = token;
    this.deviceId = deviceId;
    this.actor = actor;
    /** doc_id -> { doc, persisted: Uint8Array } */
    this.docs = new Map();
    this.removed = [];
    this.errors = [];
    this.quarantine = [];
    /** How to forget sent changes before generating (§1.7). */
    this.recipe = "clear-sent";
    /** Sync frames sent and received per transport, for the round-trip counts. */
    this.sent = 0;
    this.received = 0;
  }

  static async signIn(baseUrl, { tenant, email, password }) {
    const login = await postJson(baseUrl, "/v1/auth/login", null, { tenant, email, password });
    const actor = randomBytes(16).toString("hex");
    const device = await postJson(baseUrl, "/v1/devices", login.access_token, { platform: "web", actor_id: actor });
    return new Device({ baseUrl, token: login.access_token, deviceId: device.id, actor });
  }

  hello() {
    return { type: "hello", version: PROTOCOL_VERSION, device_id: this.deviceId };
  }

  /** §3.2: every connection starts from the persisted states. */
  startConnection() {
    const states = new Map();
    for (const [id, held] of this.docs) states.set(id, A.decodeSyncState(held.persisted));
    return states;
  }

  ensureDoc(docId, states) {
    if (!this.docs.has(docId)) {
      // §1: an empty document plus a fresh sync state is a valid start.
      this.docs.set(docId, { doc: A.init({ actor: this.actor }), persisted: A.encodeSyncState(A.initSyncState()) });
    }
    if (!states.has(docId)) states.set(docId, A.decodeSyncState(this.docs.get(docId).persisted));
  }

  /**
   * §1.7: the server keeps no queue between messages, so before generating,
   * forget which changes were sent (the sync state is a plain object; its
   * fields are @automerge/automerge's `JsSyncState`). Everything else in the
   * state is kept, so generateSyncMessage returns null once both sides agree.
   */
  generate(docId, states) {
    const held = this.docs.get(docId);
    // `reencode` is the advice of earlier versions of PROTOCOL.md, kept to
    // show that it does not converge.
    const state =
      this.recipe === "reencode"
        ? A.decodeSyncState(A.encodeSyncState(states.get(docId)))
        : { ...states.get(docId), sentHashes: {} };
    const [next, message] = A.generateSyncMessage(held.doc, state);
    states.set(docId, next);
    held.persisted = A.encodeSyncState(next);
    if (message) this.sent += 1;
    return message ? { type: "sync", doc_id: docId, data: toBase64(message) } : null;
  }

  generateAll(states) {
    const out = [];
    for (const id of this.docs.keys()) {
      const frame = this.generate(id, states);
      if (frame) out.push(frame);
    }
    return out;
  }

  /** Applies one server frame (§3.3, §3.4). */
  apply(frame, states) {
    switch (frame.type) {
      case "hello":
        if (frame.version !== PROTOCOL_VERSION) throw new Error(`server speaks version ${frame.version}`);
        break;
      case "doc_added":
        this.ensureDoc(frame.doc_id, states);
        break;
      case "doc_removed":
        this.removed.push({ doc_id: frame.doc_id, reason: frame.reason });
        this.docs.delete(frame.doc_id);
        states.delete(frame.doc_id);
        break;
      case "sync": {
        this.received += 1;
        const held = this.docs.get(frame.doc_id);
        if (!held) break;
        const [doc, state] = A.receiveSyncMessage(held.doc, states.get(frame.doc_id), fromBase64(frame.data));
        held.doc = doc;
        held.persisted = A.encodeSyncState(state);
        states.set(frame.doc_id, state);
        break;
      }
      case "error":
        this.errors.push(frame);
        if (frame.doc_id && RESET_CODES.has(frame.code) && this.docs.has(frame.doc_id)) {
          // §3.5: quarantine, drop the state, start again from an empty document.
          this.quarantine.push({ doc_id: frame.doc_id, bytes: A.save(this.docs.get(frame.doc_id).doc), error: frame });
          this.docs.delete(frame.doc_id);
          states.delete(frame.doc_id);
          this.ensureDoc(frame.doc_id, states);
        }
        break;
      default:
        // §3.1: skip frames of unknown type.
        break;
    }
  }

  /**
   * §3.4: one sync over POST /v1/sync. Returns the number of requests it took.
   */
  async syncHttp({ extraFrames = [] } = {}) {
    const states = this.startConnection();
    let frames = [...this.generateAll(states), ...extraFrames];
    for (let request = 1; request <= 8; request += 1) {
      const reply = await postJson(this.baseUrl, "/v1/sync", this.token, { frames: [this.hello(), ...frames] });
      this.lastReply = reply.frames;
      for (const frame of reply.frames) this.apply(frame, states);
      frames = this.generateAll(states);
      if (frames.length === 0) return request;
    }
    throw new Error("POST /v1/sync did not converge in eight requests");
  }

  // -------------------------------------------------------------------------
  // Edits (§1.2–§1.6).

  view(docId) {
    return this.docs.get(docId).doc;
  }

  change(docId, fn) {
    const held = this.docs.get(docId);
    held.doc = A.change(held.doc, fn);
  }

  /** Appends a field status event (§1.4) stamped per §1.5. */
  appendEvent(docId, kind, { reason, now = Date.now() } = {}) {
    const events = this.view(docId).events;
    const { assignment } = foldStatus(events);
    const hlc = stampHlc(events, this.actor, now);
    const event = {
      id: new A.ImmutableString(hlc),
      kind: new A.ImmutableString(kind),
      actor: new A.ImmutableString(this.actor),
      device_time: new Date(now),
      hlc: new A.ImmutableString(hlc),
    };
    if (assignment) event.assignment = new A.ImmutableString(assignment);
    if (reason) event.reason = new A.ImmutableString(reason);
    this.change(docId, (d) => {
      d.events.push(event);
    });
    return hlc;
  }

  appendNotes(docId, text) {
    this.change(docId, (d) => {
      A.splice(d, ["notes"], d.notes.length, 0, text);
    });
  }

  status(docId) {
    return foldStatus(this.view(docId).events);
  }

  // -------------------------------------------------------------------------
  // §3.3: the WebSocket.

  async connect() {
    const url = this.baseUrl.replace(/^http/, "ws") + "/v1/sync";
    const socket = new WebSocket(url, { headers: { authorization: `Bearer ${this.token}` } });
    const connection = new Connection(this, socket);
    await new Promise((resolve, reject) => {
      socket.once("open", resolve);
      socket.once("error", reject);
    });
    return connection;
  }
}

/** One WebSocket session: frames in arrival order, the close code. */
export class Connection {
  constructor(device, socket) {
    this.device = device;
    this.socket = socket;
    this.states = device.startConnection();
    this.inbox = [];
    this.waiters = [];
    this.closed = null;
    socket.on("message", (data, isBinary) => {
      if (isBinary) return;
      this.inbox.push(JSON.parse(data.toString("utf8")));
      this.wake();
    });
    socket.on("close", (code, reason) => {
      this.closed = { code, reason: reason.toString("utf8") };
      this.wake();
    });
  }

  wake() {
    for (const w of this.waiters.splice(0)) w();
  }

  send(frame) {
    this.socket.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  }

  /** The next frame, or null once the server closed. */
  async next() {
    while (this.inbox.length === 0) {
      if (this.closed) return null;
      await new Promise((resolve) => this.waiters.push(resolve));
    }
    return this.inbox.shift();
  }

  /** Applies the next frame; answers a `sync` as §3.3 step 4 says. */
  async step() {
    const frame = await this.next();
    if (!frame) throw new Error(`the server closed the session: ${JSON.stringify(this.closed)}`);
    this.device.apply(frame, this.states);
    if (frame.type === "doc_added" || frame.type === "sync") {
      const out = this.device.generate(frame.doc_id, this.states);
      if (out) this.send(out);
    }
    return frame;
  }

  /** Whether the server has every change of `docId` and nothing is in flight. */
  settled(docId) {
    const held = this.device.docs.get(docId);
    const state = this.states.get(docId);
    if (!held || !state) return false;
    const ours = A.getHeads(held.doc);
    const theirs = state.theirHeads ?? [];
    return A.hasOurChanges(held.doc, state) && ours.length === theirs.length && ours.every((h) => theirs.includes(h));
  }

  /** Steps until `docId` is settled; returns the frames seen. */
  async until(docId, limit = 50) {
    const seen = [];
    while (!this.settled(docId)) {
      if (seen.length >= limit) throw new Error(`not settled after ${limit} frames: ${JSON.stringify(seen)}`);
      seen.push(await this.step());
    }
    return seen;
  }

  /** Sends our message for `docId` after a local edit (§3.3 step 5). */
  push(docId) {
    const out = this.device.generate(docId, this.states);
    if (out) this.send(out);
    return out;
  }

  async close() {
    if (!this.closed) {
      this.socket.close(1000, "done");
      while (!this.closed) await new Promise((resolve) => this.waiters.push(resolve));
    }
    return this.closed;
  }
}

export async function postJson(baseUrl, path, token, body) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(baseUrl + path, { method: "POST", headers, body: JSON.stringify(body) });
  const text = await response.text();
  if (!response.ok) throw new Error(`POST ${path}: ${response.status} ${text}`);
  return JSON.parse(text);
}
