//! What a write leaves in memory: the cached copy of a document after a large change holds the
//! document, not also Automerge's index of that change (its patch events and the last diff's
//! patches, which Automerge keeps inside the document until its next write). Measured by
//! counting this test program's live heap: the only test here, so nothing else allocates.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use automerge::AutoCommit;
use yinglian_node::app::{import, sample};
use yinglian_node::docs::document::DocId;
use yinglian_node::docs::ledger;
use yinglian_node::domain::camera::Camera;
use yinglian_node::domain::unit::{Role, UnitCode, UnitKind};
use yinglian_node::store::Store;

/// The system allocator, counting the bytes live.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is passed on to the system allocator unchanged; only a counter is kept.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// A new institution's store in `dir`.
async fn institution(dir: &std::path::Path, unit: &UnitCode, name: &str) -> Store {
    Store::init(dir, unit, name, UnitKind::Institution, Role::Node)
        .await
        .unwrap()
}

/// Adds `cameras` to the ledger `doc` of `store` in one change.
async fn add(store: &Store, doc: &DocId, message: &str, cameras: &[Camera]) {
    store
        .edit(doc, "测试", message, |d| {
            for c in cameras {
                ledger::add_camera(d, c)?;
            }
            Ok(())
        })
        .await
        .unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn a_written_document_is_cached_without_the_index_of_its_change() {
    let dir = tempfile::tempdir().unwrap();
    let unit = UnitCode::parse("500103-0001").unwrap();
    let store = institution(dir.path(), &unit, "重庆市渝中区人民医院").await;
    let sheet = dir.path().join("cameras.xlsx");
    sample::write_sheet(&sheet, "500103", 3000, 7).unwrap();
    let cameras = import::read_cameras(&sheet).unwrap();
    let doc = DocId::ledger(&unit);
    // The ledger cached as it starts (its genesis), and the store warmed by one small write.
    let (first, rest) = cameras.split_at(1);
    add(&store, &doc, "第一台", first).await;

    let before = live();
    add(&store, &doc, "其余各台", rest).await;
    let held = live() - before;

    // What the same document takes loaded afresh from what is saved of it.
    let bytes = store.save_document(&doc).await.unwrap().unwrap();
    let loading = live();
    let fresh = AutoCommit::load(&bytes).unwrap();
    let document = live() - loading;
    assert_eq!(ledger::camera_codes(&fresh).unwrap().len(), cameras.len());

    // The cached copy grew by about one document (the write's own statements and caches
    // aside: 1.3 times); with the room of the change's index kept as well, by 17.
    eprintln!("held after the write {held} bytes; the document loaded afresh {document} bytes");
    assert!(
        held < document * 3,
        "the cache held {held} bytes more after the write, for a document of {document} bytes"
    );
    drop(fresh);

    // Another process (the command line beside a running node) writes a large change; this
    // process's copy catches up with it when it next reads the document.
    let other_dir = tempfile::tempdir().unwrap();
    let other_unit = UnitCode::parse("500103-0002").unwrap();
    let reader = institution(other_dir.path(), &other_unit, "重庆市渝中区第二人民医院").await;
    let other_doc = DocId::ledger(&other_unit);
    add(&reader, &other_doc, "第一台", first).await;
    let writer = Store::open(other_dir.path()).await.unwrap();
    add(&writer, &other_doc, "其余各台", rest).await;
    drop(writer);
    let before = live();
    let read = reader
        .read_document(&other_doc, |d| ledger::camera_codes(d).unwrap().len())
        .await
        .unwrap();
    let caught_up = live() - before;
    assert_eq!(read, cameras.len());
    eprintln!("held after catching up {caught_up} bytes");
    assert!(
        caught_up < document * 3,
        "the cache held {caught_up} bytes more after catching up, for a document of {document} bytes"
    );
}
