//! Prefetch hints (never change a result): to the CPU, for loops over rows scattered in
//! memory; to the kernel, for ranges of a file mapping about to be read in order.
//!
//! An index's row, table and signature mappings are opened with read-around off
//! (`MADV_RANDOM`): on this project's machine the block device reads ahead 8 MB per fault,
//! so a k-NN query that touched 50 scattered pages of a cold index read 400 MB. Code that
//! reads such a range in order says so for the pass ([`InOrder`]).

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

/// Give the kernel `advice` about the pages under `values` (a hint: ignored when refused).
fn advise<T>(values: &[T], advice: Advice) {
    #[cfg(target_os = "linux")]
    {
        // The x86-64 and aarch64 base page; on a system with larger pages the aligned
        // address may not be page-aligned, madvise refuses it, and the hint is lost.
        const PAGE: usize = 4096;
        if std::mem::size_of_val(values) == 0 {
            return;
        }
        let start = values.as_ptr() as usize;
        let aligned = start & !(PAGE - 1);
        let len = std::mem::size_of_val(values) + (start - aligned);
        let advice = match advice {
            Advice::WillNeed => libc::MADV_WILLNEED,
            Advice::Sequential => libc::MADV_SEQUENTIAL,
            Advice::Random => libc::MADV_RANDOM,
        };
        // SAFETY: these three advices only steer how the kernel reads the pages that back
        // the range (read ahead now, read ahead on faults, read around no more); none
        // changes memory contents or the mapping, and the range covers only the pages of
        // `values`, which we borrow (on anonymous memory they do nothing that matters).
        // The result is ignored: a refused hint changes nothing.
        unsafe {
            libc::madvise(aligned as *mut libc::c_void, len, advice);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (values, advice);
}

#[derive(Clone, Copy)]
enum Advice {
    WillNeed,
    Sequential,
    Random,
}

/// Ask the kernel to read the pages under `values` now, in large requests
/// (`madvise(MADV_WILLNEED)`). Returns at once.
pub(crate) fn will_need<T>(values: &[T]) {
    advise(values, Advice::WillNeed);
}

/// While alive, the pages under a range of an index mapping are read ahead as a pass reads
/// them in order (`MADV_SEQUENTIAL`, and asked for at once); dropped, read-around is off
/// again (`MADV_RANDOM`, as the index opens its mappings).
pub(crate) struct InOrder<'a, T>(&'a [T]);

impl<'a, T> InOrder<'a, T> {
    /// Start a pass over `values` in order.
    pub(crate) fn new(values: &'a [T]) -> Self {
        advise(values, Advice::Sequential);
        advise(values, Advice::WillNeed);
        InOrder(values)
    }
}

impl<T> Drop for InOrder<'_, T> {
    fn drop(&mut self) {
        advise(self.0, Advice::Random);
    }
}
