//! Who may do what: one table of role × action, used by every handler.

use serde::Serialize;
use utoipa::ToSchema;

use super::people::Role;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    UsersRead,
    UsersWrite,
    TechniciansRead,
    TechniciansWrite,
    CustomersRead,
    CustomersWrite,
    SitesRead,
    SitesWrite,
    AssetsRead,
    AssetsWrite,
    CategoriesRead,
    CategoriesWrite,
    /// Read every ticket of the tenant.
    TicketsReadAll,
    /// Read the tickets assigned to oneself.
    TicketsReadAssigned,
    TicketsCreate,
    /// Edit header fields, assign, unassign, cancel, reopen.
    TicketsManage,
    /// Field status steps (accept, travel, check in, hold, complete, close) on one's own tickets.
    TicketsWorkAssigned,
    CommentsWrite,
    AuditRead,
    DevicesRegister,
    /// Send one's own position pings.
    LocationsReport,
    /// Read technicians' ping trails.
    LocationsRead,
    /// See ranked candidates for a ticket.
    DispatchCandidates,
    /// Accept or decline one's own offers.
    OffersRespond,
    /// See the offers made for tickets.
    OffersRead,
    /// Read territories (boundaries).
    TerritoriesRead,
    /// Create, reshape and delete territories.
    TerritoriesWrite,
    /// Read SLA policies.
    SlaPoliciesRead,
    /// Create and change SLA policies.
    SlaPoliciesWrite,
    /// Read SLA reports.
    ReportsRead,
    /// Watch the live map (`GET /v1/live`).
    LiveView,
    /// Manage webhook subscriptions, see deliveries, redeliver dead letters.
    WebhooksManage,
    /// Set one's own availability (available, on break, off duty) from the phone.
    OwnAvailabilitySet,
    /// Set up email and web intake: settings, the intake token, IMAP mailboxes.
    IntakeManage,
    /// See what intake received (`GET /v1/intake/messages`) and post raw mail.
    IntakeRead,
    /// Read and override the tenant's customer message templates.
    NotifyTemplatesManage,
    /// Create, change and delete ticket templates (prefilled create forms).
    TemplatesWrite,
    /// Change the tenant's settings (time zone, default language).
    TenantWrite,
    /// Correct a ticket's work record (parts, notes, time, checklist).
    WorkCorrect,
    /// Set the service report's logo and font.
    ReportSettingsWrite,
    // Issue 21: automation.
    /// Create and change teams and their members.
    TeamsManage,
    /// Move a ticket between teams and owners.
    TicketTeamSet,
    /// Write, reorder and dry-run trigger rules.
    RulesManage,
    // Knowledge base (issue 22).
    KnowledgeRead,
    KnowledgeWrite,
    // Issue 23: parts and van stock.
    /// Read the parts catalogue, stock locations, balances, movements and suggestions.
    PartsRead,
    /// Change the catalogue, record movements, reorder points, required parts,
    /// parts policies and labour rates.
    PartsWrite,
    /// Read one's own van stock (the technician's phone).
    OwnVanRead,
    // Issue 21: approvals.
    /// Create and change approval policies.
    ApprovalPoliciesManage,
    /// Ask for an approval on a ticket.
    ApprovalsRequest,
    /// Decide approval requests (only those naming the user or their role).
    ApprovalsDecide,
    /// Write one's own and one's teams' macros, preview and apply them.
    MacrosUse,
    // Issue 19: masking, erasure and access requests.
    /// Reveal a masked customer field (audited).
    CustomersReveal,
    /// Erase a customer and set or lift a legal hold.
    CustomersErase,
    /// Export everything about one customer (an access request).
    CustomersExport,
    /// Choose which roles see customers' phone, email and address unmasked.
    PrivacyManage,
}

use Action::*;

