mod envelope;
mod simulation;
