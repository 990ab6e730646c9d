//! Automation's pure part: teams, trigger rules (events, nested conditions,
//! actions, the stop flag) and their evaluation over a ticket's facts,
//! including the chain a rule's own changes start and its bound.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    ValidationErrors,
    customers::CustomerTier,
    people::Role,
    ticket::{Priority, Ticket},
    validation::check_text,
};

/// How an owner is picked when a ticket comes to a team without one named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TeamAssignment {
    /// Nobody: a member takes it from the queue.
    #[default]
    Manual,
    /// The member after the one picked last, in member order.
    RoundRobin,
    /// The member owning the fewest open tickets of the team.
    LeastLoaded,
}

impl TeamAssignment {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Manual => "manual",
            Self::RoundRobin => "round_robin",
            Self::LeastLoaded => "least_loaded",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Manual, Self::RoundRobin, Self::LeastLoaded]
            .into_iter()
            .find(|a| a.as_str() == value)
    }
}

/// A team of staff users with its own queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Team {
    pub id: Uuid,
    pub name: String,
    pub assignment: TeamAssignment,
    /// Member user ids, in id order (the round robin's order).
    pub members: Vec<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamInput {
    pub name: String,
    #[serde(default)]
    pub assignment: TeamAssignment,
    #[serde(default)]
    pub members: Vec<Uuid>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamPatch {
    pub name: Option<String>,
    pub assignment: Option<TeamAssignment>,
    /// Replaces the member list whole.
    pub members: Option<Vec<Uuid>>,
}

fn check_members(errors: &mut ValidationErrors, members: &[Uuid]) {
    let unique: HashSet<_> = members.iter().collect();
    if unique.len() != members.len() {
        errors.add("members", "lists a user twice");
    }
    if members.len() > 500 {
        errors.add("members", "must list at most 500 users");
    }
}

impl TeamInput {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        check_text(&mut errors, "name", &self.name, 80);
        check_members(&mut errors, &self.members);
        errors.into_result()
    }
}

impl TeamPatch {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if let Some(name) = &self.name {
            check_text(&mut errors, "name", name, 80);
        }
        if let Some(members) = &self.members {
            check_members(&mut errors, members);
        }
        errors.into_result()
    }
}

/// Which team (and person in it) owns a ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TicketTeam {
    pub ticket_id: Uuid,
    pub team_id: Uuid,
    pub team_name: String,
    pub owner_id: Option<Uuid>,
    /// Why it came to this team (the last transfer's reason).
    pub reason: String,
    pub updated_at: DateTime<Utc>,
}

/// Who owns the ticket within the team after a transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerChoice {
    /// This member.
    Member(Uuid),
    /// Nobody yet.
    Nobody,
    /// As the team's assignment says (manual: nobody).
    TeamDefault,
    /// By this rule, whatever the team's default.
    Pick(TeamAssignment),
}

/// A transfer: to a team (`None` clears the team) with a reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamChange {
    pub team_id: Option<Uuid>,
    pub owner: OwnerChoice,
    pub reason: String,
}

// ---------------------------------------------------------------------------
// Trigger rules

/// What sets a rule off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TriggerEvent {
    TicketCreated,
    /// Any change of the ticket, a status step included.
    TicketUpdated,
    StatusChanged,
    CommentAdded,
    /// A time-based rule's clock ran out ([`Timer`]); only the timed sweep
    /// (`automation::timed`) sets it off.
    TimeElapsed,
    /// A technician was assigned (or the ticket moved to another one).
    TicketAssigned,
    /// An SLA target reached a warning threshold (once per threshold).
    SlaWarning,
    /// An SLA target was breached (once per target).
    SlaBreached,
    /// A technician's phone sync changed the ticket's work record or status
    /// (run by the sync edge after the document write, `http/sync.rs`).
    FieldWorkSynced,
}

impl TriggerEvent {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::TicketCreated => "ticket_created",
            Self::TicketUpdated => "ticket_updated",
            Self::StatusChanged => "status_changed",
            Self::CommentAdded => "comment_added",
            Self::TimeElapsed => "time_elapsed",
            Self::TicketAssigned => "ticket_assigned",
            Self::SlaWarning => "sla_warning",
            Self::SlaBreached => "sla_breached",
            Self::FieldWorkSynced => "field_work_synced",
        }
    }
}

/// The events one write stands for: a status step is also an update.
pub fn events_of_update(status_changed: bool) -> Vec<TriggerEvent> {
    if status_changed {
        vec![TriggerEvent::TicketUpdated, TriggerEvent::StatusChanged]
    } else {
        vec![TriggerEvent::TicketUpdated]
    }
}

/// A condition: `all` / `any` of conditions, `not`, or one test of a field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Condition {
    All { all: Vec<Condition> },
    Any { any: Vec<Condition> },
    Not { not: Box<Condition> },
    Test(Test),
}

