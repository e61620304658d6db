//! A frame header that announces 2^63 payload bytes, then a gap of 2^40 bytes: the decoder
//! allocates nothing on the scale of either (counted by a global allocator; this file holds
//! one test, so nothing else allocates beside it).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use teardown_wire::time::Timestamp;
use teardown_wire::ws::{StreamDecoder, WsEvent};

struct Counting;

static ALLOCATED: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator, only counting the bytes asked for.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATED.fetch_add(new_size.saturating_sub(layout.size()), Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

#[test]
fn a_hostile_frame_length_and_gap_allocate_almost_nothing() {
    let mut d = StreamDecoder::default();
    d.expect_frames();
    let mut out = Vec::with_capacity(16);
    let before = ALLOCATED.load(Ordering::Relaxed);
    d.feed(
        Timestamp(0),
        &[
            0x82, 0x7f, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3,
        ],
        &mut out,
    );
    d.gap(Timestamp(1), 1 << 40, &mut out);
    d.feed(Timestamp(2), &[0u8; 4096], &mut out);
    let used = ALLOCATED.load(Ordering::Relaxed) - before;
    assert!(used < 16 * 1024, "{used} bytes allocated");
    assert!(
        out.iter().all(|e| !matches!(e, WsEvent::Frame(_))),
        "{out:?}"
    );
}
