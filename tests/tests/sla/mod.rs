mod report_sql;
mod timers;
