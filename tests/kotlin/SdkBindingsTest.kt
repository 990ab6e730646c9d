// Drives the SDK through its generated Kotlin bindings on the JVM (JNA)
// against a running server: sign in with a push token, receive the ticket,
// go offline, edit, accept an offer, record pings, write a comment, take a
// break; back online one flush sends it all and a sync brings the accepted
// ticket. Run by tests/tests/sdk/kotlin.rs, which starts the server, makes
// the ticket and the offer, compiles this file with the generated bindings
// (kotlinc) and checks the server's side afterwards. Environment:
// TRUCKROLL_SERVER, TRUCKROLL_TENANT, TRUCKROLL_EMAIL, TRUCKROLL_PASSWORD,
// TRUCKROLL_TICKET, TRUCKROLL_OFFER, TRUCKROLL_DB.

import uniffi.truckroll_sdk_ffi.*

fun check(condition: Boolean, message: () -> String) {
    if (!condition) throw AssertionError(message())
}

fun main() {
    val env = System.getenv()
    val ticket = env.getValue("TRUCKROLL_TICKET")
    val offer = env.getValue("TRUCKROLL_OFFER")
    val phone = Phone(env.getValue("TRUCKROLL_DB"), env.getValue("TRUCKROLL_SERVER"))
    phone.setPushToken("kt-fcm-1")
    val device = phone.signIn(env.getValue("TRUCKROLL_TENANT"), env.getValue("TRUCKROLL_EMAIL"), env.getValue("TRUCKROLL_PASSWORD"))
    check(device.isNotEmpty()) { "no device id" }
    check(phone.pushToken().onServer) { "the push token was not registered" }

    val report = phone.sync()
    check(report.converged && ticket in report.docsAdded) { "sync: $report" }
    val offers = phone.offers()
    check(offers.fromServer && offers.offers.map { it.id } == listOf(offer)) { "offers: $offers" }

    // Offline.
    phone.setOnline(false)
    phone.appendNote(ticket, "Fixed from Kotlin.\n")
    phone.statusAction(ticket, "accept", null, null, null)
    check(phone.tickets().single { it.id == ticket }.status == "accepted") { "status: ${phone.tickets()}" }
    check(!phone.offers().fromServer) { "offline offers came from the server" }
    val answer = phone.acceptOffer(offer)
    check(answer == OfferAnswer.Queued) { "answer: $answer" }
    try {
        phone.declineOffer(offer, " ")
        throw AssertionError("an empty reason was accepted")
    } catch (e: PhoneException.Refused) {
        check(e.detail.contains("reason")) { "refusal: ${e.detail}" }
    }
    phone.setLocationInterval(10u)
    val at = System.currentTimeMillis() - 60_000
    val first = phone.recordLocation(LocationFix(52.5163, 13.3795, 6.0, null, null, at))
    check(first is PingDecision.Recorded) { "ping: $first" }
    val early = phone.recordLocation(LocationFix(52.5164, 13.3795, 6.0, null, null, at + 3_000))
    check(early is PingDecision.NotDue) { "ping: $early" }
    val comment = phone.addComment(ticket, "Written offline in Kotlin.", CommentVisibility.PUBLIC)
    check(comment.delivery == CommentDelivery.QUEUED) { "comment: $comment" }
    val onBreak = phone.setAvailability(Availability.ON_BREAK)
    check(onBreak.status == Availability.ON_BREAK && !onBreak.onServer) { "availability: $onBreak" }

    // Back online.
    phone.setOnline(true)
    val flushed = phone.flushOutboxes()
    check(flushed.offerAnswers == 1u && flushed.comments == 1u && flushed.pings == 1u &&
        flushed.availability && flushed.waiting == 0u) { "flush: $flushed" }
    val accepted = phone.acceptOffer(offer)
    check(accepted is OfferAnswer.Accepted) { "accepted: $accepted" }
    val acceptedTicket = (accepted as OfferAnswer.Accepted).ticketId
    val after = phone.sync()
    check(after.pendingEdits == 0u && acceptedTicket in after.docsAdded) { "sync: $after" }
    val thread = phone.comments(ticket)
    check(thread.fromServer && thread.comments.map { it.delivery } == listOf(CommentDelivery.SENT)) { "thread: $thread" }
    check(phone.signOut()) { "sign-out did not clear the push token" }
    println("kotlin bindings: ok $acceptedTicket")
}
