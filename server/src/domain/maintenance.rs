//! Preventive maintenance plans: a ticket template, a recurrence, and how
//! many days ahead each occurrence's ticket is made.
//!
//! The recurrence is a small documented interval model instead of RFC 5545
//! rules: every N days, weeks or months (same day of month, clamped to the
//! month's last day), or the nth weekday of every N months — the schedules
//! maintenance contracts are written in.

use chrono::{Datelike, Months, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    ValidationErrors,
    people::SkillLevel,
    schedule::{DURATION_RANGE, check_duration},
    shifts::Day,
    ticket::Priority,
    validation::check_text,
};

/// How often a plan's visits recur, counted from its `start_on`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "every", rename_all = "snake_case")]
pub enum Recurrence {
    /// Every `count` days.
    Days { count: u32 },
    /// Every `count` weeks, on the start's weekday.
    Weeks { count: u32 },
    /// Every `count` months on the start's day of month (the last day in
    /// shorter months).
    Months { count: u32 },
    /// The `nth` (1 to 4) `weekday` of every `count`-th month from the start's.
    MonthlyWeekday { nth: u8, weekday: Day, count: u32 },
}

fn weekday(day: Day) -> Weekday {
    match day {
        Day::Mon => Weekday::Mon,
        Day::Tue => Weekday::Tue,
        Day::Wed => Weekday::Wed,
        Day::Thu => Weekday::Thu,
        Day::Fri => Weekday::Fri,
        Day::Sat => Weekday::Sat,
        Day::Sun => Weekday::Sun,
    }
}

impl Recurrence {
    fn count(self) -> u32 {
        match self {
            Self::Days { count }
            | Self::Weeks { count }
            | Self::Months { count }
            | Self::MonthlyWeekday { count, .. } => count,
        }
    }

    pub fn validate(&self, errors: &mut ValidationErrors) {
        let count = self.count();
        let most = match self {
            Self::Days { .. } => 3660,
            Self::Weeks { .. } => 520,
            _ => 120,
        };
        if count == 0 || count > most {
            errors.add("recurrence.count", format!("must be between 1 and {most}"));
        }
        if let Self::MonthlyWeekday { nth, .. } = self
            && !(1..=4).contains(nth)
        {
            errors.add("recurrence.nth", "must be between 1 and 4");
        }
    }

    /// The `k`-th occurrence (0 is the first) of a plan starting on `start`.
    fn nth(self, start: NaiveDate, k: u32) -> Option<NaiveDate> {
        match self {
            Self::Days { count } => {
                start.checked_add_days(chrono::Days::new(u64::from(count) * u64::from(k)))
            }
            Self::Weeks { count } => {
                start.checked_add_days(chrono::Days::new(7 * u64::from(count) * u64::from(k)))
            }
            Self::Months { count } => start.checked_add_months(Months::new(count.checked_mul(k)?)),
            Self::MonthlyWeekday {
                nth,
                weekday: day,
                count,
            } => {
                let first = start
                    .with_day(1)?
                    .checked_add_months(Months::new(count.checked_mul(k)?))?;
                NaiveDate::from_weekday_of_month_opt(first.year(), first.month(), weekday(day), nth)
            }
        }
    }

    /// The occurrences from `start` that fall in `[from, until]`, in order.
    pub fn occurrences(
        self,
        start: NaiveDate,
        from: NaiveDate,
        until: NaiveDate,
    ) -> Vec<NaiveDate> {
        let mut out = Vec::new();
        // A first month's nth weekday may fall before the start: skipped.
        for k in 0..10_000 {
            let Some(day) = self.nth(start, k) else {
                break;
            };
            if day > until {
                break;
            }
            if day >= from && day >= start {
                out.push(day);
            }
        }
        out
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MaintenanceState {
    Active,
    /// No tickets are made while paused; occurrences that came due while
    /// paused are skipped, not made later.
    Paused,
    /// For good.
    Ended,
}

impl MaintenanceState {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Paused => "paused",
            Self::Ended => "ended",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Active, Self::Paused, Self::Ended]
            .into_iter()
            .find(|s| s.as_str() == value)
    }
}

