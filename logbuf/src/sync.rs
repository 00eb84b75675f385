//! The one place the crate takes its synchronisation primitives from.
//!
//! Under `--cfg loom` every atomic, `Arc`, spin hint and thread yield comes from loom, so the loom
//! models in `tests/loom_*.rs` explore every interleaving the memory model allows. The ring's
//! record headers live inside a byte buffer in normal builds; loom cannot see atomics made by
//! casting bytes, so the buffer in [`crate::ring`] reaches its header words only through the
//! accessors of [`Buffer`], which this module implements twice.

#[cfg(loom)]
pub(crate) use loom::sync::Arc;
#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicUsize, Ordering, fence};
#[cfg(loom)]
pub(crate) use loom::thread::{Thread, current as current_thread};

#[cfg(not(loom))]
pub(crate) use std::sync::Arc;
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicUsize, Ordering, fence};
#[cfg(not(loom))]
pub(crate) use std::thread::{Thread, current as current_thread};

/// A hint that the caller is spinning. Under loom it yields, since loom's scheduler is not fair
/// and a spin loop that never yields never lets the thread it waits for run.
#[inline]
pub(crate) fn spin_loop() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    std::hint::spin_loop();
}

/// Gives up the rest of the time slice. A system call: only the receiver's wait and a sender's
/// `send_timeout` (which the caller asked to wait) use it, never the non-blocking paths.
#[inline]
pub(crate) fn yield_now() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    std::thread::yield_now();
}

/// Parks the current thread for at most `timeout`. Loom has no clock, so under loom this parks
/// until unparked: a model that loses a wake-up then deadlocks, which loom reports.
#[inline]
pub(crate) fn park_timeout(timeout: std::time::Duration) {
    #[cfg(loom)]
    {
        let _ = timeout;
        loom::thread::park();
    }
    #[cfg(not(loom))]
    std::thread::park_timeout(timeout);
}

/// Asymmetric memory barriers: a cheap one for the frequent side of a handshake, an expensive
/// one for the rare side, which together order like a `SeqCst` fence on each side.
///
/// On Linux the heavy side is `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`: when it returns,
/// every thread of the process that was running has executed a full memory barrier, and threads
/// that were not running pass one when they are scheduled. The light side then only has to stop
/// the compiler from reordering. Where the system call is missing or refused (other systems,
/// seccomp filters, Miri, loom) both sides are `fence(SeqCst)`. A handshake must use one mode on
/// both sides: [`barrier::asymmetric`] decides it once per process. A system call refused only
/// later (a seccomp filter installed after that decision) degrades wake-ups to the receiver's
/// park timeout; see `membarrier_all`.
pub(crate) mod barrier {
    use super::{Ordering, fence};

    /// Whether the heavy side is a `membarrier` call (decided, and registered, on first use).
    pub(crate) fn asymmetric() -> bool {
        imp::available()
    }

    /// The frequent side's barrier.
    #[inline(always)]
    pub(crate) fn light(asymmetric: bool) {
        if asymmetric {
            std::sync::atomic::compiler_fence(Ordering::SeqCst);
        } else {
            fence(Ordering::SeqCst);
        }
    }

    /// The rare side's barrier.
    pub(crate) fn heavy(asymmetric: bool) {
        if asymmetric {
            imp::membarrier_all();
        } else {
            fence(Ordering::SeqCst);
        }
    }

    #[cfg(all(target_os = "linux", not(loom), not(miri)))]
    mod imp {
        use std::sync::OnceLock;

        // From <linux/membarrier.h>.
        const MEMBARRIER_CMD_QUERY: libc::c_long = 0;
        const MEMBARRIER_CMD_PRIVATE_EXPEDITED: libc::c_long = 1 << 3;
        const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_long = 1 << 4;

        fn membarrier(cmd: libc::c_long) -> libc::c_long {
            // SAFETY: membarrier takes two integers (command, flags) and a CPU id it ignores
            // without MEMBARRIER_CMD_FLAG_CPU; it touches no memory of ours.
            unsafe {
                libc::syscall(
                    libc::SYS_membarrier,
                    cmd,
                    0 as libc::c_long,
                    0 as libc::c_long,
                )
            }
        }

        pub(super) fn available() -> bool {
            static AVAILABLE: OnceLock<bool> = OnceLock::new();
            *AVAILABLE.get_or_init(|| {
                let supported = membarrier(MEMBARRIER_CMD_QUERY);
                supported >= 0
                    && supported & MEMBARRIER_CMD_PRIVATE_EXPEDITED != 0
                    && membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0
            })
        }

