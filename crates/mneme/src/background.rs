//! Helper threads (linking new rows into the graph, WAL checkpoints) do work no caller waits
//! for. They run at a lower priority, so on a machine with few cores a `get` or `put` that
//! wakes while they are busy takes a core at once instead of waiting out their time slice.

/// The nice value helper threads take (0 is the default, 19 the lowest priority).
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
const HELPER_NICE: i32 = 10;

/// Lowers the calling thread's priority to [`HELPER_NICE`] unless it is already that low
/// (Linux, where the nice value is per thread); elsewhere, or where the system refuses,
/// nothing changes: the thread then merely competes as an equal.
pub(crate) fn lower_this_thread_priority() {
    #[cfg(target_os = "linux")]
    if this_thread_nice() < HELPER_NICE {
        // SAFETY: a plain system call on this thread's own id, which only reads its arguments.
        unsafe { libc::setpriority(libc::PRIO_PROCESS as _, this_thread_id(), HELPER_NICE) };
    }
}

#[cfg(target_os = "linux")]
fn this_thread_id() -> libc::id_t {
    // SAFETY: gettid has no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) as libc::id_t }
}

#[cfg(target_os = "linux")]
fn this_thread_nice() -> i32 {
    // SAFETY: a plain system call on this thread's own id.
    unsafe { libc::getpriority(libc::PRIO_PROCESS as _, this_thread_id()) }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn only_the_calling_thread_is_lowered() {
        let before = this_thread_nice();
        let helper = std::thread::spawn(|| {
            lower_this_thread_priority();
            this_thread_nice()
        })
        .join()
        .unwrap();
        assert_eq!(helper, HELPER_NICE.max(before));
        assert_eq!(
            this_thread_nice(),
            before,
            "the caller's own priority is unchanged"
        );
    }
}
