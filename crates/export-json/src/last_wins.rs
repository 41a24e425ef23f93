//! "The last wins": the attributes to export from a list where a key may repeat (core keeps
//! every `set_attribute`; every encoder writes each key once, with its last value).

use reqtrace_core::KeyValue;

/// The attributes to export from `attrs`: each key once, with the value it was last set to,
/// at the position of that last setting ("the last wins", as core documents).
///
/// Attribute lists are short and usually free of repeats, so this first checks for a repeat
/// without allocating and returns the slice's items directly when there is none.
pub(crate) fn last_wins(attrs: &[KeyValue]) -> LastWins<'_> {
    let has_repeat = if attrs.len() <= 32 {
        attrs
            .iter()
            .enumerate()
            .any(|(i, a)| attrs[i + 1..].iter().any(|b| b.key == a.key))
    } else {
        let mut seen = std::collections::HashSet::with_capacity(attrs.len());
        !attrs.iter().all(|a| seen.insert(&*a.key))
    };
    let keep = if has_repeat {
        let mut seen = std::collections::HashSet::with_capacity(attrs.len());
        let mut keep = vec![false; attrs.len()];
        for (i, a) in attrs.iter().enumerate().rev() {
            keep[i] = seen.insert(&*a.key);
        }
        Some(keep)
    } else {
        None
    };
    LastWins {
        attrs,
        keep,
        next: 0,
    }
}

/// Iterator returned by [`last_wins`].
pub(crate) struct LastWins<'a> {
    attrs: &'a [KeyValue],
    keep: Option<Vec<bool>>,
    next: usize,
}

impl<'a> Iterator for LastWins<'a> {
    type Item = &'a KeyValue;
    fn next(&mut self) -> Option<&'a KeyValue> {
        while let Some(kv) = self.attrs.get(self.next) {
            let i = self.next;
            self.next += 1;
            match &self.keep {
                Some(keep) if !keep.get(i).copied().unwrap_or(false) => continue,
                _ => return Some(kv),
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_wins_keeps_the_last_value_of_each_key() {
        let attrs = vec![
            KeyValue::new("a", 1),
            KeyValue::new("b", 2),
            KeyValue::new("a", 3),
        ];
        let kept: Vec<_> = last_wins(&attrs)
            .map(|kv| (&*kv.key, kv.value.clone()))
            .collect();
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[0], ("b", reqtrace_core::Value::I64(2)));
        assert_eq!(kept[1], ("a", reqtrace_core::Value::I64(3)));
        let many: Vec<_> = (0..100)
            .map(|i| KeyValue::new(format!("k{}", i % 40), i))
            .collect();
        let kept: Vec<_> = last_wins(&many).collect();
        assert_eq!(kept.len(), 40);
        assert!(kept.iter().all(|kv| kv.value.as_i64().unwrap() >= 60));
    }
}
