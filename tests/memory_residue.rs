//! SECURITY.md, "Secrets in memory": values strongroom encodes itself
//! (`Fields`) grow in buffers that are wiped as they are outgrown. A global
//! allocator that, on this thread while armed, looks into every block freed
//! (or moved by a reallocation, which it always moves, as a real one may)
//! for a marker. Its own test binary: the allocator is global.

use strongroom::Fields;

mod residue {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    pub const MARKER: &[u8] = b"ZQXJ-RESIDUE-MARKER";

    thread_local! {
        static ARMED: Cell<bool> = const { Cell::new(false) };
        // Per thread: tests run in parallel.
        static HITS: Cell<usize> = const { Cell::new(0) };
    }

    pub struct Scan;

    fn look(ptr: *mut u8, size: usize) {
        if ARMED.with(|a| a.get()) {
            // SAFETY: the block is live (about to be freed) and `size`
            // bytes long, as its layout says.
            let block = unsafe { std::slice::from_raw_parts(ptr, size) };
            if block.windows(MARKER.len()).any(|w| w == MARKER) {
                HITS.with(|h| h.set(h.get() + 1));
            }
        }
    }

    // SAFETY: every call is passed on to the system allocator with the
    // layout it was given; a reallocation is an allocation, a copy of the
    // smaller size and a free.
    unsafe impl GlobalAlloc for Scan {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            unsafe { System.alloc(layout) }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            look(ptr, layout.size());
            unsafe { System.dealloc(ptr, layout) }
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
            let new = unsafe { System.alloc(new_layout) };
            if !new.is_null() {
                unsafe { std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size)) };
                look(ptr, layout.size());
                unsafe { System.dealloc(ptr, layout) };
            }
            new
        }
    }

    /// How many unzeroized blocks holding the marker `f` freed.
    pub fn during<T>(f: impl FnOnce() -> T) -> (T, usize) {
        let before = HITS.with(|h| h.get());
        ARMED.with(|a| a.set(true));
        let out = f();
        ARMED.with(|a| a.set(false));
        (out, HITS.with(|h| h.get()) - before)
    }
}

#[global_allocator]
static SCAN: residue::Scan = residue::Scan;

fn marked(len: usize) -> String {
    let mut s = String::from_utf8(residue::MARKER.to_vec()).unwrap();
    while s.len() < len {
        s.push('x');
    }
    s
}

/// A value given to `Fields` (a history of visits, as in the README's
/// model: several strings, over 2 KiB of JSON) leaves no unzeroized copy
/// of itself in freed memory, padded or not, and none when the fields drop.
#[test]
fn fields_leave_no_unzeroized_copy_of_a_value() {
    let history: Vec<String> = vec![marked(60), "y".repeat(300), "z".repeat(2_000)];
    let (fields, hits) = residue::during(|| Fields::new().with("history", &history).unwrap());
    assert_eq!(
        hits, 0,
        "Fields::with freed {hits} unzeroized block(s) holding the value"
    );
    let ((), hits) = residue::during(|| drop(fields));
    assert_eq!(
        hits, 0,
        "dropping the fields freed {hits} unzeroized block(s)"
    );
    let (padded, hits) = residue::during(|| {
        Fields::new()
            .with_padded("history", &history, 4096)
            .unwrap()
    });
    assert_eq!(hits, 0, "with_padded freed {hits} unzeroized block(s)");
    drop(padded);
}
