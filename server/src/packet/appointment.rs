//! The appointment part of a job packet (issue 20): the ticket's window and
//! the planned start of an applied day plan.

use truckroll_sync::packet::PacketAppointment;

use crate::domain::schedule::AppointmentWindow;

pub(super) fn of(window: Option<&AppointmentWindow>) -> Option<PacketAppointment> {
    window.map(|window| PacketAppointment {
        from_ms: window.starts_at.timestamp_millis(),
        to_ms: window.ends_at.timestamp_millis(),
        duration_minutes: window.duration_minutes,
        planned_start_ms: window.planned_start.map(|t| t.timestamp_millis()),
    })
}
