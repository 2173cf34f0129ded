//! `strongroom::__fuzz::wrapped_key` on every input: nothing may panic (a panic
//! is a crash, or a property of the entry point that failed).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = strongroom::__fuzz::wrapped_key(data);
});
