//! Non-blocking rings of variable-length byte records.
//!
//! - [`spsc`]: one producer, one consumer. The producer never touches a shared counter.
//! - [`mpsc`]: many producers, one consumer.
//!
//! Both hand out RAII claims: a write claim ([`spsc::WriteClaim`], [`mpsc::WriteClaim`]) is a
//! `&mut [u8]` window into the ring that becomes visible to the consumer on `commit`; a [`ReadClaim`] is a `&[u8]` window that gives its
//! bytes back to the producers when dropped. Nothing here blocks, allocates after construction or
//! makes a system call; a full ring is reported as [`ClaimError::Full`].

use std::fmt;

pub mod mpsc;
mod read;
pub mod spsc;

pub use read::{Batch, Consumer, ReadClaim};

/// Why a write claim failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClaimError {
    /// The ring has no room for the record right now. The consumer frees room as it reads, so
    /// trying again later can succeed.
    Full,
    /// A record of zero bytes was asked for. Records are never empty: a zero length word marks
    /// a record that is not yet committed. Retrying cannot help.
    ZeroLength,
    /// The record is larger than this ring can ever hold. Retrying cannot help.
    TooLarge {
        /// The length asked for.
        len: usize,
        /// The largest length this ring accepts.
        max: usize,
    },
}

impl ClaimError {
    /// Whether trying the same claim again later can succeed (only [`ClaimError::Full`]).
    pub fn is_retryable(&self) -> bool {
        matches!(self, ClaimError::Full)
    }
}

impl fmt::Display for ClaimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClaimError::Full => f.write_str("ring buffer is full"),
            ClaimError::ZeroLength => f.write_str("record length is zero"),
            ClaimError::TooLarge { len, max } => {
                write!(
                    f,
                    "record of {len} bytes exceeds the ring's maximum of {max} bytes"
                )
            }
        }
    }
}

impl std::error::Error for ClaimError {}

/// A requested ring capacity is outside the supported range, or its buffer could not be
/// allocated ([`CapacityError::is_allocation_failure`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CapacityError {
    requested: usize,
    /// The capacity is in range, but its buffer could not be allocated.
    alloc_failed: bool,
}

impl CapacityError {
    pub(crate) fn new(requested: usize) -> Self {
        Self {
            requested,
            alloc_failed: false,
        }
    }

    pub(crate) fn alloc_failed(requested: usize) -> Self {
        Self {
            requested,
            alloc_failed: true,
        }
    }

    /// Whether the capacity was in range but the system could not allocate a buffer that
    /// large (rather than the capacity being out of range).
    pub fn is_allocation_failure(&self) -> bool {
        self.alloc_failed
    }

    /// The capacity that was asked for.
    pub fn requested(&self) -> usize {
        self.requested
    }

    /// The smallest capacity a ring accepts, in bytes.
    pub const MIN: usize = crate::ring::MIN_CAPACITY;
    /// The largest capacity a ring accepts, in bytes.
    pub const MAX: usize = crate::ring::MAX_CAPACITY;
}

impl fmt::Display for CapacityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.alloc_failed {
            return write!(
                f,
                "could not allocate a ring buffer of {} bytes",
                self.requested
            );
        }
        write!(
            f,
            "ring capacity of {} bytes is out of range ({}..={} bytes)",
            self.requested,
            Self::MIN,
            Self::MAX
        )
    }
}

impl std::error::Error for CapacityError {}