/// One test of a field. What evaluation needs besides the three parts
/// written (which field, the value in lower case for `contains`) is worked
/// out once when the rule is read, not on every event.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(from = "TestSpec", into = "TestSpec")]
pub struct Test {
    /// See [`FIELDS`]; `custom.<key>` names a custom field.
    pub field: String,
    pub op: Op,
    pub value: Value,
    compiled: Compiled,
}

impl PartialEq for Test {
    fn eq(&self, other: &Self) -> bool {
        (&self.field, self.op, &self.value) == (&other.field, other.op, &other.value)
    }
}

/// A test as written in a rule's JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestSpec {
    field: String,
    op: Op,
    #[serde(default)]
    value: Value,
}

impl From<TestSpec> for Test {
    fn from(spec: TestSpec) -> Self {
        Test::new(spec.field, spec.op, spec.value)
    }
}

impl From<Test> for TestSpec {
    fn from(test: Test) -> Self {
        TestSpec {
            field: test.field,
            op: test.op,
            value: test.value,
        }
    }
}

/// A field a test reads without building a JSON value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TextField {
    Priority,
    Status,
    Category,
    Title,
    Description,
    CustomerTier,
    Channel,
    CommentBody,
    CommentVisibility,
    HoldReason,
}

impl TextField {
    fn of(self, facts: &Facts) -> Option<&str> {
        let t = &facts.ticket;
        match self {
            Self::Priority => Some(t.priority.as_str()),
            Self::Status => Some(t.status.as_str()),
            Self::Category => Some(&t.category),
            Self::Title => Some(&t.title),
            Self::Description => Some(&t.description),
            Self::CustomerTier => facts.customer_tier.map(CustomerTier::as_str),
            Self::Channel => Some(&facts.channel),
            Self::CommentBody => facts.comment.as_ref().map(|c| c.body.as_str()),
            Self::CommentVisibility => facts.comment.as_ref().map(|c| c.visibility.as_str()),
            Self::HoldReason => t.hold_reason.map(|r| r.as_str()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum FieldKey {
    Text(TextField),
    /// Title, description and the comment.
    AllText,
    Tags,
    Custom(String),
    /// Ids: read as JSON values.
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Compiled {
    key: FieldKey,
    /// The value in lower case, when it is text (for `contains`).
    needle: Option<String>,
}

impl Compiled {
    fn of(field: &str, value: &Value) -> Self {
        let key = match field {
            "priority" => FieldKey::Text(TextField::Priority),
            "status" => FieldKey::Text(TextField::Status),
            "category" => FieldKey::Text(TextField::Category),
            "title" => FieldKey::Text(TextField::Title),
            "description" => FieldKey::Text(TextField::Description),
            "customer.tier" => FieldKey::Text(TextField::CustomerTier),
            "channel" => FieldKey::Text(TextField::Channel),
            "comment.body" => FieldKey::Text(TextField::CommentBody),
            "comment.visibility" => FieldKey::Text(TextField::CommentVisibility),
            "hold_reason" => FieldKey::Text(TextField::HoldReason),
            "text" => FieldKey::AllText,
            "tags" => FieldKey::Tags,
            other => match other.strip_prefix("custom.") {
                Some(key) => FieldKey::Custom(key.to_owned()),
                None => FieldKey::Other,
            },
        };
        Compiled {
            key,
            needle: value.as_str().map(str::to_lowercase),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Eq,
    Ne,
    In,
    NotIn,
    /// Text: case-insensitive substring; a list (tags): has the element.
    Contains,
    NotContains,
    Gt,
    Gte,
    Lt,
    Lte,
    /// Not null, not empty.
    Present,
    Absent,
}

/// The fields a condition may test, besides `custom.<key>`.
pub const FIELDS: &[&str] = &[
    "priority",
    "status",
    "category",
    "title",
    "description",
    "text",
    "tags",
    "assignee_id",
    "customer.id",
    "customer.tier",
    "channel",
    "team_id",
    "owner_id",
    "comment.body",
    "comment.visibility",
    "hold_reason",
];

/// What a rule does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    SetPriority {
        priority: Priority,
    },
    /// One step more urgent (P1 stays P1) and a notification to these roles
    /// (managers when none are named), each only if they may see the ticket.
    Escalate {
        #[serde(default)]
        roles: Vec<Role>,
    },
    AddTags {
        tags: Vec<String>,
    },
    RemoveTags {
        tags: Vec<String>,
    },
    /// Sets one custom field.
    SetField {
        key: String,
        value: Value,
    },
    /// Hands the ticket to a team; `owner_id` absent: the team's own assignment.
    SetTeam {
        team_id: Uuid,
        #[serde(default)]
        owner_id: Option<Uuid>,
    },
    /// An internal comment (placeholders allowed).
    AddNote {
        body: String,
    },
    /// An in-console notification (and a push to their phones) for these
    /// users, every member of these teams and every user of these roles —
    /// each only if they may see the ticket.
    Notify {
        #[serde(default)]
        user_ids: Vec<Uuid>,
        #[serde(default)]
        team_ids: Vec<Uuid>,
        #[serde(default)]
        roles: Vec<Role>,
        title: String,
        #[serde(default)]
        body: String,
        /// Also by email to each recipient's address, through the
        /// notification outbox (`notify_messages`, event `staff_alert`).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        email: bool,
    },
    /// Assigns an unassigned new ticket to the nearest qualified technician
    /// available now (the dispatch ranking: skills, capacity, territory,
    /// absences, van stock), the reasons in the timeline; nothing when the
    /// ticket already has a technician or nobody qualifies.
    AutoDispatch,
    /// A `rule.fired` delivery to every webhook subscribed to it.
    Webhook {
        #[serde(default)]
        label: String,
    },
    /// An approval request under this policy (absent: the first that
    /// applies); nothing if the ticket already awaits one (issue 21).
    RequestApproval {
        #[serde(default)]
        policy_id: Option<Uuid>,
        #[serde(default)]
        reason: String,
    },
}

impl Action {
    /// Whether the action only sets a ticket field or the team: listed as
    /// a change only when it changed something.
    pub fn sets_a_field(&self) -> bool {
        matches!(
            self,
            Action::SetPriority { .. }
                | Action::AddTags { .. }
                | Action::RemoveTags { .. }
                | Action::SetField { .. }
                | Action::SetTeam { .. }
        )
    }
}

/// The change line of a `set_team` action before the team's name is known.
pub fn team_line(team_id: Uuid) -> String {
    format!("team → {team_id}")
}

/// A rule's definition: what sets it off, when it applies, what it does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleDefinition {
    pub events: Vec<TriggerEvent>,
    /// Absent: always.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Condition>,
    pub actions: Vec<Action>,
    /// No rule after this one runs in this chain once it fired.
    #[serde(default)]
    pub stop: bool,
    /// A time-based rule (event `time_elapsed`): how long after which moment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timer: Option<Timer>,
}

/// Where a time-based rule's clock starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimerSince {
    /// The ticket's last update ("no update for N hours").
    Updated,
    /// When the ticket entered its current status (and hold reason):
    /// "waiting on the customer for N days".
    Status,
}

/// A time-based rule fires once per ticket and clock start, `minutes` after
/// it (counted in the covering SLA policy's business hours when
/// `business_hours`), on tickets its conditions hold for at that moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timer {
    pub since: TimerSince,
    pub minutes: u32,
    #[serde(default)]
    pub business_hours: bool,
}

/// The longest timer: a year.
pub const MAX_TIMER_MINUTES: u32 = 525_600;

/// A stored rule.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Rule {
    pub id: Uuid,
    pub name: String,
    /// Rules run in ascending position (then id).
    pub position: i64,
    pub active: bool,
    #[schema(value_type = Object)]
    pub definition: RuleDefinition,
    pub updated_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What a save carries: name, order, state and the definition (checked
/// against the published schema before it is parsed).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleInput {
    pub name: String,
    pub position: Option<i64>,
    #[serde(default = "yes")]
    pub active: bool,
    #[schema(value_type = Object)]
    pub definition: Value,
}

fn yes() -> bool {
    true
}

/// A comment that set the rules off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentFacts {
    pub body: String,
    pub visibility: String,
}

/// Everything a condition may look at.
#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    pub ticket: Ticket,
    pub customer_id: Option<Uuid>,
    pub customer_tier: Option<CustomerTier>,
    /// `email`, `imap`, `form` (intake) or `api` (the API and console).
    pub channel: String,
    pub team_id: Option<Uuid>,
    pub owner_id: Option<Uuid>,
    pub comment: Option<CommentFacts>,
}

