//! The event journal shared by logbuf's `tracing` and `log` back ends.
//!
//! - [`wire`]: the versioned record format (serde types, postcard encoding), documented byte by
//!   byte in `FORMAT.md`.
//! - [`encode`]: the hot-path encoder that writes those records straight into a ring claim.
//! - [`file`]: binary journal files: header, checksummed frames, a reader that survives torn
//!   tails and damage.
//!
//! The journal knows nothing of `tracing` or `log`: front ends turn their events into
//! [`wire`] records through the [`encode::Encoder`].

pub mod encode;
pub mod file;
pub mod wire;