/// A maintenance plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MaintenancePlan {
    pub id: Uuid,
    pub site_id: Uuid,
    pub asset_id: Option<Uuid>,
    pub title: String,
    pub category: String,
    #[schema(value_type = String, example = "P3")]
    pub priority: Priority,
    pub required_skills: Vec<SkillLevel>,
    pub recurrence: Recurrence,
    #[schema(value_type = String, example = "2026-12-07")]
    pub start_on: NaiveDate,
    #[schema(value_type = Option<String>)]
    pub ends_on: Option<NaiveDate>,
    /// Each occurrence's ticket is made this many days before it.
    pub lead_days: u32,
    /// The visit's window on the day, local time of the tenant, `HH:MM`.
    pub window_start: String,
    pub window_minutes: u32,
    /// Estimated time on site; default: the category's.
    pub duration_minutes: Option<u32>,
    pub state: MaintenanceState,
    /// Whose name the tickets are created in.
    pub created_by: Uuid,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// When the generator last looked at the plan.
    pub checked_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// `POST /v1/maintenance/plans`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMaintenancePlan {
    pub site_id: Uuid,
    pub asset_id: Option<Uuid>,
    pub title: String,
    pub category: String,
    #[schema(value_type = String, example = "P3")]
    pub priority: Priority,
    #[serde(default)]
    pub required_skills: Vec<SkillLevel>,
    pub recurrence: Recurrence,
    #[schema(value_type = String, example = "2026-12-07")]
    pub start_on: NaiveDate,
    #[schema(value_type = Option<String>)]
    pub ends_on: Option<NaiveDate>,
    /// 0 to 90; default 14.
    pub lead_days: Option<u32>,
    /// Default `08:00`.
    pub window_start: Option<String>,
    /// 30 to 720; default 240.
    pub window_minutes: Option<u32>,
    pub duration_minutes: Option<u32>,
}

impl NewMaintenancePlan {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        check_text(&mut errors, "title", &self.title, 200);
        check_text(&mut errors, "category", &self.category, 100);
        self.recurrence.validate(&mut errors);
        if self.ends_on.is_some_and(|end| end < self.start_on) {
            errors.add("ends_on", "must not be before start_on");
        }
        if self.lead_days.is_some_and(|d| d > 90) {
            errors.add("lead_days", "must be between 0 and 90");
        }
        if let Some(start) = &self.window_start
            && (start.len() != 5 || chrono::NaiveTime::parse_from_str(start, "%H:%M").is_err())
        {
            errors.add("window_start", "must be a local time HH:MM");
        }
        if self
            .window_minutes
            .is_some_and(|m| !(30..=720).contains(&m))
        {
            errors.add("window_minutes", "must be between 30 and 720");
        }
        if let Some(minutes) = self.duration_minutes {
            check_duration(&mut errors, "duration_minutes", minutes);
            if minutes > self.window_minutes.unwrap_or(240) && DURATION_RANGE.contains(&minutes) {
                errors.add("duration_minutes", "must fit inside the window");
            }
        }
        errors.into_result()
    }
}

/// `PATCH /v1/maintenance/plans/{id}`: pause, resume or end.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MaintenancePatch {
    pub state: MaintenanceState,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("date")
    }

    #[test]
    fn recurrences_step_as_written() {
        let start = date(2026, 1, 31);
        let far = date(2026, 6, 30);
        assert_eq!(
            Recurrence::Months { count: 1 }.occurrences(start, start, date(2026, 4, 30)),
            [
                date(2026, 1, 31),
                date(2026, 2, 28),
                date(2026, 3, 31),
                date(2026, 4, 30)
            ]
        );
        assert_eq!(
            Recurrence::Months { count: 3 }.occurrences(start, date(2026, 3, 1), far),
            [date(2026, 4, 30)]
        );
        assert_eq!(
            Recurrence::Weeks { count: 2 }.occurrences(
                date(2026, 12, 7),
                date(2026, 12, 7),
                date(2026, 12, 31)
            ),
            [date(2026, 12, 7), date(2026, 12, 21)]
        );
        // The first Monday of every month, from mid-January: February on.
        let first_monday = Recurrence::MonthlyWeekday {
            nth: 1,
            weekday: Day::Mon,
            count: 1,
        };
        assert_eq!(
            first_monday.occurrences(date(2026, 1, 15), date(2026, 1, 1), date(2026, 3, 31)),
            [date(2026, 2, 2), date(2026, 3, 2)]
        );
        let mut errors = ValidationErrors::new();
        Recurrence::Days { count: 0 }.validate(&mut errors);
        Recurrence::MonthlyWeekday {
            nth: 5,
            weekday: Day::Fri,
            count: 1,
        }
        .validate(&mut errors);
        assert_eq!(errors.0.len(), 2);
    }
}
