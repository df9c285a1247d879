//! Handing freed memory back to the system.
//!
//! glibc's allocator keeps freed blocks in its per-thread arenas for reuse
//! and returns them to the kernel only when the top of a heap is free. After
//! a burst (say 200,000 one-off conversations) is forgotten, most of it sits
//! freed but resident; `malloc_trim` releases the free pages of every arena.
//! Other allocators (musl, other systems) need nothing here.

/// Releases freed heap memory to the system, where the allocator allows it.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> std::ffi::c_int;
        }
        // SAFETY: malloc_trim takes no pointers and only returns free pages of
        // glibc's own heaps; it is safe to call from any thread at any time.
        unsafe {
            malloc_trim(0);
        }
    }
}
