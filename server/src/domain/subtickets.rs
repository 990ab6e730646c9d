//! Parent and child tickets (issue 22): a job split into sub-tickets (per
//! trade or visit), one level deep. The parent shows its children's
//! progress; closing it while children are open is refused unless the
//! `[knowledge]` policy allows it. Each ticket keeps its own SLA clocks and
//! counts once in reports: a sub-ticket is real work of its own.

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// A ticket of a family, as the parent's view lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FamilyMember {
    pub id: Uuid,
    pub number: String,
    pub title: String,
    pub status: String,
}

/// How far a parent's children are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct ChildProgress {
    pub total: u32,
    /// Not yet work done, closed or cancelled.
    pub open: u32,
    /// Work done or closed.
    pub done: u32,
    pub cancelled: u32,
}

/// Whether a status (as stored) is still open work.
pub fn is_open(status: &str) -> bool {
    !matches!(status, "work_done" | "closed" | "cancelled")
}

pub fn progress(children: &[FamilyMember]) -> ChildProgress {
    let mut p = ChildProgress::default();
    for child in children {
        p.total += 1;
        match child.status.as_str() {
            "work_done" | "closed" => p.done += 1,
            "cancelled" => p.cancelled += 1,
            _ => p.open += 1,
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(status: &str) -> FamilyMember {
        FamilyMember {
            id: Uuid::now_v7(),
            number: "TR-000001".into(),
            title: "x".into(),
            status: status.into(),
        }
    }

    #[test]
    fn progress_counts_open_done_and_cancelled() {
        let children = [
            member("new"),
            member("on_site"),
            member("work_done"),
            member("closed"),
            member("cancelled"),
        ];
        assert_eq!(
            progress(&children),
            ChildProgress {
                total: 5,
                open: 2,
                done: 2,
                cancelled: 1
            }
        );
        assert!(is_open("on_hold") && !is_open("work_done"));
    }
}
