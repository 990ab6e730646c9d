mod browser;
mod console;
mod parts;
mod progress;
