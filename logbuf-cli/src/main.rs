//! The `logbuf` command.

fn main() {}