        pub(super) fn membarrier_all() {
            // Registered in `available`, which decided this mode, so the kernel itself does not
            // refuse it; but a seccomp filter installed since (a sandbox entered after the first
            // channel was made) can make it fail. Then the senders' light side, a compiler
            // fence, pairs with nothing: a notification may be missed, and the receiver finds
            // the record when its park times out instead (at most its maximum park interval
            // late). A local fence is all that is left to do here; the mode cannot change
            // under senders that already skip their fence.
            if membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0 {
                std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
            }
        }
    }

    #[cfg(not(all(target_os = "linux", not(loom), not(miri))))]
    mod imp {
        pub(super) fn available() -> bool {
            false
        }

        pub(super) fn membarrier_all() {}
    }
}

/// Under loom, the `UnsafeCell` that tracks accesses; otherwise std's, with the same
/// `with`/`with_mut` shape.
#[cfg(loom)]
pub(crate) use loom::cell::UnsafeCell;

#[cfg(not(loom))]
#[derive(Debug, Default)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T> UnsafeCell<T> {
    pub(crate) const fn new(value: T) -> Self {
        Self(std::cell::UnsafeCell::new(value))
    }

    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

pub(crate) use buffer::Buffer;

#[cfg(not(loom))]
mod buffer {
    use super::{AtomicUsize, Ordering};
    use std::alloc::{Layout, alloc_zeroed, dealloc};
    use std::ptr::NonNull;

    /// A zeroed, 64-byte aligned byte buffer whose 8-byte aligned words can be used as atomics.
    pub(crate) struct Buffer {
        ptr: NonNull<u8>,
        len: usize,
    }

    // SAFETY: the buffer is plain memory owned by this value; every access to it goes through
    // the ring protocol, which gives each byte one writer at a time.
    unsafe impl Send for Buffer {}
    // SAFETY: as above; concurrent access is to disjoint byte ranges or through atomics.
    unsafe impl Sync for Buffer {}

    impl Buffer {
        const ALIGN: usize = 64;

        /// Allocates `len` zeroed bytes, or `None` if the allocator cannot. `len` is a power of
        /// two and at least 8.
        pub(crate) fn try_new(len: usize) -> Option<Self> {
            let layout = Layout::from_size_align(len, Self::ALIGN).ok()?;
            // SAFETY: `len` is non-zero, so the layout has a non-zero size.
            let raw = unsafe { alloc_zeroed(layout) };
            let ptr = NonNull::new(raw)?;
            Some(Self { ptr, len })
        }

        /// The word at byte offset `off` as an atomic.
        #[inline(always)]
        fn word(&self, off: usize) -> &AtomicUsize {
            debug_assert!(off.is_multiple_of(8) && off + 8 <= self.len);
            // SAFETY: `off` is 8-aligned and in bounds, the buffer is 64-aligned, so the pointer
            // is aligned for `AtomicUsize` (at most 8 bytes) and points into live memory that
            // outlives `&self`. Non-atomic accesses to these bytes are ordered with the atomic
            // ones by the ring protocol (see `crate::ring`).
            unsafe { &*self.ptr.as_ptr().add(off).cast::<AtomicUsize>() }
        }

        #[inline(always)]
        pub(crate) fn load_header(&self, off: usize, order: Ordering) -> usize {
            self.word(off).load(order)
        }

        #[inline(always)]
        pub(crate) fn store_header(&self, off: usize, value: usize, order: Ordering) {
            self.word(off).store(value, order)
        }

        /// Pointer to byte `off`. Reads and writes through it are the caller's to justify.
        #[inline(always)]
        pub(crate) fn ptr(&self, off: usize) -> *mut u8 {
            debug_assert!(off <= self.len);
            // SAFETY: `off` is at most the length of the allocation, so the result is in bounds
            // or one past the end.
            unsafe { self.ptr.as_ptr().add(off) }
        }

        /// Records that this thread writes `len` bytes at `off` (checked under loom only).
        #[inline(always)]
        pub(crate) fn note_write(&self, _off: usize, _len: usize) {}

        /// Records that this thread reads `len` bytes at `off` (checked under loom only).
        #[inline(always)]
        pub(crate) fn note_read(&self, _off: usize, _len: usize) {}