/// The permission table. A role not listed for an action is refused.
pub const PERMISSIONS: &[(Action, &[Role])] = &[
    (IntakeManage, &[Role::Admin]),
    (IntakeRead, &[Role::Admin, Role::Dispatcher, Role::Manager]),
    (UsersRead, &[Role::Admin, Role::Dispatcher, Role::Manager]),
    (UsersWrite, &[Role::Admin]),
    (
        TechniciansRead,
        &[Role::Admin, Role::Dispatcher, Role::Manager],
    ),
    (TechniciansWrite, &[Role::Admin]),
    (
        CustomersRead,
        &[Role::Admin, Role::Dispatcher, Role::Manager],
    ),
    (CustomersWrite, &[Role::Admin, Role::Dispatcher]),
    (SitesRead, &[Role::Admin, Role::Dispatcher, Role::Manager]),
    (SitesWrite, &[Role::Admin, Role::Dispatcher]),
    (AssetsRead, &[Role::Admin, Role::Dispatcher, Role::Manager]),
    (AssetsWrite, &[Role::Admin, Role::Dispatcher]),
    (
        CategoriesRead,
        &[Role::Admin, Role::Dispatcher, Role::Manager],
    ),
    (CategoriesWrite, &[Role::Admin]),
    (
        TicketsReadAll,
        &[Role::Admin, Role::Dispatcher, Role::Manager],
    ),
    (TicketsReadAssigned, &[Role::Technician]),
    (TicketsCreate, &[Role::Admin, Role::Dispatcher]),
    (TicketsManage, &[Role::Admin, Role::Dispatcher]),
    (TicketsWorkAssigned, &[Role::Technician]),
    (
        CommentsWrite,
        &[
            Role::Admin,
            Role::Dispatcher,
            Role::Manager,
            Role::Technician,
        ],
    ),
    (AuditRead, &[Role::Admin]),
    (
        DevicesRegister,
        &[
            Role::Admin,
            Role::Dispatcher,
            Role::Manager,
            Role::Technician,
        ],
    ),
    (LocationsReport, &[Role::Technician]),
    (
        LocationsRead,
        &[Role::Admin, Role::Dispatcher, Role::Manager],
    ),
    (DispatchCandidates, &[Role::Admin, Role::Dispatcher]),
    (OffersRespond, &[Role::Technician]),
    (OffersRead, &[Role::Admin, Role::Dispatcher, Role::Manager]),
    (
        TerritoriesRead,
        &[Role::Admin, Role::Dispatcher, Role::Manager],
    ),
    (TerritoriesWrite, &[Role::Admin, Role::Dispatcher]),
    (
        SlaPoliciesRead,
        &[Role::Admin, Role::Dispatcher, Role::Manager],
    ),
    (SlaPoliciesWrite, &[Role::Admin]),
    (ReportsRead, &[Role::Admin, Role::Dispatcher, Role::Manager]),
    (LiveView, &[Role::Admin, Role::Dispatcher, Role::Manager]),
    (WebhooksManage, &[Role::Admin]),
    (NotifyTemplatesManage, &[Role::Admin]),
    (OwnAvailabilitySet, &[Role::Technician]),
    (TemplatesWrite, &[Role::Admin]),
    (TenantWrite, &[Role::Admin]),
    (WorkCorrect, &[Role::Admin, Role::Dispatcher, Role::Manager]),
    (ReportSettingsWrite, &[Role::Admin]),
    // Issue 21: automation.
    (TeamsManage, &[Role::Admin]),
    (
        TicketTeamSet,
        &[Role::Admin, Role::Dispatcher, Role::Manager],
    ),
    (RulesManage, &[Role::Admin]),
    // Knowledge base (issue 22): everyone reads (technicians on site),
    // the office writes.
    (
        KnowledgeRead,
        &[
            Role::Admin,
            Role::Dispatcher,
            Role::Manager,
            Role::Technician,
        ],
    ),
    (
        KnowledgeWrite,
        &[Role::Admin, Role::Dispatcher, Role::Manager],
    ),
    // Issue 23: parts and van stock.
    (PartsRead, &[Role::Admin, Role::Dispatcher, Role::Manager]),
    (PartsWrite, &[Role::Admin, Role::Dispatcher]),
    // Issue 21: approvals.
    (ApprovalPoliciesManage, &[Role::Admin]),
    (
        ApprovalsRequest,
        &[Role::Admin, Role::Dispatcher, Role::Manager],
    ),
    (
        ApprovalsDecide,
        &[Role::Admin, Role::Dispatcher, Role::Manager],
    ),
    (MacrosUse, &[Role::Admin, Role::Dispatcher]),
    (OwnVanRead, &[Role::Technician]),
    // Issue 19: masking, erasure and access requests.
    (
        CustomersReveal,
        &[Role::Admin, Role::Dispatcher, Role::Manager],
    ),
    (CustomersErase, &[Role::Admin]),
    (CustomersExport, &[Role::Admin]),
    (PrivacyManage, &[Role::Admin]),
];

pub fn allows(role: Role, action: Action) -> bool {
    PERMISSIONS
        .iter()
        .any(|(listed, roles)| *listed == action && roles.contains(&role))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn technicians_only_touch_their_own_work() {
        assert!(allows(Role::Technician, TicketsReadAssigned));
        assert!(!allows(Role::Technician, TicketsReadAll));
        assert!(!allows(Role::Technician, TicketsManage));
        assert!(!allows(Role::Technician, CustomersRead));
        assert!(!allows(Role::Technician, AuditRead));
    }

    #[test]
    fn managers_read_but_do_not_dispatch() {
        assert!(allows(Role::Manager, TicketsReadAll));
        assert!(!allows(Role::Manager, TicketsManage));
        assert!(!allows(Role::Manager, TicketsCreate));
        assert!(!allows(Role::Manager, AuditRead));
    }

    #[test]
    fn every_action_is_in_the_table_once() {
        let mut seen = std::collections::HashSet::new();
        for (action, roles) in PERMISSIONS {
            assert!(seen.insert(*action), "{action:?} listed twice");
            assert!(
                roles.contains(&Role::Admin)
                    || matches!(
                        action,
                        TicketsReadAssigned
                            | TicketsWorkAssigned
                            | LocationsReport
                            | OffersRespond
                            | OwnAvailabilitySet
                            | OwnVanRead
                    )
            );
        }
        assert_eq!(seen.len(), 56);
    }
}
