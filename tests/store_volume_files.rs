//! The manifest of copied volume files in the store, on SQLite and on
//! PostgreSQL: a copy is recorded per pair, volume and file, a later copy
//! of the same file replaces the row, and two pairs keep their own.

use drbot::store::volume_files::CopiedFile;
#[macro_use]
mod support;

use support::fresh::Fresh;

on_both_backends!(copied_files_are_kept_per_pair_volume_and_file, |fresh: Fresh| async move {
    let store = fresh.open().await;
    assert!(store.copied_files("default").await.unwrap().is_empty());
    let first = CopiedFile { source_size: 10, source_modified_ms: 1_000 };
    let big = CopiedFile { source_size: 6 * 1024 * 1024 * 1024, source_modified_ms: 2_000 };
    store.record_copied_file("default", "main.s.v", "a/x.csv", first, 5_000).await.unwrap();
    store.record_copied_file("default", "main.s.v", "b.bin", big, 5_001).await.unwrap();
    store.record_copied_file("other", "main.s.v", "a/x.csv", first, 5_002).await.unwrap();
    // The file changed and was copied again: the row follows.
    let again = CopiedFile { source_size: 12, source_modified_ms: 3_000 };
    store.record_copied_file("default", "main.s.v", "a/x.csv", again, 6_000).await.unwrap();

    let copied = store.copied_files("default").await.unwrap();
    assert_eq!(copied.len(), 1);
    let volume = &copied["main.s.v"];
    assert_eq!(volume.len(), 2);
    assert_eq!(volume["a/x.csv"], again);
    assert_eq!(volume["b.bin"], big, "sizes beyond 32 bits survive");
    assert_eq!(store.copied_files("other").await.unwrap()["main.s.v"]["a/x.csv"], first);
    fresh
});
