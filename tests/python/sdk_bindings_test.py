"""Drives the SDK through its generated Python bindings against a running
server: sign in, receive the ticket, go offline, edit, take a photo and
the customer's signature, reconnect, sync, upload the media.

Run by tests/tests/sdk/python.rs, which starts the server, creates the
ticket, generates the bindings next to this script's output directory and
checks the server's side afterwards. Environment: TRUCKROLL_BINDINGS (the
directory holding truckroll_sdk_ffi.py and the library), TRUCKROLL_SERVER,
TRUCKROLL_TENANT, TRUCKROLL_EMAIL, TRUCKROLL_PASSWORD, TRUCKROLL_TICKET,
TRUCKROLL_DB, TRUCKROLL_PHOTO (a JPEG file), TRUCKROLL_OFFERS (two offer
ids, comma-separated: the first is accepted offline, the second declined).
The technician's van holds 5 x PY-1 ("Python relay"): the script reads the
van online, offline after using 2, and after the sync.

Then the rest of the day: a push token, the two offers answered offline,
location pings, a comment and a break, all sent by one flush when back
online; the thread read back; sign-out clears the push token.
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

# The van (issue 23): 5 x PY-1 on the server, read online and kept.
van = phone.van_stock()
assert van.from_server and van.fetched_at_ms is not None, van
assert [(l.part_number, l.name, l.quantity, l.used_locally) for l in van.lines] == [("PY-1", "Python relay", 5.0, 0.0)], van

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
# The part used offline shows at once in the phone's copy of the van.
van = phone.van_stock()
assert not van.from_server, van
assert [(l.server_quantity, l.used_locally, l.quantity) for l in van.lines] == [(5.0, 2.0, 3.0)], van
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
# Synced: the server consumed the 2 once; nothing is counted twice.
van = phone.van_stock()
assert van.from_server, van
assert [(l.server_quantity, l.used_locally, l.quantity) for l in van.lines] == [(3.0, 0.0, 3.0)], van

# The media: begin, PUT to the S3 server, complete; then the ticket says stored.
summary = phone.upload_media()
assert summary.uploaded == 2 and summary.remaining == 0 and summary.failed == 0, summary
view = json.loads(phone.ticket_json(ticket))
assert [p["state"] for p in view["photos"]] == ["stored"], view["photos"]
assert [s["state"] for s in view["signatures"]] == ["stored"], view["signatures"]
assert [m.step for m in phone.media_queue(False)] == ["done", "done"]
assert phone.upload_media().uploaded == 0
print("python media:", shot.sha256, signed.sha256)

# The rest of the day. A push token, registered now (signed in, online).
state = phone.set_push_token("py-fcm-1")
assert state.token == "py-fcm-1" and state.on_server, state

accept_id, decline_id = os.environ["TRUCKROLL_OFFERS"].split(",")
offers = phone.offers()
assert offers.from_server, offers
assert sorted(o.id for o in offers.offers) == sorted([accept_id, decline_id]), offers
assert all(o.state == sdk.OfferStatus.PENDING and o.answer is None for o in offers.offers), offers

# Offline: the offers are the phone's copy; answers, pings, a comment and
# the break wait on the phone.
phone.set_online(False)
assert not phone.offers().from_server
answer = phone.accept_offer(accept_id)
assert isinstance(answer, sdk.OfferAnswer.QUEUED), answer
answer = phone.decline_offer(decline_id, "no ladder for that roof")
assert isinstance(answer, sdk.OfferAnswer.QUEUED), answer
try:
    phone.decline_offer(decline_id, "   ")
    raise AssertionError("an empty reason was accepted")
except sdk.PhoneError.Refused as e:
    assert "reason" in str(e), e

phone.set_location_interval(10)
import time  # noqa: E402
now_ms = int(time.time() * 1000) - 60_000
fixes = [sdk.LocationFix(lat=52.5163, lon=13.3795 + i * 0.001, accuracy_m=4.0 + i, speed_mps=None,
                         heading_deg=None, device_time_ms=now_ms + i * 5_000) for i in range(3)]
decisions = [phone.record_location(f) for f in fixes]
assert isinstance(decisions[0], sdk.PingDecision.RECORDED), decisions
assert isinstance(decisions[1], sdk.PingDecision.NOT_DUE), decisions
assert isinstance(decisions[2], sdk.PingDecision.RECORDED), decisions
assert [p.device_time_ms for p in phone.pending_pings()] == [now_ms, now_ms + 10_000]

comment = phone.add_comment(ticket, "Written offline in Python.", sdk.CommentVisibility.INTERNAL)
assert comment.delivery == sdk.CommentDelivery.QUEUED and comment.id is None, comment
breaking = phone.set_availability(sdk.Availability.ON_BREAK)
assert breaking.status == sdk.Availability.ON_BREAK and not breaking.on_server, breaking
summary = phone.flush_outboxes()
assert summary.waiting == 5 and summary.pings == 0, summary

# Back online: one flush sends it all.
phone.set_online(True)
summary = phone.flush_outboxes()
assert (summary.offer_answers, summary.comments, summary.pings, summary.availability,
        summary.waiting) == (2, 1, 2, True, 0), summary
assert summary.errors == [], summary
answers = {o.id: o.answer for o in phone.offers().offers}
assert answers.get(accept_id) is None or isinstance(answers[accept_id], sdk.OfferAnswer.ACCEPTED), answers
accepted = phone.accept_offer(accept_id)
assert isinstance(accepted, sdk.OfferAnswer.ACCEPTED), accepted
assert phone.decline_offer(decline_id, "again") == sdk.OfferAnswer.DECLINED()
report = phone.sync()
assert accepted.ticket_id in report.docs_added, report
assert phone.availability().on_server
thread = phone.comments(ticket)
assert thread.from_server, thread
assert [c.body for c in thread.comments] == ["Written offline in Python."], thread
assert thread.comments[0].delivery == sdk.CommentDelivery.SENT, thread

assert phone.sign_out() is True
print("python day:", accepted.ticket_id)
print("python bindings: ok", report.bytes_sent, report.bytes_received)
