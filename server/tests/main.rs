//! The `truckroll` binary as a process, one test binary: the command line
//! (`process::cli`) and two replicas of `truckroll serve` sharing PostgreSQL
//! (`process::replicas`). Run one with
//! `cargo test -p truckroll-server --test main process::cli`.
//!
//! These stay in the server's package rather than in `truckroll-tests`:
//! cargo builds a package's binaries for `cargo test` only for that
//! package's own integration tests (`CARGO_BIN_EXE_truckroll`); from another
//! package the binary is neither guaranteed built nor fresh.

mod process;