fn uuid_value(id: Option<Uuid>) -> Value {
    id.map_or(Value::Null, |id| Value::String(id.to_string()))
}

impl Facts {
    /// The value a condition's `field` names; `Null` when absent.
    pub fn value(&self, field: &str) -> Value {
        let t = &self.ticket;
        match field {
            "priority" => Value::String(t.priority.as_str().into()),
            "status" => Value::String(t.status.as_str().into()),
            "category" => Value::String(t.category.clone()),
            "title" => Value::String(t.title.clone()),
            "description" => Value::String(t.description.clone()),
            "text" => {
                let mut text = format!("{}\n{}", t.title, t.description);
                if let Some(comment) = &self.comment {
                    text.push('\n');
                    text.push_str(&comment.body);
                }
                Value::String(text)
            }
            "tags" => Value::Array(t.tags.iter().cloned().map(Value::String).collect()),
            "assignee_id" => uuid_value(t.assignee_id),
            "customer.id" => uuid_value(self.customer_id),
            "customer.tier" => self
                .customer_tier
                .map_or(Value::Null, |tier| Value::String(tier.as_str().into())),
            "channel" => Value::String(self.channel.clone()),
            "team_id" => uuid_value(self.team_id),
            "owner_id" => uuid_value(self.owner_id),
            "comment.body" => self
                .comment
                .as_ref()
                .map_or(Value::Null, |c| Value::String(c.body.clone())),
            "comment.visibility" => self
                .comment
                .as_ref()
                .map_or(Value::Null, |c| Value::String(c.visibility.clone())),
            "hold_reason" => t
                .hold_reason
                .map_or(Value::Null, |r| Value::String(r.as_str().into())),
            other => match other.strip_prefix("custom.") {
                Some(key) => t.custom_fields.get(key).cloned().unwrap_or(Value::Null),
                None => Value::Null,
            },
        }
    }
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn contains(haystack: &Value, needle: &Value) -> bool {
    match haystack {
        Value::String(text) => needle
            .as_str()
            .is_some_and(|n| text.to_lowercase().contains(&n.to_lowercase())),
        Value::Array(items) => items.iter().any(|item| match (item, needle) {
            (Value::String(i), Value::String(n)) => i.eq_ignore_ascii_case(n),
            _ => same(item, needle),
        }),
        _ => false,
    }
}

fn present(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::String(s) => !s.trim().is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

fn compare(actual: &Value, expected: &Value) -> Option<std::cmp::Ordering> {
    match (actual, expected) {
        (Value::Number(a), Value::Number(b)) => a.as_f64()?.partial_cmp(&b.as_f64()?),
        // Priorities and ISO dates order as text.
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        _ => None,
    }
}

/// Whether `haystack` contains `needle` (already in lower case), ignoring
/// case; without allocating when both are ASCII.
fn contains_folded(haystack: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return true;
    }
    if haystack.is_ascii() && needle.is_ascii() {
        let (h, n) = (haystack.as_bytes(), needle.as_bytes());
        return h.len() >= n.len() && h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n));
    }
    haystack.to_lowercase().contains(needle)
}

