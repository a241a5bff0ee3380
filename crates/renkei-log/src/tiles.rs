//! C2SP tlog-tiles: tiles of height 8 (256 hashes), their paths, partial
//! tiles, and entry bundles.

use crate::hash::{Hash, node_hash};
use crate::tree::NodeId;

pub const TILE_HEIGHT: u8 = 8;
pub const TILE_WIDTH: u64 = 256;

/// `N` in the tile path encoding: groups of three digits, all but the last
/// prefixed with `x` (e.g. 1234067 → `x001/x234/067`).
pub fn encode_index(n: u64) -> String {
    let s = n.to_string();
    let pad = (3 - s.len() % 3) % 3;
    let s = format!("{}{s}", "0".repeat(pad));
    let groups: Vec<&str> = (0..s.len() / 3).map(|i| &s[i * 3..i * 3 + 3]).collect();
    let last = groups.len() - 1;
    groups
        .iter()
        .enumerate()
        .map(|(i, g)| {
            if i == last {
                (*g).to_owned()
            } else {
                format!("x{g}")
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn width_suffix(width: u64) -> String {
    if width == TILE_WIDTH {
        String::new()
    } else {
        format!(".p/{width}")
    }
}

/// `tile/<L>/<N>[.p/<W>]`.
pub fn tile_path(level: u8, index: u64, width: u64) -> String {
    format!("tile/{level}/{}{}", encode_index(index), width_suffix(width))
}

/// `tile/entries/<N>[.p/<W>]`.
pub fn entries_path(index: u64, width: u64) -> String {
    format!("tile/entries/{}{}", encode_index(index), width_suffix(width))
}

/// What a tile path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TileRef {
    Hashes { level: u8, index: u64, width: u64 },
    Entries { index: u64, width: u64 },
}

/// Parse the part of a URL after the log prefix.
pub fn parse_path(path: &str) -> Option<TileRef> {
    let rest = path.strip_prefix("tile/")?;
    let (kind, rest) = rest.split_once('/')?;
    let (index_part, width) = match rest.split_once(".p/") {
        Some((i, w_text)) => {
            let w: u64 = w_text.parse().ok()?;
            if w == 0 || w >= TILE_WIDTH || w.to_string() != w_text {
                return None;
            }
            (i, w)
        }
        None => (rest, TILE_WIDTH),
    };
    let groups: Vec<&str> = index_part.split('/').collect();
    let mut digits = String::new();
    for (i, g) in groups.iter().enumerate() {
        let g = if i + 1 < groups.len() {
            g.strip_prefix('x')?
        } else {
            g
        };
        if g.len() != 3 || !g.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.push_str(g);
    }
    let index: u64 = digits.parse().ok()?;
    if encode_index(index) != index_part {
        return None; // not canonical
    }
    if kind == "entries" {
        return Some(TileRef::Entries { index, width });
    }
    let level: u8 = kind.parse().ok()?;
    if level.to_string() != kind || level > 7 {
        return None;
    }
    Some(TileRef::Hashes { level, index, width })
}

/// How many hashes tile (`level`, `index`) holds in a tree of `size`
/// leaves (0: the tile does not exist yet).
pub fn tile_width(level: u8, index: u64, size: u64) -> u64 {
    let count = size >> (u32::from(level) * u32::from(TILE_HEIGHT));
    count.saturating_sub(index * TILE_WIDTH).min(TILE_WIDTH)
}

/// The tree nodes a tile holds: level `8L`, consecutive indices.
pub fn tile_node(level: u8, index: u64, j: u64) -> NodeId {
    NodeId::new(level * TILE_HEIGHT, index * TILE_WIDTH + j)
}

/// The hash of any complete subtree from the hashes stored at the tile
/// level at or below it: a node at height h is built from the `2^(h-8L)`
/// stored nodes of level `8L` under it, L = ⌊h/8⌋.
pub fn subtree_from_stored(node: NodeId, stored: &mut dyn FnMut(NodeId) -> Hash) -> Hash {
    let base = node.level - node.level % TILE_HEIGHT;
    let span = 1u64 << (node.level - base);
    let first = node.index << (node.level - base);
    let mut layer: Vec<Hash> = (0..span).map(|j| stored(NodeId::new(base, first + j))).collect();
    while layer.len() > 1 {
        layer = layer.chunks(2).map(|p| node_hash(&p[0], &p[1])).collect();
    }
    layer[0]
}

/// An entry bundle: each entry as a big-endian u16 length and its bytes.
pub fn encode_bundle<'a>(entries: impl IntoIterator<Item = &'a [u8]>) -> Result<Vec<u8>, &'static str> {
    let mut out = Vec::new();
    for e in entries {
        let len = u16::try_from(e.len()).map_err(|_| "an entry is longer than 65535 bytes")?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(e);
    }
    Ok(out)
}

pub fn decode_bundle(mut b: &[u8]) -> Result<Vec<Vec<u8>>, &'static str> {
    let mut out = Vec::new();
    while !b.is_empty() {
        if b.len() < 2 {
            return Err("truncated entry length");
        }
        let len = usize::from(u16::from_be_bytes([b[0], b[1]]));
        if b.len() < 2 + len {
            return Err("truncated entry");
        }
        out.push(b[2..2 + len].to_vec());
        b = &b[2 + len..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_the_spec() {
        assert_eq!(encode_index(0), "000");
        assert_eq!(encode_index(1234067), "x001/x234/067");
        assert_eq!(tile_path(0, 1234067, 256), "tile/0/x001/x234/067");
        assert_eq!(tile_path(1, 5, 7), "tile/1/005.p/7");
        assert_eq!(entries_path(2, 256), "tile/entries/002");
        assert_eq!(
            parse_path("tile/0/x001/x234/067"),
            Some(TileRef::Hashes {
                level: 0,
                index: 1234067,
                width: 256
            })
        );
        assert_eq!(
            parse_path("tile/entries/005.p/3"),
            Some(TileRef::Entries { index: 5, width: 3 })
        );
        for bad in [
            "tile/0/1",
            "tile/0/0001",
            "tile/x/000",
            "tile/0/000.p/256",
            "tile/0/000.p/0",
            "tile/0/x000/001",
            "tile/0/000.p/03",
        ] {
            assert_eq!(parse_path(bad), None, "{bad}");
        }
    }

    #[test]
    fn widths_and_bundles() {
        assert_eq!(tile_width(0, 0, 10), 10);
        assert_eq!(tile_width(0, 0, 300), 256);
        assert_eq!(tile_width(0, 1, 300), 44);
        assert_eq!(tile_width(1, 0, 300), 1);
        assert_eq!(tile_width(1, 0, 255), 0);
        let b = encode_bundle([b"ab".as_slice(), b"".as_slice(), b"xyz".as_slice()]).unwrap();
        assert_eq!(
            decode_bundle(&b).unwrap(),
            vec![b"ab".to_vec(), vec![], b"xyz".to_vec()]
        );
        assert!(decode_bundle(&b[..b.len() - 1]).is_err());
    }
}
