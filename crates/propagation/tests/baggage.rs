//! One test per W3C Baggage rule.

use reqtrace_propagation::baggage::{MAX_BYTES, MAX_MEMBERS};
use reqtrace_propagation::{Baggage, BaggageError, BaggageMember, BaggageProperty};

#[test]
fn key_value_list_with_ows() {
    let b: Baggage = "userId=alice , serverNode = DF28,\tisProduction=false"
        .parse()
        .unwrap();
    assert_eq!(b.get("userId"), Some("alice"));
    assert_eq!(b.get("serverNode"), Some("DF28"));
    assert_eq!(b.get("isProduction"), Some("false"));
    assert_eq!(b.len(), 3);
}

#[test]
fn properties_are_kept() {
    let b: Baggage = "key1=value1;property1;property2=x ; p3 = y"
        .parse()
        .unwrap();
    let m = b.member("key1").unwrap();
    assert_eq!(m.value, "value1");
    assert_eq!(
        m.properties,
        vec![
            BaggageProperty {
                key: "property1".into(),
                value: None
            },
            BaggageProperty {
                key: "property2".into(),
                value: Some("x".into())
            },
            BaggageProperty {
                key: "p3".into(),
                value: Some("y".into())
            },
        ]
    );
    assert_eq!(b.to_string(), "key1=value1;property1;property2=x;p3=y");
}

#[test]
fn values_are_percent_decoded() {
    let b: Baggage = "a=hello%20world,b=%E2%82%AC,c=100%25,d=%2c%3B"
        .parse()
        .unwrap();
    assert_eq!(b.get("a"), Some("hello world"));
    assert_eq!(b.get("b"), Some("€"));
    assert_eq!(b.get("c"), Some("100%"));
    assert_eq!(b.get("d"), Some(",;"));
}

#[test]
fn invalid_utf8_after_decoding_becomes_replacement_character() {
    let b: Baggage = "a=x%FFy,b=%E2%82".parse().unwrap();
    assert_eq!(b.get("a"), Some("x\u{FFFD}y"));
    assert_eq!(b.get("b"), Some("\u{FFFD}"));
}

#[test]
fn malformed_percent_escapes_are_kept_literally() {
    let b: Baggage = "a=50%,b=%zz,c=%4".parse().unwrap();
    assert_eq!(b.get("a"), Some("50%"));
    assert_eq!(b.get("b"), Some("%zz"));
    assert_eq!(b.get("c"), Some("%4"));
}

#[test]
fn values_are_percent_encoded_on_output() {
    let mut b = Baggage::new();
    b.insert("k", "a b,c;d\"e\\f%g€").unwrap();
    // space, comma, semicolon, quote, backslash, percent and non-ASCII are not baggage-octets
    assert_eq!(b.to_string(), "k=a%20b%2Cc%3Bd%22e%5Cf%25g%E2%82%AC");
}

#[test]
fn invalid_members_are_errors_when_strict_and_skipped_when_lenient() {
    for bad in [
        "no_equals",
        "bad key=1",
        "=1",
        "k=a b",
        "k=\"q\"",
        "k=v;bad prop",
        "(k)=1",
    ] {
        assert!(bad.parse::<Baggage>().is_err(), "{bad:?} accepted");
        let lenient = Baggage::from_header([format!("ok=1,{bad},ok2=2").as_str()]);
        assert_eq!(lenient.get("ok"), Some("1"), "{bad:?}");
        assert_eq!(lenient.get("ok2"), Some("2"), "{bad:?}");
        assert_eq!(lenient.len(), 2, "{bad:?}");
    }
    assert_eq!(
        "a=1,b".parse::<Baggage>(),
        Err(BaggageError::MissingEquals { index: 1 })
    );
}

#[test]
fn empty_values_and_members_are_allowed() {
    let b: Baggage = "a=,, ,b=2".parse().unwrap();
    assert_eq!(b.get("a"), Some(""));
    assert_eq!(b.len(), 2);
}

#[test]
fn at_most_64_members() {
    let list = |n: usize| {
        (0..n)
            .map(|i| format!("k{i}=v"))
            .collect::<Vec<_>>()
            .join(",")
    };
    assert_eq!(list(64).parse::<Baggage>().unwrap().len(), MAX_MEMBERS);
    assert_eq!(
        list(65).parse::<Baggage>(),
        Err(BaggageError::TooManyMembers)
    );
    let lenient = Baggage::from_header([list(65).as_str()]);
    assert_eq!(lenient.len(), 64);
    assert_eq!(lenient.get("k63"), Some("v"));
    assert_eq!(lenient.get("k64"), None);
}

#[test]
fn at_most_8192_bytes_and_never_a_partial_member() {
    // "a=" + 4000 + "," + "b=" + 4000 = 8005 bytes; a third member "c=" + 200 would make 8208
    let a = "x".repeat(4000);
    let c = "z".repeat(200);
    let header = format!("a={a},b={a},c={c},d=small");
    assert_eq!(header.parse::<Baggage>(), Err(BaggageError::TooLong));
    let b = Baggage::from_header([header.as_str()]);
    assert_eq!(
        b.get("c"),
        None,
        "member c crosses byte 8192 and is dropped whole"
    );
    assert_eq!(b.get("d"), None, "nothing after byte 8192 is read");
    assert_eq!(b.get("a").map(str::len), Some(4000));
    assert_eq!(b.to_string().len(), 8005);
    assert_eq!(b.header_len(), 8005);
}

