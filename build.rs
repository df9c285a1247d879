//! Links drbot's binaries with packed relative relocations (DT_RELR).
//!
//! drbot is a position-independent executable, so its own pointers (vtables,
//! string tables, static data) are relocated by the loader at start-up. The
//! classic encoding is one 24-byte record per pointer: about 1.2 MB of
//! `.rela.dyn` that the loader reads once and that then stays resident, a
//! sixteenth of an idle bot's memory. RELR packs the same relocations into
//! bitmaps of a few kilobytes, keeping address randomisation (building
//! without PIE would save the same memory by giving it up). GNU ld 2.38 and
//! glibc 2.36 (Debian 12) support it; the container image carries the build
//! machine's glibc (`scripts/build-image`). docs/BENCHMARKS.md, "Idle memory".

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let target = std::env::var("TARGET").unwrap_or_default();
    if target.contains("-linux-gnu") {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
