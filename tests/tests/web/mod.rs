mod automation;
mod browser;
mod console;
mod knowledge;
mod progress;