        /// Zeroes `len` bytes at `off`, header words included.
        ///
        /// # Safety
        /// The caller owns the range: no other thread reads or writes it until a release store
        /// that this call is sequenced before.
        #[inline(always)]
        pub(crate) unsafe fn zero(&self, off: usize, len: usize) {
            debug_assert!(off + len <= self.len);
            // SAFETY: in bounds (asserted above in debug builds, guaranteed by the caller), and
            // the caller owns the range.
            unsafe { self.ptr(off).write_bytes(0, len) }
        }
    }

    impl Drop for Buffer {
        fn drop(&mut self) {
            let layout = Layout::from_size_align(self.len, Self::ALIGN).expect("valid at new");
            // SAFETY: allocated in `new` with this very layout, and freed only here.
            unsafe { dealloc(self.ptr.as_ptr(), layout) }
        }
    }
}

#[cfg(loom)]
mod buffer {
    use super::{AtomicUsize, Ordering};
    use loom::cell::UnsafeCell;

    /// The header value of a word that payload bytes were written into: what a length word
    /// holds if it is read before being zeroed or stored.
    const LEFTOVER: usize = 0x4C45_4654_4F56_4552;

    /// Loom's view of the buffer: the bytes live in a plain `Vec`, every 8-byte word has a loom
    /// atomic standing in for its header value, and a loom `UnsafeCell<()>` that records each
    /// read and write of the word's bytes so loom reports any access the protocol leaves
    /// unordered.
    ///
    /// In the real buffer a header word *is* eight payload bytes, so a payload write leaves
    /// whatever it wrote behind as that word's value until it is zeroed or a header is stored
    /// there. The model keeps that: a payload write (announced by [`Buffer::note_write`]) stores
    /// [`LEFTOVER`] into the header of every word it touches, and a header load that returns
    /// it panics, since the protocol never reads a length word that may hold payload bytes.
    pub(crate) struct Buffer {
        bytes: Box<[std::cell::UnsafeCell<u8>]>,
        headers: Box<[AtomicUsize]>,
        access: Box<[UnsafeCell<()>]>,
    }

    // SAFETY: see the non-loom `Buffer`; loom checks the claim.
    unsafe impl Send for Buffer {}
    // SAFETY: see the non-loom `Buffer`; loom checks the claim.
    unsafe impl Sync for Buffer {}

    impl Buffer {
        pub(crate) fn try_new(len: usize) -> Option<Self> {
            let words = len / 8;
            Some(Self {
                bytes: (0..len).map(|_| std::cell::UnsafeCell::new(0)).collect(),
                headers: (0..words).map(|_| AtomicUsize::new(0)).collect(),
                access: (0..words).map(|_| UnsafeCell::new(())).collect(),
            })
        }

        pub(crate) fn load_header(&self, off: usize, order: Ordering) -> usize {
            let word = self.headers[off / 8].load(order);
            assert_ne!(
                word, LEFTOVER,
                "the length word at {off} was read while it may still hold payload bytes"
            );
            word
        }

        pub(crate) fn store_header(&self, off: usize, value: usize, order: Ordering) {
            self.headers[off / 8].store(value, order)
        }

        pub(crate) fn ptr(&self, off: usize) -> *mut u8 {
            // SAFETY: `off` is at most the length, so the result is in bounds or one past it.
            unsafe { std::cell::UnsafeCell::raw_get(self.bytes.as_ptr()).add(off) }
        }

        /// Records a payload write of `len` bytes at `off`: the words it touches hold
        /// [`LEFTOVER`] as header values from now on (Relaxed: a plain write, which the
        /// protocol orders like the payload bytes themselves).
        pub(crate) fn note_write(&self, off: usize, len: usize) {
            self.touch(off, len);
            for w in off / 8..(off + len).div_ceil(8) {
                self.headers[w].store(LEFTOVER, Ordering::Relaxed);
            }
        }

        fn touch(&self, off: usize, len: usize) {
            for w in off / 8..(off + len).div_ceil(8) {
                self.access[w].with_mut(|_| ());
            }
        }

        pub(crate) fn note_read(&self, off: usize, len: usize) {
            for w in off / 8..(off + len).div_ceil(8) {
                self.access[w].with(|_| ());
            }
        }

        /// # Safety
        /// As for the non-loom `Buffer::zero`.
        pub(crate) unsafe fn zero(&self, off: usize, len: usize) {
            self.touch(off, len);
            for w in off / 8..(off + len) / 8 {
                self.headers[w].store(0, Ordering::Relaxed);
            }
            // SAFETY: delegated to the caller.
            unsafe { self.ptr(off).write_bytes(0, len) }
        }
    }
}
