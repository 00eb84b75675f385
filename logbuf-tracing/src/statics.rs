//! Whether text lies in the read-only data of a loaded executable or library: the bytes of a
//! string literal, fixed for as long as the object is loaded, as opposed to text made at run
//! time (on the heap, the stack, or in writable statics).
//!
//! tracing hands an event's message over as `&dyn Debug` (a `fmt::Arguments`), so a literal
//! (`info!("done")`) and a lone argument (`info!("{}", email)`) both format as one piece. The
//! address of that piece tells them apart: a literal's bytes are in a read-only segment of the
//! object that contains the callsite, run-time text is not. Only such text is interned, and
//! because those bytes cannot change while the object is loaded, a later message is known to
//! be the same literal when it arrives as one piece with the same address and length.
//!
//! On Linux the loaded objects' program headers are walked with `dl_iterate_phdr` (once per
//! callsite, on its first event; no system call). Elsewhere no text is taken for a literal:
//! messages are then stored as strings, never interned.

/// Whether the `len` bytes at `addr` lie in one read-only loadable segment of an object the
/// process has loaded (its executable or a shared library).
#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
pub(crate) fn read_only_static(addr: usize, len: usize) -> bool {
    struct Query {
        start: usize,
        end: usize,
        found: bool,
    }

    /// Called by `dl_iterate_phdr` for each loaded object; stops the walk (non-zero) once
    /// the text is found in one of its segments.
    unsafe extern "C" fn visit(
        info: *mut libc::dl_phdr_info,
        _size: libc::size_t,
        data: *mut libc::c_void,
    ) -> libc::c_int {
        // SAFETY: `dl_iterate_phdr` passes a valid `dl_phdr_info` for the duration of the
        // call, and `data` is the `Query` that `read_only_static` lent it, not otherwise
        // borrowed while the walk runs.
        let (info, query) = unsafe { (&*info, &mut *data.cast::<Query>()) };
        if info.dlpi_phdr.is_null() {
            return 0;
        }
        // SAFETY: `dlpi_phdr` points to the object's `dlpi_phnum` program headers, which stay
        // mapped while the object is loaded, and it cannot be unloaded during the walk.
        let headers = unsafe { std::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum.into()) };
        for header in headers {
            if header.p_type != libc::PT_LOAD || header.p_flags & libc::PF_W != 0 {
                continue;
            }
            // Bytes that come from the file, not the zero-filled rest of the segment.
            let (Ok(vaddr), Ok(size)) = (
                usize::try_from(header.p_vaddr),
                usize::try_from(header.p_filesz),
            ) else {
                continue;
            };
            let Ok(base) = usize::try_from(info.dlpi_addr) else {
                continue;
            };
            let start = base.wrapping_add(vaddr);
            let end = start.saturating_add(size);
            if start <= query.start && query.end <= end {
                query.found = true;
                return 1;
            }
        }
        0
    }

    if len == 0 {
        return false;
    }
    let Some(end) = addr.checked_add(len) else {
        return false;
    };
    let mut query = Query {
        start: addr,
        end,
        found: false,
    };
    // SAFETY: `visit` matches the callback type `dl_iterate_phdr` expects, reads only what it
    // is given, and unwinds nothing (it has no panicking path); `query` outlives the call.
    unsafe {
        libc::dl_iterate_phdr(Some(visit), (&raw mut query).cast());
    }
    query.found
}

/// Whether the `len` bytes at `addr` are known to be static read-only text: never, on
/// platforms where the loaded objects are not walked.
#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
pub(crate) fn read_only_static(_addr: usize, _len: usize) -> bool {
    false
}

#[cfg(all(test, target_os = "linux", target_pointer_width = "64"))]
mod tests {
    use super::*;

    #[test]
    fn literals_are_read_only_static_and_run_time_text_is_not() {
        let literal = "a literal in the test binary";
        assert!(read_only_static(literal.as_ptr().addr(), literal.len()));
        let heap = String::from(literal);
        assert!(!read_only_static(heap.as_ptr().addr(), heap.len()));
        let stack = *b"on the stack";
        assert!(!read_only_static(stack.as_ptr().addr(), stack.len()));
        let leaked: &'static str = String::leak(String::from("leaked"));
        assert!(!read_only_static(leaked.as_ptr().addr(), leaked.len()));
        // A writable static.
        static mut WRITABLE: [u8; 8] = *b"writable";
        assert!(!read_only_static((&raw const WRITABLE).addr(), 8));
        assert!(!read_only_static(literal.as_ptr().addr(), 0));
        assert!(!read_only_static(usize::MAX - 1, 4));
    }
}