static NULL: Value = Value::Null;

impl Test {
    pub fn new(field: impl Into<String>, op: Op, value: Value) -> Self {
        let field = field.into();
        let compiled = Compiled::of(&field, &value);
        Test {
            field,
            op,
            value,
            compiled,
        }
    }

    pub fn holds(&self, facts: &Facts) -> bool {
        match &self.compiled.key {
            FieldKey::Text(field) => match field.of(facts) {
                Some(text) => self.holds_text(text),
                None => self.holds_value(&NULL),
            },
            FieldKey::AllText => match self.holds_all_text(facts) {
                Some(holds) => holds,
                None => self.holds_value(&facts.value(&self.field)),
            },
            FieldKey::Tags => match self.holds_tags(&facts.ticket.tags) {
                Some(holds) => holds,
                None => self.holds_value(&facts.value(&self.field)),
            },
            FieldKey::Custom(key) => {
                self.holds_value(facts.ticket.custom_fields.get(key).unwrap_or(&NULL))
            }
            FieldKey::Other => self.holds_value(&facts.value(&self.field)),
        }
    }

    /// [`Test::holds_value`] for a text field, without building its value.
    fn holds_text(&self, text: &str) -> bool {
        use std::cmp::Ordering::*;
        let expected = &self.value;
        let equal = || matches!(expected, Value::String(e) if e == text);
        let listed = || {
            expected
                .as_array()
                .map(|list| list.iter().any(|v| v.as_str() == Some(text)))
        };
        let order = || expected.as_str().map(|e| text.cmp(e));
        let contained = || {
            self.compiled
                .needle
                .as_deref()
                .is_some_and(|n| contains_folded(text, n))
        };
        match self.op {
            Op::Eq => equal(),
            Op::Ne => !equal(),
            Op::In => listed() == Some(true),
            Op::NotIn => listed() == Some(false),
            Op::Contains => contained(),
            Op::NotContains => !contained(),
            Op::Gt => order() == Some(Greater),
            Op::Gte => matches!(order(), Some(Greater | Equal)),
            Op::Lt => order() == Some(Less),
            Op::Lte => matches!(order(), Some(Less | Equal)),
            Op::Present => !text.trim().is_empty(),
            Op::Absent => text.trim().is_empty(),
        }
    }

    /// `text` contains / not_contains over its parts; `None`: ask the
    /// joined value (other operators, or a value with a line break that
    /// could span two parts).
    fn holds_all_text(&self, facts: &Facts) -> Option<bool> {
        let needle = self.compiled.needle.as_deref()?;
        if needle.contains('\n') {
            return None;
        }
        let t = &facts.ticket;
        let found = contains_folded(&t.title, needle)
            || contains_folded(&t.description, needle)
            || facts
                .comment
                .as_ref()
                .is_some_and(|c| contains_folded(&c.body, needle));
        match self.op {
            Op::Contains => Some(found),
            Op::NotContains => Some(!found),
            _ => None,
        }
    }

    fn holds_tags(&self, tags: &[String]) -> Option<bool> {
        let has = || match &self.value {
            Value::String(n) => tags.iter().any(|t| t.eq_ignore_ascii_case(n)),
            _ => false,
        };
        match self.op {
            Op::Contains => Some(has()),
            Op::NotContains => Some(!has()),
            Op::Present => Some(!tags.is_empty()),
            Op::Absent => Some(tags.is_empty()),
            _ => None,
        }
    }

