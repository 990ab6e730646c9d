mod browser;
mod console;
mod knowledge;
mod progress;
