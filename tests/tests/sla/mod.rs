mod outcomes;
mod report_sql;
mod timers;