    fn holds_value(&self, actual: &Value) -> bool {
        use std::cmp::Ordering::*;
        let expected = &self.value;
        match self.op {
            Op::Eq => same(actual, expected),
            Op::Ne => !same(actual, expected),
            Op::In => expected
                .as_array()
                .is_some_and(|list| list.iter().any(|v| same(actual, v))),
            Op::NotIn => expected
                .as_array()
                .is_some_and(|list| !list.iter().any(|v| same(actual, v))),
            Op::Contains => contains(actual, expected),
            Op::NotContains => !contains(actual, expected),
            Op::Gt => compare(actual, expected) == Some(Greater),
            Op::Gte => matches!(compare(actual, expected), Some(Greater | Equal)),
            Op::Lt => compare(actual, expected) == Some(Less),
            Op::Lte => matches!(compare(actual, expected), Some(Less | Equal)),
            Op::Present => present(actual),
            Op::Absent => !present(actual),
        }
    }
}

impl Condition {
    pub fn holds(&self, facts: &Facts) -> bool {
        match self {
            Condition::All { all } => all.iter().all(|c| c.holds(facts)),
            Condition::Any { any } => any.iter().any(|c| c.holds(facts)),
            Condition::Not { not } => !not.holds(facts),
            Condition::Test(test) => test.holds(facts),
        }
    }

    fn visit<'a>(&'a self, out: &mut Vec<&'a Test>) {
        match self {
            Condition::All { all } => all.iter().for_each(|c| c.visit(out)),
            Condition::Any { any } => any.iter().for_each(|c| c.visit(out)),
            Condition::Not { not } => not.visit(out),
            Condition::Test(test) => out.push(test),
        }
    }

    /// Every field test, depth first.
    pub fn tests(&self) -> Vec<&Test> {
        let mut out = Vec::new();
        self.visit(&mut out);
        out
    }
}

/// Checks what the schema cannot: field names, value shapes per operator,
/// tags, and that a rule does something. Ids (teams, users) are checked
/// against the store by the caller.
pub fn check_definition(errors: &mut ValidationErrors, definition: &RuleDefinition) {
    if definition.events.is_empty() {
        errors.add("definition.events", "must name at least one event");
    }
    if definition.actions.is_empty() {
        errors.add("definition.actions", "must list at least one action");
    }
    let timed = definition.events.contains(&TriggerEvent::TimeElapsed);
    match (&definition.timer, timed) {
        (Some(_), false) => errors.add("definition.timer", "needs the event time_elapsed"),
        (None, true) => errors.add("definition.timer", "time_elapsed needs a timer"),
        (Some(timer), true) => {
            if definition.events.len() > 1 {
                errors.add("definition.events", "time_elapsed is a rule's only event");
            }
            if !(1..=MAX_TIMER_MINUTES).contains(&timer.minutes) {
                errors.add(
                    "definition.timer.minutes",
                    format!("must be between 1 and {MAX_TIMER_MINUTES}"),
                );
            }
        }
        (None, false) => {}
    }
    if let Some(conditions) = &definition.conditions {
        for test in conditions.tests() {
            let known = FIELDS.contains(&test.field.as_str())
                || test
                    .field
                    .strip_prefix("custom.")
                    .is_some_and(|k| !k.is_empty());
            if !known {
                errors.add(
                    "definition.conditions",
                    format!(
                        "unknown field `{}`; expected custom.<key> or one of: {}",
                        test.field,
                        FIELDS.join(", ")
                    ),
                );
            }
            if matches!(test.op, Op::In | Op::NotIn) && !test.value.is_array() {
                errors.add(
                    "definition.conditions",
                    format!("`{}` with in/not_in needs a list value", test.field),
                );
            }
        }
    }
    for (i, action) in definition.actions.iter().enumerate() {
        let at = format!("definition.actions[{i}]");
        match action {
            Action::AddTags { tags } | Action::RemoveTags { tags } => {
                if tags.is_empty() {
                    errors.add(&at, "must name at least one tag");
                }
                super::ticket::validate_tags(errors, tags);
            }
            Action::SetField { key, .. } if key.trim().is_empty() => {
                errors.add(&at, "key must not be empty");
            }
            Action::AddNote { body } => check_text(errors, &format!("{at}.body"), body, 10_000),
            Action::Notify {
                user_ids,
                team_ids,
                roles,
                title,
                ..
            } => {
                check_text(errors, &format!("{at}.title"), title, 200);
                if user_ids.is_empty() && team_ids.is_empty() && roles.is_empty() {
                    errors.add(&at, "must name users, teams or roles to notify");
                }
            }
            _ => {}
        }
    }
}

/// Fills `{{ticket.number}}`, `{{ticket.title}}`, `{{ticket.priority}}`,
/// `{{ticket.status}}`, `{{ticket.category}}`, `{{customer.tier}}`; other
/// text stays as written.
pub fn render(template: &str, facts: &Facts) -> String {
    let t = &facts.ticket;
    let tier = facts.customer_tier.map_or("", CustomerTier::as_str);
    [
        ("{{ticket.number}}", t.number.as_str()),
        ("{{ticket.title}}", t.title.as_str()),
        ("{{ticket.priority}}", t.priority.as_str()),
        ("{{ticket.status}}", t.status.as_str()),
        ("{{ticket.category}}", t.category.as_str()),
        ("{{customer.tier}}", tier),
    ]
    .into_iter()
    .fold(template.to_owned(), |text, (key, value)| {
        text.replace(key, value)
    })
}

