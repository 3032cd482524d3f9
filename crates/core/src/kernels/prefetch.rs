//! Cache prefetch hints for loops over rows scattered in memory (a hint: never changes a
//! result).

/// Ask the CPU to start loading `values` into cache (a hint: no effect on results), so a
/// loop over scattered rows can fetch the next row while it computes on this one.
#[inline]
pub(crate) fn prefetch<T>(values: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let bytes = std::mem::size_of_val(values);
        let start = values.as_ptr().cast::<i8>();
        for offset in (0..bytes).step_by(64) {
            // SAFETY: SSE is part of the x86-64 baseline, so every CPU this code runs on
            // has the instruction; a prefetch never faults and never reads memory into the
            // program, and the address is inside (or one line past the start of) `values`.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(start.wrapping_add(offset)) };
        }
    }
}

/// The rows of `rows` in order, each handed out once the row [`PREFETCH_AHEAD`] places later
/// has been asked for with [`prefetch`] (`row` gives a row's values): for loops that read
/// rows scattered over memory, so the next rows load while this one is computed on.
pub(crate) fn prefetching<'a, T: 'a>(
    rows: &'a [u32],
    row: impl Fn(u32) -> &'a [T] + 'a,
) -> impl Iterator<Item = u32> + 'a {
    rows.iter()
        .take(PREFETCH_AHEAD)
        .for_each(|&r| prefetch(row(r)));
    rows.iter().enumerate().map(move |(i, &r)| {
        if let Some(&next) = rows.get(i + PREFETCH_AHEAD) {
            prefetch(row(next));
        }
        r
    })
}

/// How many rows ahead [`prefetching`] asks for.
const PREFETCH_AHEAD: usize = 4;
