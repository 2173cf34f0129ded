//! What the file benchmarks generate their rows with: the batch loop
//! (rows made one by one and handed on in groups, the last group possibly
//! short) and the xorshift64 bytes they fill chunks with.

/// Makes `count` rows with `make(index)` and passes them to `flush`
/// `per_batch` at a time (the last call gets what is left). Nothing is
/// flushed for a `count` of 0.
pub fn in_batches<R>(
    count: usize,
    per_batch: usize,
    mut make: impl FnMut(usize) -> R,
    mut flush: impl FnMut(&[R]) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let per_batch = per_batch.max(1);
    let mut rows = Vec::with_capacity(per_batch.min(count));
    for index in 0..count {
        rows.push(make(index));
        if rows.len() == per_batch || index + 1 == count {
            flush(&rows)?;
            rows.clear();
        }
    }
    Ok(())
}

/// One step of xorshift64: cheap bytes that differ from chunk to chunk.
/// Not for keys.
#[inline]
pub fn xorshift64(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    x
}
