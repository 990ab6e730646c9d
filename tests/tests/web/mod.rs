mod approvals;
mod automation;
mod browser;
mod console;
mod knowledge;
mod parts;
mod progress;
mod watchers;
