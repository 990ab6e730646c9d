mod browser;
mod console;
