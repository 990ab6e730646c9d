mod push_fcm;
mod webhooks;
