//! The timers' priority queue: the next instants at which some ticket's
//! target crosses a warning threshold or its deadline.
//!
//! A ticket's entries are replaced, not edited: rescheduling bumps the
//! ticket's generation, and popped entries of an older generation are
//! skipped (lazy deletion keeps every operation O(log n)).

use std::{
    cmp::Reverse,
    collections::{BinaryHeap, HashMap},
};

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// (tenant, ticket)
pub type TicketKey = (Uuid, Uuid);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    at: DateTime<Utc>,
    ticket: TicketKey,
    generation: u64,
}

#[derive(Debug, Default)]
pub struct DeadlineQueue {
    heap: BinaryHeap<Reverse<Entry>>,
    generations: HashMap<TicketKey, u64>,
}

impl DeadlineQueue {
    /// Replaces the ticket's instants with `instants` (none: forget it).
    pub fn schedule(
        &mut self,
        ticket: TicketKey,
        instants: impl IntoIterator<Item = DateTime<Utc>>,
    ) {
        let generation = self.generations.get(&ticket).map_or(0, |g| g + 1);
        let mut any = false;
        for at in instants {
            any = true;
            self.heap.push(Reverse(Entry {
                at,
                ticket,
                generation,
            }));
        }
        if any {
            self.generations.insert(ticket, generation);
        } else {
            self.generations.remove(&ticket);
        }
    }

    /// The tickets with an instant at or before `now`, each once, removed
    /// from the queue (their caller reschedules them).
    pub fn pop_due(&mut self, now: DateTime<Utc>) -> Vec<TicketKey> {
        let mut due = Vec::new();
        while let Some(Reverse(top)) = self.heap.peek().copied() {
            if top.at > now {
                break;
            }
            self.heap.pop();
            if self.generations.get(&top.ticket) == Some(&top.generation) {
                self.generations.remove(&top.ticket);
                due.push(top.ticket);
            }
        }
        due
    }

    /// The earliest live instant, dropping stale entries on the way.
    pub fn next_due(&mut self) -> Option<DateTime<Utc>> {
        while let Some(Reverse(top)) = self.heap.peek().copied() {
            if self.generations.get(&top.ticket) == Some(&top.generation) {
                return Some(top.at);
            }
            self.heap.pop();
        }
        None
    }

    /// Tickets with at least one pending instant.
    pub fn tickets(&self) -> usize {
        self.generations.len()
    }

    /// Entries held, stale ones included (memory).
    pub fn entries(&self) -> usize {
        self.heap.len()
    }

    pub fn clear(&mut self) {
        self.heap.clear();
        self.generations.clear();
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    #[test]
    fn due_tickets_come_out_once_and_rescheduling_replaces() {
        let t0 = DateTime::<Utc>::UNIX_EPOCH;
        let a = (Uuid::from_u128(1), Uuid::from_u128(10));
        let b = (Uuid::from_u128(1), Uuid::from_u128(11));
        let mut queue = DeadlineQueue::default();
        queue.schedule(a, [t0 + Duration::minutes(5), t0 + Duration::minutes(9)]);
        queue.schedule(b, [t0 + Duration::minutes(7)]);
        assert_eq!(queue.next_due(), Some(t0 + Duration::minutes(5)));
        // b moves later: its old instant is stale.
        queue.schedule(b, [t0 + Duration::minutes(20)]);
        assert_eq!(queue.pop_due(t0 + Duration::minutes(8)), vec![a]);
        assert!(
            queue.pop_due(t0 + Duration::minutes(10)).is_empty(),
            "a was removed whole"
        );
        assert_eq!(queue.next_due(), Some(t0 + Duration::minutes(20)));
        queue.schedule(b, []);
        assert_eq!(queue.next_due(), None);
        assert_eq!(queue.tickets(), 0);
    }
}
