//! The report as CSV: one line per group; the header names every column.

use super::SlaReport;
use crate::domain::csv::field as csv_field;
use crate::domain::sla::SlaTarget;

pub fn to_csv(report: &SlaReport) -> String {
    let mut out = String::from("group_by,key,tickets,covered,backlog");
    for target in SlaTarget::ALL {
        let t = target.as_str();
        out.push_str(&format!(
            ",{t}_decided,{t}_met,{t}_met_late,{t}_breached,{t}_attainment_pct,{t}_median_seconds,{t}_p90_seconds"
        ));
    }
    out.push_str(
        ",backlog_under_1d,backlog_1d_to_3d,backlog_3d_to_7d,backlog_over_7d,closed,fixed_first_time,first_time_fix_pct,on_site_seconds,utilisation_pct",
    );
    out.push_str("\r\n");
    let opt = |v: Option<String>| v.unwrap_or_default();
    for group in &report.groups {
        out.push_str(&format!(
            "{},{},{},{},{}",
            report.group_by,
            csv_field(&group.key),
            group.tickets,
            group.covered,
            group.backlog
        ));
        for f in [&group.response, &group.arrival, &group.resolution] {
            out.push_str(&format!(
                ",{},{},{},{},{},{},{}",
                f.decided,
                f.met,
                f.met_late,
                f.breached,
                opt(f.attainment_pct.map(|v| v.to_string())),
                opt(f.median_seconds.map(|v| v.to_string())),
                opt(f.p90_seconds.map(|v| v.to_string())),
            ));
        }
        let age = &group.backlog_age;
        let ftf = &group.first_time_fix;
        out.push_str(&format!(
            ",{},{},{},{},{},{},{},{},{}",
            age.under_1d,
            age.from_1d_to_3d,
            age.from_3d_to_7d,
            age.over_7d,
            ftf.closed,
            ftf.fixed_first_time,
            opt(ftf.rate_pct.map(|v| v.to_string())),
            group.on_site_seconds,
            opt(group.utilisation_pct.map(|v| v.to_string())),
        ));
        out.push_str("\r\n");
    }
    out
}