// ---------------------------------------------------------------------------
// The chain

/// The most passes one chain takes. Each rule fires at most once per chain
/// and a pass only follows one that changed the ticket, so a chain ends
/// after at most `min(rules, MAX_PASSES)` passes.
pub const MAX_PASSES: u32 = 8;

/// One rule that fired, with what it did to the facts.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Firing {
    pub rule_id: Uuid,
    pub rule_name: String,
    /// The event of the pass it fired in (later passes: `ticket_updated`).
    pub event: TriggerEvent,
    /// 1 for the write's own event, 2… for the rules' own changes.
    pub pass: u32,
    #[schema(value_type = Vec<Object>)]
    pub actions: Vec<Action>,
    /// One line per action, for people (the timeline's summary).
    pub changes: Vec<String>,
    pub stopped: bool,
}

/// The outcome of a chain.
#[derive(Debug, Clone, PartialEq)]
pub struct Chain {
    pub firings: Vec<Firing>,
    /// The facts after every firing's field, tag, priority and team changes.
    pub facts: Facts,
    pub passes: u32,
    /// The chain was cut at [`MAX_PASSES`] while rules still changed the ticket.
    pub cut: bool,
}

/// Applies an action's effect on the facts; whether a ticket field or the
/// team changed, and a line for people.
fn apply(action: &Action, facts: &mut Facts) -> (bool, String) {
    let ticket = &mut facts.ticket;
    match action {
        Action::SetPriority { priority } => {
            let changed = ticket.priority != *priority;
            ticket.priority = *priority;
            (changed, format!("priority → {}", priority.as_str()))
        }
        Action::Escalate { .. } => {
            let raised = match ticket.priority {
                Priority::P1 | Priority::P2 => Priority::P1,
                Priority::P3 => Priority::P2,
                Priority::P4 => Priority::P3,
            };
            let changed = ticket.priority != raised;
            ticket.priority = raised;
            (
                changed,
                format!("escalated: priority → {}", raised.as_str()),
            )
        }
        Action::AddTags { tags } => {
            let before = ticket.tags.len();
            for tag in tags {
                if !ticket.tags.iter().any(|t| t == tag) {
                    ticket.tags.push(tag.clone());
                }
            }
            (
                ticket.tags.len() != before,
                format!("tags + {}", tags.join(", ")),
            )
        }
        Action::RemoveTags { tags } => {
            let before = ticket.tags.len();
            ticket.tags.retain(|t| !tags.contains(t));
            (
                ticket.tags.len() != before,
                format!("tags − {}", tags.join(", ")),
            )
        }
        Action::SetField { key, value } => {
            let fields = ticket
                .custom_fields
                .as_object_mut()
                .map(std::mem::take)
                .unwrap_or_default();
            let mut fields = fields;
            let changed = fields.get(key) != Some(value);
            fields.insert(key.clone(), value.clone());
            ticket.custom_fields = Value::Object(fields);
            (changed, format!("{key} → {value}"))
        }
        Action::SetTeam { team_id, owner_id } => {
            let changed = facts.team_id != Some(*team_id)
                || owner_id.is_some_and(|o| facts.owner_id != Some(o));
            if facts.team_id != Some(*team_id) {
                facts.owner_id = None;
            }
            facts.team_id = Some(*team_id);
            if let Some(owner) = owner_id {
                facts.owner_id = Some(*owner);
            }
            (changed, team_line(*team_id))
        }
        Action::AddNote { .. } => (false, "internal note".to_owned()),
        Action::Notify { title, email, .. } => {
            let by = if *email { " (and email)" } else { "" };
            (false, format!("notify{by}: {}", render(title, facts)))
        }
        Action::AutoDispatch => (false, "auto-dispatch".to_owned()),
        Action::Webhook { label } => (false, format!("webhook rule.fired {label}")),
        Action::RequestApproval { .. } => (false, "request approval".to_owned()),
    }
}

