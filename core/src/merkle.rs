//! The hub's transparency log: an append-only Merkle tree over everything it accepted
//! (RFC 9162 §2.1 hashing: `SHA-256(0x00 ‖ leaf)`, `SHA-256(0x01 ‖ left ‖ right)`),
//! with inclusion proofs (a receipt's item is in the tree whose root the hub signed) and
//! consistency proofs (a later tree extends an earlier one: nothing was dropped or
//! rewritten).
//!
//! The tree keeps every complete subtree's hash in memory (about two hashes per leaf),
//! so an append costs O(log n) hashes and a root or proof O(log² n) lookups; only the
//! leaves are stored (by the hub, in the same batch as the receipt), and the rest is
//! rebuilt from them on start.

use sha2::{Digest, Sha256};

/// A 32-byte hash.
pub type Hash = [u8; 32];

/// Domain separation of a leaf's content.
pub const LEAF_CONTEXT: &[u8] = b"tinnhiem/log/leaf/v1";

/// The leaf of an accepted item (a seal's or an aggregate's id).
pub fn leaf_of(item_id: &[u8; 32]) -> Hash {
    let mut data = LEAF_CONTEXT.to_vec();
    data.extend(item_id);
    leaf_hash(&data)
}

/// RFC 9162: the hash of a leaf's data.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// RFC 9162: the hash of an interior node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The hash of the empty tree.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The largest power of two smaller than `n` (n ≥ 2).
fn split(n: u64) -> u64 {
    let mut k = 1;
    while k << 1 < n {
        k <<= 1;
    }
    k
}

/// An append-only tree of leaf hashes.
#[derive(Debug, Default, Clone)]
pub struct Tree {
    /// `levels[l][i]`: the hash of the complete subtree of 2^l leaves starting at
    /// leaf i·2^l. `levels[0]` are the leaves.
    levels: Vec<Vec<Hash>>,
}

impl Tree {
    /// An empty tree.
    pub fn new() -> Tree {
        Tree::default()
    }

    /// A tree of these leaves, in order.
    pub fn from_leaves(leaves: impl IntoIterator<Item = Hash>) -> Tree {
        let mut t = Tree::new();
        for l in leaves {
            t.push(l);
        }
        t
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// The leaf hash at `index`.
    pub fn leaf(&self, index: u64) -> Option<Hash> {
        self.levels
            .first()?
            .get(usize::try_from(index).ok()?)
            .copied()
    }

    /// Appends the leaves of `other` past this tree's size (`other` extends this tree).
    pub fn catch_up(&mut self, other: &Tree) {
        for i in self.size()..other.size() {
            if let Some(l) = other.leaf(i) {
                self.push(l);
            }
        }
    }

    /// Appends a leaf hash; returns its index.
    pub fn push(&mut self, leaf: Hash) -> u64 {
        if self.levels.is_empty() {
            self.levels.push(Vec::new());
        }
        self.levels[0].push(leaf);
        let index = self.levels[0].len() as u64 - 1;
        // Complete every subtree this leaf closes.
        let mut level = 0;
        while self.levels[level].len().is_multiple_of(2) {
            let n = self.levels[level].len();
            let h = node_hash(&self.levels[level][n - 2], &self.levels[level][n - 1]);
            if self.levels.len() == level + 1 {
                self.levels.push(Vec::new());
            }
            self.levels[level + 1].push(h);
            level += 1;
        }
        index
    }

    /// Drops leaves back to `size` (a batch that was not stored).
    pub fn truncate(&mut self, size: u64) {
        for (l, level) in self.levels.iter_mut().enumerate() {
            level.truncate((size >> l) as usize);
        }
    }

    /// The hash of leaves [a, b), with b ≤ size and the range one RFC 9162 uses:
    /// a complete subtree, or one split at the largest power of two.
    fn range(&self, a: u64, b: u64) -> Hash {
        let n = b - a;
        if n == 0 {
            return empty_root();
        }
        if n.is_power_of_two() && a.is_multiple_of(n) {
            let l = n.trailing_zeros() as usize;
            if let Some(h) = self.levels.get(l).and_then(|v| v.get((a >> l) as usize)) {
                return *h;
            }
        }
        if n == 1 {
            return empty_root(); // unreachable for b ≤ size
        }
        let k = split(n);
        node_hash(&self.range(a, a + k), &self.range(a + k, b))
    }

    /// The root of the tree of the first `size` leaves (`size` ≤ the tree's size).
    pub fn root(&self, size: u64) -> Option<Hash> {
        (size <= self.size()).then(|| self.range(0, size))
    }

    /// RFC 9162 §2.1.3: the inclusion proof of leaf `index` in the tree of `size`.
    pub fn inclusion(&self, index: u64, size: u64) -> Option<Vec<Hash>> {
        if index >= size || size > self.size() {
            return None;
        }
        let mut out = Vec::new();
        self.path(index, 0, size, &mut out);
        Some(out)
    }

    fn path(&self, m: u64, a: u64, b: u64, out: &mut Vec<Hash>) {
        let n = b - a;
        if n <= 1 {
            return;
        }
        let k = split(n);
        if m < k {
            self.path(m, a, a + k, out);
            out.push(self.range(a + k, b));
        } else {
            self.path(m - k, a + k, b, out);
            out.push(self.range(a, a + k));
        }
    }

    /// RFC 9162 §2.1.4: the consistency proof from the tree of `old` leaves to the tree
    /// of `new` leaves.
    pub fn consistency(&self, old: u64, new: u64) -> Option<Vec<Hash>> {
        if old > new || new > self.size() {
            return None;
        }
        let mut out = Vec::new();
        if old > 0 && old < new {
            self.subproof(old, 0, new, true, &mut out);
        }
        Some(out)
    }

    fn subproof(&self, m: u64, a: u64, b: u64, complete: bool, out: &mut Vec<Hash>) {
        let n = b - a;
        if m == n {
            if !complete {
                out.push(self.range(a, b));
            }
            return;
        }
        let k = split(n);
        if m <= k {
            self.subproof(m, a, a + k, complete, out);
            out.push(self.range(a + k, b));
        } else {
            self.subproof(m - k, a + k, b, false, out);
            out.push(self.range(a, a + k));
        }
    }
}

/// RFC 9162 §2.1.3.2: whether `proof` shows `leaf` at `index` in a tree of `size`
/// leaves whose root is `root`.
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut f_n, mut s_n) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s_n == 0 {
            return false;
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    s_n == 0 && r == *root
}

