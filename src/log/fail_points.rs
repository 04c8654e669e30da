//! Fault injection at the log's I/O sites, as tikv/raft-engine's
//! `fail_point!`s: compiled in only with the `failpoints` cargo feature
//! (`cargo test --features failpoints --test faults`), nothing otherwise.
//!
//! A test turns a point on with `fail::cfg(name, "return(EIO)")` (or
//! `ENOSPC`, `EDQUOT`, or an errno number; `return` alone is EIO); the site
//! then fails as if the kernel had returned that error. The points:
//!
//! | name | site |
//! |---|---|
//! | `segment::write` | the `pwritev` of an append to a `.log` file |
//! | `segment::fdatasync` | a segment's flush (`Log::flush`, roll, close) |
//! | `group_commit::fdatasync` | the group commit's fdatasync (acks=all) |
//! | `index::write` | the `pwrite` of an `.index`/`.timeindex` entry |
//! | `checkpoint::rename` | the rename of a checkpoint file into place |
//! | `dir::fsync` | the fsync of a directory after entries changed in it |

/// The error a test injected at fail point `name`, if it is on.
#[inline]
pub(crate) fn inject(name: &str) -> std::io::Result<()> {
    #[cfg(feature = "failpoints")]
    fail::fail_point!(name, |arg: Option<String>| Err(injected_error(arg)));
    let _ = name;
    Ok(())
}

/// The error named by a fail point's `return(...)` argument.
#[cfg(feature = "failpoints")]
fn injected_error(arg: Option<String>) -> std::io::Error {
    let errno = match arg.as_deref().map(str::trim) {
        Some("ENOSPC") => libc::ENOSPC,
        Some("EDQUOT") => libc::EDQUOT,
        Some(n) if n.parse::<i32>().is_ok() => n.parse().unwrap_or(libc::EIO),
        _ => libc::EIO,
    };
    std::io::Error::from_raw_os_error(errno)
}
