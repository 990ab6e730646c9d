mod browser;
mod progress;
