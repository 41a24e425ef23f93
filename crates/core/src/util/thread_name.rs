//! Thread names, interned once per thread so that a span's name costs nothing to copy.
//!
//! A finished span carries its thread's name as `Cow<'static, str>`; the `'static` string comes
//! from a process-wide table, filled the first time a thread records a span. The table keeps at
//! most [`MAX_NAMES`] distinct names (a bounded, one-time cost); threads with a name beyond that
//! are recorded by number only. Compared with an `Arc<str>` per span this saves two atomic
//! reference-count updates per span on the way to the consumer and back.

use std::collections::HashSet;
use std::sync::OnceLock;

use parking_lot::Mutex;

/// How many distinct thread names are kept for the life of the process.
pub const MAX_NAMES: usize = 4_096;

/// Longest thread name kept (bytes; longer names are cut at a character boundary).
pub const MAX_NAME_LEN: usize = 128;

static NAMES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();

/// The calling thread's name as a `'static` string, if it has one and the table has room.
pub fn current() -> Option<&'static str> {
    let thread = std::thread::current();
    intern(thread.name()?)
}

/// Interns `name` (cut to [`MAX_NAME_LEN`] bytes); `None` once [`MAX_NAMES`] distinct names
/// are held.
pub fn intern(name: &str) -> Option<&'static str> {
    let mut cut = name.len().min(MAX_NAME_LEN);
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    let name = &name[..cut];
    let mut names = NAMES.get_or_init(|| Mutex::new(HashSet::new())).lock();
    if let Some(&known) = names.get(name) {
        return Some(known);
    }
    if names.len() >= MAX_NAMES {
        return None;
    }
    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.insert(leaked);
    Some(leaked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_name_is_interned_once_and_long_names_are_cut() {
        let a = intern("worker-7").unwrap();
        let b = intern("worker-7").unwrap();
        assert!(std::ptr::eq(a, b));
        let long = "é".repeat(100); // 200 bytes
        let cut = intern(&long).unwrap();
        assert!(cut.len() <= MAX_NAME_LEN && long.starts_with(cut));
        let named = std::thread::Builder::new()
            .name("interned-thread".into())
            .spawn(current)
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(named, Some("interned-thread"));
    }
}
