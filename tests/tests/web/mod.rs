mod browser;
mod automation;
mod console;
mod progress;
