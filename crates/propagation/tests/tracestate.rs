//! One test per `tracestate` rule of W3C Trace Context Level 2.

use reqtrace_propagation::tracestate::MAX_HEADER_LEN;
use reqtrace_propagation::{TraceState, TraceStateError};

fn parse(s: &str) -> Result<TraceState, TraceStateError> {
    s.parse()
}

fn members(n: usize) -> String {
    (0..n)
        .map(|i| format!("k{i}=v{i}"))
        .collect::<Vec<_>>()
        .join(",")
}

#[test]
fn members_are_kept_in_order() {
    let ts = parse("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE").unwrap();
    let got: Vec<_> = ts.iter().collect();
    assert_eq!(
        got,
        vec![("rojo", "00f067aa0ba902b7"), ("congo", "t61rcWkgMzE")]
    );
    assert_eq!(ts.to_string(), "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
}

#[test]
fn at_most_32_members() {
    assert_eq!(parse(&members(32)).unwrap().len(), 32);
    assert_eq!(
        parse(&members(33)),
        Err(TraceStateError::TooManyMembers { count: 33 })
    );
}

#[test]
fn empty_members_are_allowed_and_not_counted() {
    let ts = parse("foo=1,,  ,\t,bar=2,").unwrap();
    assert_eq!(
        ts.iter().collect::<Vec<_>>(),
        vec![("foo", "1"), ("bar", "2")]
    );
    assert!(parse("").unwrap().is_empty());
    assert!(parse(" , ,").unwrap().is_empty());
    // 32 real members plus empty ones is still fine
    assert_eq!(parse(&format!(",,{},,", members(32))).unwrap().len(), 32);
}

#[test]
fn ows_around_members_is_ignored() {
    let ts = parse("foo=1 \t , \t bar=2, \t baz=3").unwrap();
    assert_eq!(
        ts.iter().collect::<Vec<_>>(),
        vec![("foo", "1"), ("bar", "2"), ("baz", "3")]
    );
    assert_eq!(parse("\t foo=1 \t").unwrap().get("foo"), Some("1"));
}

#[test]
fn key_grammar_level_2() {
    // every allowed character (W3C test suite's "all allowed characters" key)
    let all = "abcdefghijklmnopqrstuvwxyz0123456789_-*/";
    for key in [
        all.to_string(),
        format!("{all}@a-z0-9_-*/"),
        "0abc".into(),
        "a".into(),
        // Level 2: '@' is an ordinary key character, any number of times, anywhere but first
        "foo@".into(),
        "foo@@bar".into(),
        "foo@bar@baz".into(),
        "a".repeat(256),
    ] {
        assert_eq!(
            parse(&format!("{key}=1")).map(|t| t.get(&key).map(str::to_owned)),
            Ok(Some("1".into())),
            "{key}"
        );
    }
    for key in [
        "FOO", "Foo", "foo.bar", "foo ", "@foo", "_foo", "-foo", "*a", "/a", "é",
    ] {
        assert!(
            matches!(
                parse(&format!("{key}=1")),
                Err(TraceStateError::InvalidKey { .. })
            ),
            "{key:?} accepted"
        );
    }
    assert!(matches!(
        parse(&format!("{}=1", "a".repeat(257))),
        Err(TraceStateError::InvalidKey { .. })
    ));
    assert!(matches!(
        parse("=1"),
        Err(TraceStateError::InvalidKey { .. })
    ));
}

#[test]
fn value_grammar() {
    // 0x20..=0x7E except ',' and '=' (W3C test suite's "all allowed characters" value)
    let value: String = (0x20u8..=0x7e)
        .filter(|c| *c != b',' && *c != b'=')
        .map(char::from)
        .collect();
    assert_eq!(
        parse(&format!("foo={value}")).unwrap().get("foo"),
        Some(value.as_str())
    );
    // leading spaces belong to the value
    assert_eq!(parse("foo=  bar").unwrap().get("foo"), Some("  bar"));
    assert_eq!(
        parse(&format!("foo={}", "v".repeat(256)))
            .unwrap()
            .get("foo")
            .map(str::len),
        Some(256)
    );
    for bad in [
        format!("foo={}", "v".repeat(257)),
        "foo=".into(),
        "foo=a=b".into(),
        "foo=a\tb".into(),
        "foo=a\u{7f}".into(),
        "foo=é".into(),
        "foo= ".into(),
    ] {
        assert!(
            matches!(parse(&bad), Err(TraceStateError::InvalidValue { .. })),
            "{bad:?} accepted"
        );
    }
    assert_eq!(
        parse("foo"),
        Err(TraceStateError::MissingEquals { index: 0 })
    );
}

#[test]
fn a_repeated_key_keeps_its_first_value() {
    // W3C test suite, test_tracestate_duplicated_keys: the header is well formed, so it is
    // kept; the later duplicates are dropped
    assert_eq!(parse("foo=1,foo=1").unwrap().to_string(), "foo=1");
    assert_eq!(
        parse("foo=1,bar=2,foo=3").unwrap().to_string(),
        "foo=1,bar=2"
    );
    let ts = TraceState::from_headers(["foo=1", "foo=2,bar=3"]).unwrap();
    assert_eq!(ts.to_string(), "foo=1,bar=3");
    // a duplicate must still be well formed
    assert!(matches!(
        parse("foo=1,foo=a=b"),
        Err(TraceStateError::InvalidValue { .. })
    ));
    // and it counts toward the 32 members of the header
    let dups = vec!["foo=1"; 33].join(",");
    assert_eq!(
        parse(&dups),
        Err(TraceStateError::TooManyMembers { count: 33 })
    );
    assert_eq!(parse(&dups[6..]).unwrap().to_string(), "foo=1");
}

#[test]
fn a_joined_value_longer_than_any_valid_one_is_rejected_unread() {
    assert_eq!(MAX_HEADER_LEN, 32_896);
    // the longest valid list, with ", " between members, fits
    let longest: Vec<String> = (0..32)
        .map(|i| format!("{:a<256}={}", format!("k{i}"), "v".repeat(256)))
        .collect();
    let longest = longest.join(", ");
    assert_eq!(parse(&longest).unwrap().len(), 32);
    let padded = format!("{longest}{}", " ".repeat(MAX_HEADER_LEN - longest.len()));
    assert_eq!(parse(&padded).unwrap().len(), 32);
    assert_eq!(
        parse(&format!("{padded} ")),
        Err(TraceStateError::TooLong {
            len: MAX_HEADER_LEN + 1
        })
    );
    // the joining commas count
    let half = " ".repeat(MAX_HEADER_LEN / 2);
    assert_eq!(
        TraceState::from_headers([half.as_str(), half.as_str()]),
        Err(TraceStateError::TooLong {
            len: MAX_HEADER_LEN + 1
        })
    );
}

#[test]
fn several_headers_are_joined_in_order() {
    let ts = TraceState::from_headers(["foo=1,bar=2", "rojo=1,congo=2", "baz=3"]).unwrap();
    assert_eq!(ts.to_string(), "foo=1,bar=2,rojo=1,congo=2,baz=3");
    let ts = TraceState::from_headers(["", "foo=1"]).unwrap();
    assert_eq!(ts.to_string(), "foo=1");
    // the member limit applies to the joined list
    let a = members(20);
    let b: String = (20..33)
        .map(|i| format!("k{i}=v"))
        .collect::<Vec<_>>()
        .join(",");
    assert!(TraceState::from_headers([a.as_str(), b.as_str()]).is_err());
}

#[test]
fn one_bad_member_invalidates_the_whole_list() {
    assert!(parse("foo=1,BAR=2,baz=3").is_err());
    assert!(parse("foo=1,bar").is_err());
}

#[test]
fn insert_and_update_move_the_key_to_the_front() {
    let mut ts = parse("a=1,b=2,c=3").unwrap();
    ts.insert("c", "30").unwrap();
    assert_eq!(ts.to_string(), "c=30,a=1,b=2");
    ts.insert("d", "4").unwrap();
    assert_eq!(ts.to_string(), "d=4,c=30,a=1,b=2");
    assert_eq!(ts.remove("a"), Some("1".to_string()));
    assert_eq!(ts.to_string(), "d=4,c=30,b=2");
}

#[test]
fn insert_rejects_invalid_entries_and_leaves_the_list_unchanged() {
    let mut ts = parse("a=1").unwrap();
    assert!(ts.insert("A", "1").is_err());
    assert!(ts.insert("b", "x,y").is_err());
    assert!(ts.insert("b", "").is_err());
    assert_eq!(ts.to_string(), "a=1");
}

#[test]
fn insert_into_a_full_list_drops_the_rightmost_entry() {
    let mut ts = parse(&members(32)).unwrap();
    ts.insert("new", "x").unwrap();
    assert_eq!(ts.len(), 32);
    assert_eq!(ts.iter().next(), Some(("new", "x")));
    assert_eq!(ts.get("k31"), None);
    assert_eq!(ts.get("k30"), Some("v30"));
}

#[test]
fn truncation_drops_whole_entries_large_ones_first() {
    let big = "x".repeat(200); // "big=" + 200 > 128 characters
    let mut ts = parse(&format!("a=1,big={big},c=3")).unwrap();
    assert_eq!(ts.len(), 3);
    // limit 7 fits "a=1,c=3": the big entry goes first although it is not the right-most
    assert_eq!(ts.truncate_to(7), 1);
    assert_eq!(ts.to_string(), "a=1,c=3");
    // then entries go from the right
    assert_eq!(ts.truncate_to(5), 1);
    assert_eq!(ts.to_string(), "a=1");
    assert_eq!(ts.truncate_to(0), 1);
    assert!(ts.is_empty());
}

#[test]
fn truncation_keeps_everything_that_fits() {
    let mut ts = parse("a=1,b=2,c=3").unwrap();
    assert_eq!(ts.header_len(), 11);
    assert_eq!(ts.truncate_to(11), 0);
    assert_eq!(ts.truncate_to(10), 1);
    assert_eq!(ts.to_string(), "a=1,b=2");
}
