mod customers;
mod push_fcm;
mod webhooks;
