//! Sync frames: a large sync message cut into frames of a bounded size, a peer's text clipped
//! for a log line, the heads as the wire carries them.

use automerge::ChangeHash;
use automerge::sync::Message;

use super::{FRAME_BUDGET, MAX_FRAME_BYTES};

/// Splits a sync message into messages of at most `FRAME_BUDGET` bytes of changes each (the
/// same heads, needs and haves, a share of the changes); `Err(size)` for a change too large to
/// travel in any frame.
pub(super) fn split(m: Message) -> Vec<Result<Vec<u8>, usize>> {
    let total: usize = m.changes.iter().map(<[u8]>::len).sum();
    if total <= FRAME_BUDGET {
        return vec![Ok(m.encode())];
    }
    let mut out = Vec::new();
    let mut group: Vec<Vec<u8>> = Vec::new();
    let mut size = 0;
    let chunks: Vec<Vec<u8>> = m.changes.iter().map(<[u8]>::to_vec).collect();
    let piece = |changes: Vec<Vec<u8>>| Message {
        heads: m.heads.clone(),
        need: m.need.clone(),
        have: m.have.clone(),
        changes: changes.into(),
        flags: m.flags,
        version: m.version.clone(),
    };
    for c in chunks {
        if c.len() + 1024 > MAX_FRAME_BYTES {
            out.push(Err(c.len()));
            continue;
        }
        if size + c.len() > FRAME_BUDGET && !group.is_empty() {
            out.push(Ok(piece(std::mem::take(&mut group)).encode()));
            size = 0;
        }
        size += c.len();
        group.push(c);
    }
    if !group.is_empty() {
        out.push(Ok(piece(group).encode()));
    }
    out
}

/// A peer's text (a document name, an error message) cut to what a log line or a record needs.
pub(super) fn clip(text: &str) -> String {
    let mut out: String = text.chars().take(200).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}

/// Heads (hex) as the wire carries them.
pub(super) fn heads_bytes(hex: &[String]) -> Vec<Vec<u8>> {
    hex.iter()
        .filter_map(|h| h.parse::<ChangeHash>().ok())
        .map(|h| h.0.to_vec())
        .collect()
}

/// Heads from the wire; `None` when one is not a change hash.
pub(super) fn heads_of(bytes: &[Vec<u8>]) -> Option<Vec<ChangeHash>> {
    bytes
        .iter()
        .map(|b| ChangeHash::try_from(b.as_slice()).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::sync::Have;

    fn message(chunks: Vec<Vec<u8>>) -> Message {
        Message {
            heads: vec![],
            need: vec![],
            have: vec![Have::default()],
            changes: chunks.into(),
            flags: None,
            version: automerge::sync::MessageVersion::V1,
        }
    }

    #[test]
    fn a_backlog_travels_in_frames_of_a_bounded_size() {
        // Small: one frame, as generated.
        let small = split(message(vec![vec![1; 1000], vec![2; 1000]]));
        assert_eq!(small.len(), 1);
        // Six changes of 1.5 MB: three frames of two, each under the budget, each a whole
        // message carrying its share of the changes in order.
        let big: Vec<Vec<u8>> = (0..6).map(|i| vec![i as u8; 1_500_000]).collect();
        let frames = split(message(big.clone()));
        assert_eq!(frames.len(), 3);
        let mut back = Vec::new();
        for f in frames {
            let f = f.unwrap();
            assert!(f.len() <= FRAME_BUDGET + 1024, "{}", f.len());
            let m = Message::decode(&f).unwrap();
            back.extend(m.changes.iter().map(<[u8]>::to_vec));
        }
        assert_eq!(back, big);
        // A change larger than any frame is reported, not sent; the others still are.
        let frames = split(message(vec![vec![0; MAX_FRAME_BYTES], vec![1; 10]]));
        assert!(matches!(frames[0], Err(n) if n == MAX_FRAME_BYTES));
        assert!(frames[1].is_ok());
    }
}
