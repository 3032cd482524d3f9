//! Runtime CPU-feature dispatch: wheels must run on any x86-64, so hot kernels are compiled
//! twice (portable, and AVX2+FMA+POPCNT) and the CPU picks at run time. No `target-cpu=native`.

/// True when this CPU has AVX2, FMA and POPCNT (every AVX2 CPU has POPCNT; checked once by
/// std, then a cached load).
#[cfg(target_arch = "x86_64")]
#[inline]
pub(crate) fn has_avx2_fma() -> bool {
    std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("fma")
        && std::arch::is_x86_feature_detected!("popcnt")
}

/// Define a function whose body is compiled twice: once for AVX2+FMA (used when the CPU has
/// them) and once portable. Results are bit-identical either way: the body only uses
/// exactly rounded operations (`mul_add` is one rounding whether or not it is a hardware FMA).
macro_rules! multiversion {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn body($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma,popcnt")]
                fn avx2($($arg: $ty),*) $(-> $ret)? {
                    body($($arg),*)
                }
                if $crate::kernels::cpu::has_avx2_fma() {
                    // SAFETY: `avx2` only differs from `body` in being compiled for AVX2, FMA
                    // and POPCNT, and the line above checked that this CPU executes all three.
                    return unsafe { avx2($($arg),*) };
                }
            }
            body($($arg),*)
        }
    };
}
pub(crate) use multiversion;
