mod demo;
mod events;
mod map;