#[test]
fn a_member_too_long_once_encoded_is_dropped_and_later_ones_kept() {
    // a '%' that starts no escape stays a '%', written "%25": 1400 of them are 4200 bytes
    let a = "x".repeat(4000);
    let header = format!("a={a},b={},d=small", "%".repeat(1400));
    assert!(header.len() < MAX_BYTES);
    assert_eq!(header.parse::<Baggage>(), Err(BaggageError::TooLong));
    let b = Baggage::from_header([header.as_str()]);
    assert_eq!(b.get("b"), None);
    assert_eq!(b.get("d"), Some("small"));
    assert_eq!(b.to_string(), format!("a={a},d=small"));
}

#[test]
fn only_the_first_8192_bytes_of_the_joined_headers_are_read() {
    let v = "x".repeat(MAX_BYTES - 4);
    // "k=" + 8188 = 8190 bytes, then the joining ',' and "z=" reach byte 8193
    let b = Baggage::from_header([format!("k={v}").as_str(), "z=1"]);
    assert_eq!(b.get("z"), None);
    assert_eq!(b.header_len(), MAX_BYTES - 2);
    // a member ending exactly at byte 8192 is whole
    let short = "x".repeat(MAX_BYTES - 6);
    let b = Baggage::from_header([format!("k={short},z=1,y=2").as_str()]);
    assert_eq!(b.get("z"), Some("1"));
    assert_eq!(b.get("y"), None);
    assert_eq!(b.header_len(), MAX_BYTES);
    // every later header is ignored, even when it could fit after re-encoding
    let b = Baggage::from_header([format!("k={short},z=1").as_str(), "y=2"]);
    assert_eq!(b.get("y"), None);
}

#[test]
fn header_len_follows_inserts_replacements_and_removals() {
    let mut b = Baggage::new();
    assert_eq!(b.header_len(), 0);
    b.insert("a", "1").unwrap();
    b.insert("bb", "x y").unwrap();
    assert_eq!(b.header_len(), b.to_string().len());
    b.insert("a", "longer").unwrap();
    assert_eq!(b.header_len(), b.to_string().len());
    b.remove("a");
    assert_eq!(b.header_len(), b.to_string().len());
    b.remove("bb");
    assert_eq!(b.header_len(), 0);
    assert_eq!(b, Baggage::new());
}

#[test]
fn exactly_8192_bytes_is_accepted() {
    let v = "x".repeat(MAX_BYTES - 2);
    let b: Baggage = format!("k={v}").parse().unwrap();
    assert_eq!(b.header_len(), MAX_BYTES);
    assert_eq!(
        format!("k={v}x").parse::<Baggage>(),
        Err(BaggageError::TooLong)
    );
}

#[test]
fn insert_respects_limits_and_keys() {
    let mut b = Baggage::new();
    for i in 0..64 {
        b.insert(&format!("k{i}"), "v").unwrap();
    }
    assert_eq!(b.insert("one-more", "v"), Err(BaggageError::TooManyMembers));
    // replacing an existing key is not a new member
    b.insert("k0", "w").unwrap();
    assert_eq!(b.get("k0"), Some("w"));
    assert_eq!(b.len(), 64);

    let mut b = Baggage::new();
    assert_eq!(
        b.insert("k", &"x".repeat(MAX_BYTES)),
        Err(BaggageError::TooLong)
    );
    // encoding counts: 3000 spaces are 9000 bytes on the wire
    assert_eq!(b.insert("k", &" ".repeat(3000)), Err(BaggageError::TooLong));
    assert!(b.insert("bad key", "v").is_err());
    assert!(b.insert("", "v").is_err());
    let bad_prop = BaggageMember {
        value: "v".into(),
        properties: vec![BaggageProperty {
            key: "a b".into(),
            value: None,
        }],
    };
    assert!(b.insert_member("k".into(), bad_prop).is_err());
    assert!(b.is_empty());
}

#[test]
fn repeated_key_keeps_the_last_value() {
    let b: Baggage = "a=1,b=2,a=3".parse().unwrap();
    assert_eq!(b.get("a"), Some("3"));
    assert_eq!(b.len(), 2);
}

#[test]
fn several_headers_are_combined() {
    let b = Baggage::from_header(["a=1", "b=2,c=3"]);
    assert_eq!(b.to_string(), "a=1,b=2,c=3");
}

#[test]
fn remove_and_iterate() {
    let mut b: Baggage = "a=1,b=2".parse().unwrap();
    assert_eq!(b.remove("a").map(|m| m.value), Some("1".to_string()));
    assert_eq!(
        b.iter()
            .map(|(k, m)| (k, m.value.as_str()))
            .collect::<Vec<_>>(),
        vec![("b", "2")]
    );
}
