mod browser;
mod console;
mod progress;
