mod automation;
mod browser;
mod console;
mod progress;
