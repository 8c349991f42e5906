use std::process::ExitCode;

use clap::Parser;
use wharf::cli::Cli;

#[cfg(all(target_os = "linux", target_env = "gnu"))]
unsafe extern "C" {
    fn mallopt(param: std::ffi::c_int, value: std::ffi::c_int) -> std::ffi::c_int;
}

/// The allocator, tuned for a long-running server. argon2 works in 19 MiB of memory per hash. glibc raises its mmap threshold after the first
/// such block is freed, and then keeps every later one in a per-thread arena: a few logins left
/// the process at 90 MB. A fixed threshold keeps large blocks in mmap, returned when freed.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const M_MMAP_THRESHOLD: std::ffi::c_int = -3;
        const M_ARENA_MAX: std::ffi::c_int = -8;
        // SAFETY: mallopt only sets an allocator parameter; it is called before any thread starts.
        unsafe {
            mallopt(M_MMAP_THRESHOLD, 128 * 1024);
            // One arena per thread (up to eight per core) keeps memory each thread freed out of
            // the others' reach; two are enough for a server that mostly waits.
            mallopt(M_ARENA_MAX, 2);
        }
    }
}

fn main() -> ExitCode {
    tune_allocator();
    wharf::cli::main(Cli::parse())
}
