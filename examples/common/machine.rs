//! What the benchmark examples record of the machine and the build they
//! ran on: the load, this process's CPU time, the commit.

use std::process::Command;
use std::time::Duration;

/// The 1-minute load average.
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[allow(dead_code)] // Not every benchmark records it.
/// This process's user + system CPU time so far (`/proc/self/stat`, in
/// clock ticks of 1/100 s, Linux's fixed `USER_HZ`).
pub fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command name (which may hold spaces): utime and
    // stime are the 12th and 13th.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// The commit checked out where the examples live, and whether the
/// library's sources differ from it (others may be editing the checkout).
#[allow(dead_code)] // Not every benchmark records it.
pub fn source_commit() -> (Option<String>, Option<bool>) {
    let dir = env!("CARGO_MANIFEST_DIR");
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok())
    };
    let commit = git(&["rev-parse", "--short=10", "HEAD"]).map(|s| s.trim().to_owned());
    let dirty = git(&[
        "status",
        "--porcelain",
        "--untracked-files=no",
        "--",
        "src",
        "derive",
        "Cargo.toml",
        "Cargo.lock",
    ])
    .map(|s| !s.trim().is_empty());
    (commit, dirty)
}
