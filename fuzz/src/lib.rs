//! Helpers shared by the fuzz targets.
//!
//! A counting global allocator lets a target check the "no allocation beyond what the
//! bytes present justify" rule: [`check_alloc`] runs a closure and panics when the most
//! memory it held at once exceeds a bound proportional to the input. libFuzzer runs one
//! input at a time on one thread, so the process-wide counters measure that input alone.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// The system allocator, counting live bytes and their high-water mark.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let live = LIVE.fetch_add(by, Relaxed) + by;
    PEAK.fetch_max(live, Relaxed);
}

// SAFETY: every call is forwarded unchanged to `System`; the counters only observe.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        LIVE.fetch_sub(layout.size(), Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Relaxed);
            grew(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` and panics when the bytes it held allocated at once (beyond those live before
/// it started, its result included) exceed `per_byte * input_len + slack`.
pub fn check_alloc<R>(input_len: usize, per_byte: usize, slack: usize, f: impl FnOnce() -> R) -> R {
    let base = LIVE.load(Relaxed);
    PEAK.store(base, Relaxed);
    let r = f();
    let peak = PEAK.load(Relaxed).saturating_sub(base);
    let bound = per_byte.saturating_mul(input_len).saturating_add(slack);
    assert!(
        peak <= bound,
        "{peak} bytes allocated at once for {input_len} input bytes (bound {bound})"
    );
    r
}

/// True when `part` is empty or lies inside `whole` (a borrowed view, not a copy).
pub fn lies_in(part: &[u8], whole: &[u8]) -> bool {
    let (w, p) = (whole.as_ptr_range(), part.as_ptr_range());
    part.is_empty() || (w.start <= p.start && p.end <= w.end)
}
