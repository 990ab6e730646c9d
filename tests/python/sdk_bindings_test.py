"""Drives the SDK through its generated Python bindings against a running
server: sign in, receive the ticket, go offline, edit, take a photo and
the customer's signature, reconnect, sync, upload the media.

Run by tests/tests/sdk/python.rs, which starts the server, creates the
ticket, generates the bindings next to this script's output directory and
checks the server's side afterwards. Environment: TRUCKROLL_BINDINGS (the
directory holding truckroll_sdk_ffi.py and the library), TRUCKROLL_SERVER,
TRUCKROLL_TENANT, TRUCKROLL_EMAIL, TRUCKROLL_PASSWORD, TRUCKROLL_TICKET,
TRUCKROLL_DB, TRUCKROLL_PHOTO (a JPEG file).
"""

import json
import os
import sys

sys.path.insert(0, os.environ["TRUCKROLL_BINDINGS"])

import truckroll_sdk_ffi as sdk  # noqa: E402

ticket = os.environ["TRUCKROLL_TICKET"]
phone = sdk.Phone(os.environ["TRUCKROLL_DB"], os.environ["TRUCKROLL_SERVER"])
device = phone.sign_in(
    os.environ["TRUCKROLL_TENANT"], os.environ["TRUCKROLL_EMAIL"], os.environ["TRUCKROLL_PASSWORD"]
)
assert device, "no device id"

report = phone.sync()
assert report.converged, report
assert ticket in report.docs_added, report
tickets = phone.tickets()
assert [t.id for t in tickets] == [ticket], tickets
assert tickets[0].status == "assigned", tickets[0]
assert tickets[0].title == "Python ticket", tickets[0]

# Offline: edits are stored locally.
phone.set_online(False)
# The job packet, typed records from the phone's own store.
packet = phone.packet(ticket)
assert packet is not None, "no job packet"
assert packet.ticket_id == ticket, packet
assert packet.site.address == "Unter den Linden 77", packet.site
assert packet.site.access_notes == "Side door, code 1234", packet.site
assert packet.customer.name == "Hotel", packet.customer
assert packet.ticket.title == "Python ticket", packet.ticket
assert packet.asset is None, packet.asset
assert phone.packet("00000000-0000-0000-0000-000000000000") is None
phone.append_note(ticket, "Fixed from Python.\n")
phone.edit_json(ticket, json.dumps({"edit": "add_part", "part_number": "PY-1", "quantity": 2, "serial": None}))
event = phone.status_action(ticket, "accept", None, None, None)
assert event, "no event id"
phone.status_action(ticket, "start_travel", None, None, None)
phone.status_action(ticket, "check_in", 52.5163, 13.3795, None)
assert phone.tickets()[0].pending_edits == 5
assert phone.tickets()[0].status == "on_site"

try:
    phone.status_action(ticket, "cancel", None, None, None)
    raise AssertionError("a server action was accepted")
except sdk.PhoneError.Refused as e:
    assert "server action" in str(e), e

# Still offline: a photo and the customer's signature. Their references are
# in the ticket at once, pending; the bytes wait in the media outbox.
with open(os.environ["TRUCKROLL_PHOTO"], "rb") as f:
    photo = f.read()
shot = phone.attach_photo(ticket, photo, "image/jpeg")
strokes = {"width": 300, "height": 100,
           "strokes": [[{"x": 10, "y": 80}, {"x": 60, "y": 20}, {"x": 110, "y": 80}],
                       [{"x": 150, "y": 50}, {"x": 280, "y": 50}]]}
signed = phone.capture_signature(ticket, "Grace Hopper", json.dumps(strokes), 52.5163, 13.3795)
view = json.loads(phone.ticket_json(ticket))
assert [(p["sha256"], p["state"]) for p in view["photos"]] == [(shot.sha256, "pending")], view["photos"]
assert [(s["sha256"], s["state"]) for s in view["signatures"]] == [(signed.sha256, "pending")], view["signatures"]
try:
    phone.upload_media()
    raise AssertionError("uploaded while offline")
except sdk.PhoneError.Offline as e:
    assert "offline" in str(e), e
assert [m.step for m in phone.media_queue(True)] == ["queued", "queued"]

# Back online.
phone.set_online(True)
report = phone.sync()
assert report.converged and report.pending_edits == 0, report
assert report.rejections == [], report
view = json.loads(phone.ticket_json(ticket))
assert view["notes"] == "Fixed from Python.\n", view["notes"]
assert phone.quarantine() == []

# The media: begin, PUT to the S3 server, complete; then the ticket says stored.
summary = phone.upload_media()
assert summary.uploaded == 2 and summary.remaining == 0 and summary.failed == 0, summary
view = json.loads(phone.ticket_json(ticket))
assert [p["state"] for p in view["photos"]] == ["stored"], view["photos"]
assert [s["state"] for s in view["signatures"]] == ["stored"], view["signatures"]
assert [m.step for m in phone.media_queue(False)] == ["done", "done"]
assert phone.upload_media().uploaded == 0
print("python media:", shot.sha256, signed.sha256)
print("python bindings: ok", report.bytes_sent, report.bytes_received)
