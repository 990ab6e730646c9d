mod customers;
mod progress;
mod push_fcm;
mod webhooks;