/// Runs `rules` (in order; inactive ones skipped) on a write standing for
/// `events`: each rule whose events meet the pass's and whose conditions
/// hold fires once, its changes visible to the rules after it. If the pass
/// changed the ticket, another pass runs as `ticket_updated` for the rules
/// that have not fired yet; a rule with `stop` ends the chain.
pub fn run_chain(rules: &[Rule], events: &[TriggerEvent], facts: Facts) -> Chain {
    let mut facts = facts;
    // By index: a rule fires at most once per chain.
    let mut fired = vec![false; rules.len()];
    let mut firings = Vec::new();
    let mut events: Vec<TriggerEvent> = events.to_vec();
    let mut passes = 0;
    let mut cut = false;
    'chain: for pass in 1..=MAX_PASSES {
        passes = pass;
        let mut changed = false;
        for (index, rule) in rules.iter().enumerate() {
            if !rule.active || fired[index] {
                continue;
            }
            let Some(event) = rule
                .definition
                .events
                .iter()
                .find(|e| events.contains(e))
                .copied()
            else {
                continue;
            };
            let holds = rule
                .definition
                .conditions
                .as_ref()
                .is_none_or(|c| c.holds(&facts));
            if !holds {
                continue;
            }
            fired[index] = true;
            let mut changes = Vec::with_capacity(rule.definition.actions.len());
            for action in &rule.definition.actions {
                let (did, line) = apply(action, &mut facts);
                changed |= did;
                // A field already as the action would set it is no change.
                if did || !action.sets_a_field() {
                    changes.push(line);
                }
            }
            firings.push(Firing {
                rule_id: rule.id,
                rule_name: rule.name.clone(),
                event,
                pass,
                actions: rule.definition.actions.clone(),
                changes,
                stopped: rule.definition.stop,
            });
            if rule.definition.stop {
                break 'chain;
            }
        }
        if !changed {
            break;
        }
        if pass == MAX_PASSES {
            cut = true;
        }
        // What the rules changed is an update; the comment that set the
        // chain off is not news to the next pass.
        events = vec![TriggerEvent::TicketUpdated];
        facts.comment = None;
    }
    Chain {
        firings,
        facts,
        passes,
        cut,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn facts() -> Facts {
        let ticket: Ticket = serde_json::from_value(json!({
            "id": Uuid::nil(), "tenant_id": Uuid::nil(), "number": "TR-000001", "title": "Boiler LEAK",
            "description": "water everywhere", "category": "repair", "priority": "P3", "required_skills": [],
            "site_id": Uuid::nil(), "asset_id": null, "tags": ["vip"], "custom_fields": {"amount": 700},
            "status": "new", "hold_reason": null, "assignee_id": null, "created_by": Uuid::nil(),
            "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"
        }))
        .expect("ticket");
        Facts {
            ticket,
            customer_id: None,
            customer_tier: Some(CustomerTier::Gold),
            channel: "api".into(),
            team_id: None,
            owner_id: None,
            comment: None,
        }
    }

    fn rule(n: u128, definition: Value) -> Rule {
        Rule {
            id: Uuid::from_u128(n),
            name: format!("rule {n}"),
            position: i64::try_from(n).unwrap_or(0),
            active: true,
            definition: serde_json::from_value(definition).expect("definition"),
            updated_by: Uuid::nil(),
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn cond(value: Value) -> Condition {
        serde_json::from_value(value).expect("condition")
    }

    #[test]
    fn every_operator_tests_its_field() {
        let f = facts();
        let holds = |c: Value| cond(c).holds(&f);
        assert!(holds(
            json!({"field": "priority", "op": "eq", "value": "P3"})
        ));
        assert!(holds(
            json!({"field": "priority", "op": "ne", "value": "P1"})
        ));
        assert!(holds(
            json!({"field": "customer.tier", "op": "in", "value": ["gold", "platinum"]})
        ));
        assert!(holds(
            json!({"field": "channel", "op": "not_in", "value": ["email"]})
        ));
        assert!(holds(
            json!({"field": "text", "op": "contains", "value": "leak"})
        ));
        assert!(holds(
            json!({"field": "tags", "op": "contains", "value": "VIP"})
        ));
        assert!(holds(
            json!({"field": "title", "op": "not_contains", "value": "gas"})
        ));
        assert!(holds(
            json!({"field": "custom.amount", "op": "gt", "value": 500})
        ));
        assert!(holds(
            json!({"field": "custom.amount", "op": "gte", "value": 700.0})
        ));
        assert!(!holds(
            json!({"field": "custom.amount", "op": "lt", "value": 700})
        ));
        assert!(holds(
            json!({"field": "custom.amount", "op": "lte", "value": 700})
        ));
        assert!(holds(json!({"field": "custom.amount", "op": "present"})));
        assert!(holds(json!({"field": "assignee_id", "op": "absent"})));
        assert!(!holds(
            json!({"field": "custom.amount", "op": "gt", "value": "a"})
        ));
    }

    /// The compiled paths (text fields read in place, `contains` without
    /// lower-casing both sides per event) answer as the plain JSON-value
    /// evaluation does, for every field, operator and a spread of values.
    #[test]
    fn compiled_tests_answer_as_the_json_values_do() {
        let mut with_comment = facts();
        with_comment.comment = Some(CommentFacts {
            body: "Straße blocked, GAS smell".into(),
            visibility: "internal".into(),
        });
        let mut without_tier = facts();
        without_tier.customer_tier = None;
        without_tier.ticket.tags = Vec::new();
        without_tier.ticket.description = "  ".into();
        let values = [
            json!("P3"),
            json!("p3"),
            json!("leak"),
            json!("LEAK"),
            json!("gas"),
            json!("straße"),
            json!("VIP"),
            json!("gold"),
            json!(""),
            json!("new"),
            json!(700),
            json!(500.5),
            json!(null),
            json!(["P3", "P1"]),
            json!(["gold"]),
            json!(["x"]),
            json!(true),
            json!("water\neverywhere"),
        ];
        let ops = [
            Op::Eq,
            Op::Ne,
            Op::In,
            Op::NotIn,
            Op::Contains,
            Op::NotContains,
            Op::Gt,
            Op::Gte,
            Op::Lt,
            Op::Lte,
            Op::Present,
            Op::Absent,
        ];
        let fields = FIELDS
            .iter()
            .copied()
            .chain(["custom.amount", "custom.none"]);
        let mut checked = 0;
        for f in [facts(), with_comment, without_tier] {
            for field in fields.clone() {
                for op in ops {
                    for value in &values {
                        let test = Test::new(field, op, value.clone());
                        let plain = test.holds_value(&f.value(field));
                        // `text` joins its parts with line breaks; a value
                        // without one matches within a part either way.
                        assert_eq!(test.holds(&f), plain, "{field} {op:?} {value}");
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 1000);
    }

    #[test]
    fn all_any_and_not_nest() {
        let f = facts();
        let c = cond(json!({"all": [
            {"field": "priority", "op": "eq", "value": "P3"},
            {"any": [{"field": "channel", "op": "eq", "value": "email"}, {"not": {"field": "tags", "op": "absent"}}]}
        ]}));
        assert!(c.holds(&f));
        let c =
            cond(json!({"any": [{"field": "priority", "op": "eq", "value": "P1"}, {"all": []}]}));
        assert!(c.holds(&f), "an empty all holds");
        assert!(!cond(json!({"any": []})).holds(&f), "an empty any fails");
    }

    #[test]
    fn rules_run_in_order_and_stop_ends_the_chain() {
        let rules = vec![
            rule(
                1,
                json!({"events": ["ticket_created"], "actions": [{"type": "set_priority", "priority": "P1"}]}),
            ),
            rule(
                2,
                json!({"events": ["ticket_created"], "conditions": {"field": "priority", "op": "eq", "value": "P1"},
                        "actions": [{"type": "add_tags", "tags": ["urgent"]}], "stop": true}),
            ),
            rule(
                3,
                json!({"events": ["ticket_created", "ticket_updated"], "actions": [{"type": "add_tags", "tags": ["never"]}]}),
            ),
        ];
        let chain = run_chain(&rules, &[TriggerEvent::TicketCreated], facts());
        let names: Vec<_> = chain.firings.iter().map(|f| f.rule_id.as_u128()).collect();
        assert_eq!(
            names,
            vec![1, 2],
            "rule 2 saw rule 1's priority, then stopped"
        );
        assert_eq!(chain.facts.ticket.tags, vec!["vip", "urgent"]);
        assert!(!chain.cut);
    }

    #[test]
    fn two_rules_flipping_a_field_end_after_each_fired_once() {
        let rules = vec![
            rule(
                1,
                json!({"events": ["ticket_updated"], "conditions": {"field": "priority", "op": "eq", "value": "P3"},
                        "actions": [{"type": "set_priority", "priority": "P2"}]}),
            ),
            rule(
                2,
                json!({"events": ["ticket_updated"], "conditions": {"field": "priority", "op": "eq", "value": "P2"},
                        "actions": [{"type": "set_priority", "priority": "P3"}]}),
            ),
        ];
        let chain = run_chain(&rules, &[TriggerEvent::TicketUpdated], facts());
        assert_eq!(chain.firings.len(), 2);
        assert_eq!(chain.facts.ticket.priority, Priority::P3);
        // Pass 1: both fire (P3 → P2 → P3); pass 2 has no rule left to fire.
        assert_eq!(chain.passes, 2);
        assert!(!chain.cut);
    }

    #[test]
    fn a_long_cascade_is_cut_at_the_bound() {
        // Rule n fires when tag n-1 is present and adds tag n: a chain of
        // one rule per pass, longer than the bound.
        let mut rules: Vec<Rule> = (1..=12u128)
            .rev()
            .map(|n| {
                rule(
                    n,
                    json!({"events": ["ticket_updated"],
                            "conditions": {"field": "tags", "op": "contains", "value": format!("t{}", n - 1)},
                            "actions": [{"type": "add_tags", "tags": [format!("t{n}")]}]}),
                )
            })
            .collect();
        rules.sort_by_key(|r| std::cmp::Reverse(r.position));
        let mut f = facts();
        f.ticket.tags = vec!["t0".into()];
        let chain = run_chain(&rules, &[TriggerEvent::TicketUpdated], f);
        assert_eq!(chain.passes, MAX_PASSES);
        assert!(chain.cut);
        assert_eq!(chain.firings.len(), MAX_PASSES as usize);
    }

    #[test]
    fn placeholders_are_filled() {
        let text = render(
            "{{ticket.number}} {{ticket.priority}} {{customer.tier}} {{x}}",
            &facts(),
        );
        assert_eq!(text, "TR-000001 P3 gold {{x}}");
    }
}
