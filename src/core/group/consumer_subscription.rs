//! The topics of a consumer-protocol subscription (the member metadata of
//! groups with protocol type "consumer"), read as Kafka's coordinator reads
//! it for OffsetDelete: with the v0 layout, which prefixes every version
//! (i16 version, then an array of i16-length strings).

/// The protocol type of Kafka consumers.
pub const CONSUMER_PROTOCOL_TYPE: &str = "consumer";

/// The subscribed topics, or `None` when the bytes are not a subscription.
pub fn subscribed_topics(metadata: &[u8]) -> Option<Vec<String>> {
    let mut rest = metadata;
    let version = i16::from_be_bytes(take(&mut rest, 2)?.try_into().ok()?);
    if version < 0 {
        return None;
    }
    let count = i32::from_be_bytes(take(&mut rest, 4)?.try_into().ok()?);
    // Each topic takes at least two bytes: a count beyond that is corrupt
    // (and must not size an allocation).
    let count = usize::try_from(count).ok()?;
    if count > rest.len() / 2 {
        return None;
    }
    let mut topics = Vec::with_capacity(count);
    for _ in 0..count {
        let len = i16::from_be_bytes(take(&mut rest, 2)?.try_into().ok()?);
        let len = usize::try_from(len).ok()?;
        let name = std::str::from_utf8(take(&mut rest, len)?).ok()?;
        topics.push(name.to_string());
    }
    Some(topics)
}

fn take<'a>(rest: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if rest.len() < n {
        return None;
    }
    let (head, tail) = rest.split_at(n);
    *rest = tail;
    Some(head)
}

#[cfg(test)]
pub(crate) fn encode_subscription(topics: &[&str]) -> Vec<u8> {
    let mut out = 1i16.to_be_bytes().to_vec();
    out.extend((topics.len() as i32).to_be_bytes());
    for t in topics {
        out.extend((t.len() as i16).to_be_bytes());
        out.extend(t.as_bytes());
    }
    // v1 fields after the topics (user data, owned partitions) are ignored.
    out.extend((-1i32).to_be_bytes());
    out.extend(0i32.to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_topics_of_any_version() {
        let bytes = encode_subscription(&["a", "bc"]);
        assert_eq!(
            subscribed_topics(&bytes),
            Some(vec!["a".to_string(), "bc".to_string()])
        );
    }

    #[test]
    fn refuses_what_is_not_a_subscription() {
        assert_eq!(subscribed_topics(b""), None);
        assert_eq!(subscribed_topics(&[0, 0, 0x7f, 0xff, 0xff, 0xff]), None);
        assert_eq!(subscribed_topics(&[0xff, 0xff, 0, 0, 0, 0]), None);
        assert_eq!(subscribed_topics(&[0, 0, 0, 0, 0, 1, 0, 5, b'a']), None);
    }
}
