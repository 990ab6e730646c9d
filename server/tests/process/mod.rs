mod cli;
mod replicas;
