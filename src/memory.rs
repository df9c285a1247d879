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

/// Caps glibc's allocator at two arenas (unless `MALLOC_ARENA_MAX` says
/// otherwise). glibc gives each thread that allocates under contention an
/// arena of its own, up to eight per core, and every arena keeps its own
/// free pages resident; drbot runs two runtime workers and a few store
/// threads, so two arenas hold the same work in less memory (0.5–1 MB
/// less idle in short runs, docs/BENCHMARKS.md). Call before any thread
/// starts.
pub fn limit_allocator_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn mallopt(param: std::ffi::c_int, value: std::ffi::c_int) -> std::ffi::c_int;
        }
        /// glibc's `M_ARENA_MAX` (malloc.h).
        const M_ARENA_MAX: std::ffi::c_int = -8;
        if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
            return;
        }
        // SAFETY: mallopt takes plain integers and only changes the allocator's
        // tuning; called before other threads exist.
        unsafe {
            mallopt(M_ARENA_MAX, 2);
        }
    }
}