/// RFC 9162 §2.1.4.2: whether `proof` shows that the tree of `new_size` with root
/// `new_root` extends the tree of `old_size` with root `old_root`.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    proof: &[Hash],
    old_root: &Hash,
    new_root: &Hash,
) -> bool {
    if old_size > new_size {
        return false;
    }
    if old_size == new_size {
        return proof.is_empty() && old_root == new_root;
    }
    if old_size == 0 {
        return proof.is_empty();
    }
    let mut path: Vec<Hash> = proof.to_vec();
    if old_size.is_power_of_two() {
        path.insert(0, *old_root);
    }
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    let (mut f_n, mut s_n) = (old_size - 1, new_size - 1);
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if s_n == 0 {
            return false;
        }
        if f_n & 1 == 1 || f_n == s_n {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    s_n == 0 && fr == *old_root && sr == *new_root
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// RFC 9162's definition, recursively, with no stored nodes: the reference.
    fn mth(d: &[Hash]) -> Hash {
        match d.len() {
            0 => empty_root(),
            1 => d[0],
            n => {
                let k = split(n as u64) as usize;
                node_hash(&mth(&d[..k]), &mth(&d[k..]))
            }
        }
    }

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_of(&[i as u8; 32])).collect()
    }

    #[test]
    fn known_shapes() {
        let l = leaves(3);
        let t = Tree::from_leaves(l.clone());
        assert_eq!(t.root(0), Some(empty_root()));
        assert_eq!(t.root(1), Some(l[0]));
        assert_eq!(t.root(3), Some(node_hash(&node_hash(&l[0], &l[1]), &l[2])));
        assert_eq!(t.root(4), None);
        // Leaf 2 of 3: its sibling is the subtree of leaves 0 and 1.
        assert_eq!(t.inclusion(2, 3), Some(vec![node_hash(&l[0], &l[1])]));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn roots_match_the_rfc_definition(n in 0u64..300) {
            let l = leaves(n);
            let t = Tree::from_leaves(l.clone());
            for size in [0, n / 3, n / 2, n] {
                prop_assert_eq!(t.root(size), Some(mth(&l[..size as usize])));
            }
        }

        #[test]
        fn every_inclusion_proof_verifies_and_a_wrong_one_does_not(n in 1u64..200, pick in any::<u64>()) {
            let l = leaves(n);
            let t = Tree::from_leaves(l.clone());
            let size = 1 + pick % n;
            let index = (pick / 7) % size;
            let root = t.root(size).expect("root");
            let proof = t.inclusion(index, size).expect("proof");
            prop_assert!(verify_inclusion(&l[index as usize], index, size, &proof, &root));
            // Another leaf, another index, another root: refused.
            let other = leaf_of(&[0xee; 32]);
            prop_assert!(!verify_inclusion(&other, index, size, &proof, &root));
            if size > 1 {
                prop_assert!(!verify_inclusion(&l[index as usize], (index + 1) % size, size, &proof, &root));
            }
            prop_assert!(!verify_inclusion(&l[index as usize], index, size, &proof, &empty_root()));
        }

        #[test]
        fn consistency_proofs_verify_and_catch_a_rewrite(n in 1u64..200, pick in any::<u64>(), flip in any::<u64>()) {
            let l = leaves(n);
            let t = Tree::from_leaves(l.clone());
            let new = 1 + pick % n;
            let old = (pick / 7) % (new + 1);
            let proof = t.consistency(old, new).expect("proof");
            let (ro, rn) = (t.root(old).expect("old"), t.root(new).expect("new"));
            prop_assert!(verify_consistency(old, new, &proof, &ro, &rn));
            // A tree where one of the first `old` leaves was rewritten is not consistent
            // with the old root.
            if old > 0 {
                let mut forged = l[..new as usize].to_vec();
                forged[(flip % old) as usize] = leaf_of(&[0xdd; 32]);
                let f = Tree::from_leaves(forged);
                let fp = f.consistency(old, new).expect("proof");
                prop_assert!(!verify_consistency(old, new, &fp, &ro, &f.root(new).expect("root")));
            }
        }

        #[test]
        fn truncating_undoes_pushes(n in 0u64..100, extra in 1u64..50) {
            let l = leaves(n + extra);
            let mut t = Tree::from_leaves(l[..n as usize].to_vec());
            let before = t.root(n);
            for x in &l[n as usize..] {
                t.push(*x);
            }
            t.truncate(n);
            prop_assert_eq!(t.size(), n);
            prop_assert_eq!(t.root(n), before);
            t.push(l[n as usize]);
            prop_assert_eq!(t.root(n + 1), Some(mth(&l[..n as usize + 1])));
        }
    }
}
