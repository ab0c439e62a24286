//! The corrector's knowledge about the blocks of one pass.
//!
//! Every top-level block is the root of a binary tree of sub-blocks, split the way BINARY
//! splits them: a node covering shuffled positions `lo..hi` has the children `lo..mid` and
//! `mid..hi` with `mid = lo + ceil((hi - lo) / 2)`. Nodes are numbered heap-style inside their
//! block (root 1, children `2h` and `2h + 1`), so a block of `k` bits needs `2^(ceil(log2 k) + 1)`
//! slots.
//!
//! A node is *known* once the responder's parity of it has been disclosed or inferred (the
//! sibling of a disclosed node: parent parity minus the disclosed one). Invariant: the known
//! nodes form a rooted sub-tree in which every known inner node has both children known or
//! neither (knowledge is only ever acquired top-down, two children at a time). For each known
//! node the tree keeps `diff` = local parity XOR responder parity, i.e. the parity of the number
//! of errors inside it; every flip toggles `diff` on the known nodes along its path, which keeps
//! `diff(parent) = diff(left) ^ diff(right)` at all times. Reusing these known sub-blocks is the
//! "sub-block reuse" of Martinez-Mateo et al. (2015): a search that enters a known node descends
//! through known children for free.

/// Knowledge about one pass.
pub(crate) struct PassTree {
    n: usize,
    k: usize,
    shift: u32,
    known: Vec<u64>,
    diff: Vec<u64>,
}

/// A node: block, heap index inside the block, and the shuffled range it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Node {
    pub(crate) block: usize,
    pub(crate) heap: usize,
    pub(crate) lo: usize,
    pub(crate) hi: usize,
}

impl Node {
    /// The split point of a node with at least two bits.
    #[inline]
    pub(crate) fn mid(&self) -> usize {
        self.lo + (self.hi - self.lo).div_ceil(2)
    }
    #[inline]
    pub(crate) fn is_leaf(&self) -> bool {
        self.hi - self.lo == 1
    }
    #[inline]
    pub(crate) fn left(&self) -> Node {
        Node {
            block: self.block,
            heap: 2 * self.heap,
            lo: self.lo,
            hi: self.mid(),
        }
    }
    #[inline]
    pub(crate) fn right(&self) -> Node {
        Node {
            block: self.block,
            heap: 2 * self.heap + 1,
            lo: self.mid(),
            hi: self.hi,
        }
    }
}

impl PassTree {
    /// An empty tree for a pass of `blocks` blocks of `k` bits over `n` bits.
    pub(crate) fn new(n: usize, k: usize, blocks: usize) -> Self {
        let depth = usize::BITS - (k.max(1) - 1).leading_zeros(); // ceil(log2 k)
        let shift = depth + 1;
        let words = (blocks << shift).div_ceil(64);
        Self {
            n,
            k,
            shift,
            known: vec![0; words],
            diff: vec![0; words],
        }
    }

    /// The root of block `b`.
    #[inline]
    pub(crate) fn root(&self, b: usize) -> Node {
        Node {
            block: b,
            heap: 1,
            lo: b * self.k,
            hi: ((b + 1) * self.k).min(self.n),
        }
    }

    #[inline]
    fn slot(&self, node: &Node) -> (usize, u64) {
        let i = (node.block << self.shift) | node.heap;
        (i / 64, 1u64 << (i % 64))
    }

    #[inline]
    pub(crate) fn is_known(&self, node: &Node) -> bool {
        let (w, m) = self.slot(node);
        self.known[w] & m != 0
    }

    /// `diff` of a known node (true: an odd number of errors inside).
    #[inline]
    pub(crate) fn is_odd(&self, node: &Node) -> bool {
        let (w, m) = self.slot(node);
        self.diff[w] & m != 0
    }

    /// Marks `node` known with the given `diff`.
    #[inline]
    pub(crate) fn learn(&mut self, node: &Node, odd: bool) {
        let (w, m) = self.slot(node);
        self.known[w] |= m;
        if odd {
            self.diff[w] |= m;
        } else {
            self.diff[w] &= !m;
        }
    }

    /// Records the flip of shuffled position `q`: toggles `diff` along the known part of its
    /// path. Returns the block and whether any known node on the path is now odd.
    pub(crate) fn flip(&mut self, q: usize) -> (usize, bool) {
        let b = q / self.k;
        let mut node = self.root(b);
        let mut any_odd = false;
        loop {
            let (w, m) = self.slot(&node);
            if self.known[w] & m == 0 {
                break;
            }
            self.diff[w] ^= m;
            any_odd |= self.diff[w] & m != 0;
            if node.is_leaf() {
                break;
            }
            node = if q < node.mid() {
                node.left()
            } else {
                node.right()
            };
        }
        (b, any_odd)
    }

    /// A known odd node of block `b`, searching the known sub-tree depth-first (the root first).
    pub(crate) fn find_odd(&self, b: usize) -> Option<Node> {
        let mut stack = vec![self.root(b)];
        while let Some(node) = stack.pop() {
            if !self.is_known(&node) {
                continue;
            }
            if self.is_odd(&node) {
                return Some(node);
            }
            if !node.is_leaf() {
                stack.push(node.right());
                stack.push(node.left());
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heap_indices_fit_the_slots() {
        // Every node of every block of an awkward size gets a distinct slot inside the tree.
        for (n, k) in [(100, 37), (10, 1), (1, 1), (1000, 64), (999, 500)] {
            let blocks = usize::div_ceil(n, k);
            let tree = PassTree::new(n, k, blocks);
            let mut seen = std::collections::HashSet::new();
            for b in 0..blocks {
                let mut stack = vec![tree.root(b)];
                while let Some(node) = stack.pop() {
                    let (w, m) = tree.slot(&node);
                    assert!(w < tree.known.len());
                    assert!(seen.insert((w, m)));
                    if !node.is_leaf() {
                        assert!(node.left().hi - node.left().lo >= 1);
                        assert!(node.right().hi - node.right().lo >= 1);
                        stack.push(node.left());
                        stack.push(node.right());
                    }
                }
            }
            assert_eq!(seen.len(), 2 * n - blocks);
        }
    }

    #[test]
    fn flips_toggle_the_known_path() {
        let mut t = PassTree::new(16, 8, 2);
        let root = t.root(1);
        t.learn(&root, false);
        t.learn(&root.left(), false);
        t.learn(&root.right(), false);
        assert_eq!(t.flip(13), (1, true)); // 13 is in the right half of block 1 (12..16)
        assert!(t.is_odd(&root) && t.is_odd(&root.right()) && !t.is_odd(&root.left()));
        assert_eq!(t.find_odd(1), Some(root));
        assert_eq!(t.find_odd(0), None);
        assert_eq!(t.flip(9), (1, true)); // left half: root even again, both halves odd
        assert_eq!(t.find_odd(1), Some(root.left()));
    }
}
