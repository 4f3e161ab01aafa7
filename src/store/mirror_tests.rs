//! The mirror as a data structure: order, deadlines, bounds, gaps.
use super::*;

fn id(ms: u64, seq: u64) -> StreamId {
    StreamId { ms, seq }
}

fn keys<'a>(token: &'a str, subject: Option<&'a str>) -> LookupKeys<'a> {
    LookupKeys {
        token,
        subject,
        ..LookupKeys::default()
    }
}

fn token(key: &str, until_ms: i64) -> Revoked {
    Revoked::Token {
        key: key.into(),
        until_ms,
    }
}

fn subject(key: &str, not_before: i64, until_ms: i64) -> Revoked {
    Revoked::NotBefore {
        key: key.into(),
        not_before,
        until_ms,
    }
}

#[test]
fn stream_ids_parse_and_order_like_redis() {
    assert_eq!(
        StreamId::parse("1700000000000-3"),
        Some(id(1_700_000_000_000, 3))
    );
    assert!(id(5, 9) < id(6, 0));
    assert!(id(5, 1) < id(5, 2));
    for bad in ["", "1", "1-", "-1", "a-1", "1-b"] {
        assert_eq!(StreamId::parse(bad), None, "{bad}");
    }
    assert_eq!(id(12, 3).to_string(), "12-3");
}

#[test]
fn revocations_apply_in_order_and_answer_until_their_deadline() {
    let mut m = Mirror::new(100);
    m.apply([
        (id(1, 0), token("t1", 5_000)),
        (id(2, 0), subject("s1", 40, 9_000)),
    ]);
    let found = m.lookup(keys("t1", Some("s1")), 1_000, 0).unwrap();
    assert!(found.revoked);
    assert_eq!(found.subject_not_before, Some(40));
    assert!(!m.lookup(keys("t2", Some("s2")), 1_000, 0).unwrap().revoked);
    // Past the token's deadline it no longer counts, even before expire() runs.
    assert!(!m.lookup(keys("t1", None), 5_000, 0).unwrap().revoked);
    m.expire(5_000);
    assert_eq!(m.len(), 1);
    m.expire(9_000);
    assert!(m.is_empty());
    assert_eq!(m.position(), id(2, 0));
}

#[test]
fn a_session_not_before_is_read_from_its_own_key() {
    let mut m = Mirror::new(100);
    m.apply([(id(1, 0), subject("e1", 70, 9_000))]);
    let session = |key| LookupKeys {
        token: "t",
        subject: Some("s"),
        session: Some(key),
        ..LookupKeys::default()
    };
    let found = m.lookup(session("e1"), 1_000, 0).unwrap();
    assert_eq!(found.session_not_before, Some(70));
    assert_eq!(found.subject_not_before, None);
    let other = m.lookup(session("e2"), 1_000, 0).unwrap();
    assert_eq!(other.session_not_before, None);
    assert_eq!(
        m.lookup(session("e1"), 9_000, 0)
            .unwrap()
            .session_not_before,
        None
    );
}

#[test]
fn a_lifted_flag_no_longer_counts() {
    let mut m = Mirror::new(100);
    m.apply([(id(1, 0), token("d", 9_000))]);
    let with_flag = LookupKeys {
        token: "t",
        disabled: Some("d"),
        ..LookupKeys::default()
    };
    assert!(m.lookup(with_flag, 0, 0).unwrap().disabled);
    m.apply([(id(2, 0), Revoked::Lift { key: "d".into() })]);
    assert!(!m.lookup(with_flag, 0, 0).unwrap().disabled);
    m.expire(9_000);
    assert!(m.is_empty());
}

#[test]
fn a_re_read_is_ignored_and_a_not_before_never_moves_back() {
    let mut m = Mirror::new(100);
    m.apply([(id(1, 0), subject("s", 50, 9_000))]);
    m.apply([
        (id(1, 0), subject("s", 10, 9_000)),
        (id(2, 0), subject("s", 30, 9_500)),
    ]);
    let found = m.lookup(keys("t", Some("s")), 0, 0).unwrap();
    assert_eq!(found.subject_not_before, Some(50));
    // The later deadline holds: the earlier one's expiry does not drop it.
    m.expire(9_000);
    assert_eq!(
        m.lookup(keys("t", Some("s")), 9_100, 0)
            .unwrap()
            .subject_not_before,
        Some(50)
    );
}

#[test]
fn revoking_the_same_token_again_does_not_grow_the_deadline_index() {
    let mut m = Mirror::new(100);
    for seq in 1..=1000 {
        m.apply([(id(1, seq), token("t", 9_000))]);
    }
    assert_eq!(m.deadlines.len(), 1);
    m.apply([(id(2, 0), token("t", 9_500))]);
    assert_eq!(m.deadlines.len(), 2, "a later deadline is indexed");
    m.expire(9_000);
    assert!(
        m.lookup(keys("t", None), 9_100, 0).unwrap().revoked,
        "the later deadline holds"
    );
    m.expire(9_500);
    assert!(m.is_empty());
}

#[test]
fn past_max_entries_the_mirror_says_it_cannot_answer_instead_of_dropping_entries() {
    let mut m = Mirror::new(2);
    m.apply([(id(1, 0), token("a", 9_000)), (id(2, 0), token("b", 9_000))]);
    assert!(m.lookup(keys("a", None), 0, 0).is_some());
    m.apply([(id(3, 0), token("c", 9_000))]);
    assert!(!m.is_complete());
    assert_eq!(m.lookup(keys("c", None), 0, 0), None);
    assert_eq!(m.position(), id(3, 0), "the position still moves on");
}

#[test]
fn an_entry_that_does_not_follow_the_last_one_applied_is_a_gap() {
    let mut m = Mirror::new(100);
    assert!(m.follow([
        (id(1, 0), id(0, 0), token("a", 9_000)),
        (id(2, 0), id(1, 0), token("b", 9_000)),
    ]));
    // A re-read of what was applied is fine.
    assert!(m.follow([(id(2, 0), id(1, 0), token("b", 9_000))]));
    // 3-0 was missed: 4-0 names it.
    assert!(!m.follow([(id(4, 0), id(3, 0), token("d", 9_000))]));
    assert!(!m.lookup(keys("d", None), 0, 0).unwrap().revoked);
    assert_eq!(m.position(), id(2, 0));
}
