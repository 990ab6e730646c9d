mod push_fcm;
mod webhooks;
mod customers;
