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

/// Slots per page: `log2`.
const PAGE_SHIFT: u32 = 12;
/// Slots per page.
const PAGE_SLOTS: usize = 1 << PAGE_SHIFT;
/// A page: for each 64 slots, the `known` word then the `diff` word.
type Page = [u64; PAGE_SLOTS / 32];

/// Knowledge about one pass.
pub(crate) struct PassTree {
    n: usize,
    k: usize,
    shift: u32,
    /// `known` and `diff` bits by slot, in pages of [`PAGE_SLOTS`] slots allocated on first
    /// write (an unallocated page reads as all unknown). The trees of the large-block passes
    /// are big (two bits per slot, `2^18` slots per block of `n/2 = 50_000`) but only the search
    /// paths are ever written, so paging spares zeroing and faulting in most of them.
    pages: Vec<Option<Box<Page>>>,
    /// Per block: number of known nodes whose `diff` is odd.
    odd: Vec<u32>,
    /// `log2 k` when `k` is a power of two (a shift instead of a division on every flip).
    k_shift: Option<u32>,
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
    /// The right child if `right`, else the left one, chosen without a branch: which child is
    /// odd is as unpredictable as a coin flip.
    #[inline]
    pub(crate) fn child(&self, right: bool) -> Node {
        let mid = self.mid();
        Node {
            block: self.block,
            heap: 2 * self.heap + usize::from(right),
            lo: if right { mid } else { self.lo },
            hi: if right { self.hi } else { mid },
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
        let pages = (blocks << shift).div_ceil(PAGE_SLOTS);
        Self {
            n,
            k,
            shift,
            pages: (0..pages).map(|_| None).collect(),
            odd: vec![0; blocks],
            k_shift: k.is_power_of_two().then(|| k.trailing_zeros()),
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
    fn slot(&self, node: &Node) -> usize {
        (node.block << self.shift) | node.heap
    }

    /// The `known` and `diff` words holding slot `i`, and its mask (zeros if not allocated).
    #[inline]
    fn read(&self, i: usize) -> (u64, u64, u64) {
        let m = 1u64 << (i % 64);
        match &self.pages[i >> PAGE_SHIFT] {
            None => (0, 0, m),
            Some(page) => {
                let o = ((i / 64) % (PAGE_SLOTS / 64)) * 2;
                (page[o], page[o + 1], m)
            }
        }
    }

    /// The `known` and `diff` words holding slot `i`, allocating its page.
    #[inline]
    fn words_mut(&mut self, i: usize) -> (&mut u64, &mut u64) {
        let page =
            self.pages[i >> PAGE_SHIFT].get_or_insert_with(|| Box::new([0; PAGE_SLOTS / 32]));
        let o = ((i / 64) % (PAGE_SLOTS / 64)) * 2;
        let (known, diff) = page[o..o + 2].split_at_mut(1);
        (&mut known[0], &mut diff[0])
    }

    #[inline]
    pub(crate) fn is_known(&self, node: &Node) -> bool {
        let (known, _, m) = self.read(self.slot(node));
        known & m != 0
    }

    /// `diff` of a known node (true: an odd number of errors inside).
    #[inline]
    pub(crate) fn is_odd(&self, node: &Node) -> bool {
        let (_, diff, m) = self.read(self.slot(node));
        diff & m != 0
    }

    /// Marks `node` known with the given `diff`.
    #[inline]
    pub(crate) fn learn(&mut self, node: &Node, odd: bool) {
        let i = self.slot(node);
        let m = 1u64 << (i % 64);
        let (known, diff) = self.words_mut(i);
        let was_odd = *known & *diff & m != 0;
        *known |= m;
        // Branch-free: `odd` is a random parity.
        *diff = (*diff & !m) | (u64::from(odd) << (i % 64));
        let count = &mut self.odd[node.block];
        *count = *count + u32::from(odd) - u32::from(was_odd);
    }

    /// Marks both children of `node` known with the given `diff`s (one word update: the
    /// children's slots `2h`, `2h + 1` are adjacent).
    #[inline]
    pub(crate) fn learn_children(&mut self, node: &Node, left_odd: bool, right_odd: bool) {
        let i = (node.block << self.shift) | (2 * node.heap);
        let (pair, set) = (
            3u64 << (i % 64),
            (u64::from(left_odd) | (u64::from(right_odd) << 1)) << (i % 64),
        );
        let (known, diff) = self.words_mut(i);
        // The two bits summed directly (`count_ones` is a dozen operations without POPCNT).
        let both = (*known & *diff) >> (i % 64);
        let was_odd = (both & 1) as u32 + ((both >> 1) & 1) as u32;
        *known |= pair;
        *diff = (*diff & !pair) | set;
        let count = &mut self.odd[node.block];
        *count = *count + u32::from(left_odd) + u32::from(right_odd) - was_odd;
    }

    /// True when block `b` has a known odd node.
    #[inline]
    pub(crate) fn has_odd(&self, b: usize) -> bool {
        self.odd[b] > 0
    }

    /// Records the flip of shuffled position `q`: toggles `diff` along the known part of its
    /// path. Returns the block and whether any known node on the path is now odd.
    pub(crate) fn flip(&mut self, q: usize) -> (usize, bool) {
        let b = match self.k_shift {
            Some(shift) => q >> shift,
            None => q / self.k,
        };
        let (mut lo, mut hi) = (b * self.k, ((b + 1) * self.k).min(self.n));
        let (mut heap, base) = (1usize, b << self.shift);
        if let Some(depth) = self.k_shift
            && hi - lo == self.k
            && self.shift <= PAGE_SHIFT
        {
            return (b, self.flip_aligned(b, q - lo, depth));
        }
        // Net change of the block's count of odd known nodes.
        let mut delta = 0i64;
        let mut any_odd = false;
        loop {
            let i = base | heap;
            let Some(page) = self.pages[i >> PAGE_SHIFT].as_deref_mut() else {
                break;
            };
            let (o, m) = (((i / 64) % (PAGE_SLOTS / 64)) * 2, 1u64 << (i % 64));
            if page[o] & m == 0 {
                break;
            }
            page[o + 1] ^= m;
            let odd = page[o + 1] & m != 0;
            delta += if odd { 1 } else { -1 };
            any_odd |= odd;
            if hi - lo == 1 {
                break;
            }
            // The half holding `q`, chosen without a branch (it is random).
            let mid = lo + (hi - lo).div_ceil(2);
            let right = q >= mid;
            heap = 2 * heap + usize::from(right);
            lo = if right { mid } else { lo };
            hi = if right { hi } else { mid };
        }
        // The count covers every node turned even here, so it stays non-negative.
        self.odd[b] = (i64::from(self.odd[b]) + delta) as u32;
        (b, any_odd)
    }

    /// [`flip`](Self::flip) in a whole block of `2^depth` bits whose slots lie in one page: the
    /// node at depth `d` on the path of offset `off` is heap index `2^d + (off >> (depth - d))`,
    /// so the walk needs no range arithmetic and reads one page.
    fn flip_aligned(&mut self, b: usize, off: usize, depth: u32) -> bool {
        let base = b << self.shift;
        let Some(page) = self.pages[base >> PAGE_SHIFT].as_deref_mut() else {
            return false; // nothing known in this block
        };
        // The known nodes of a block form a rooted sub-tree, so the known nodes on the path are
        // exactly its known prefix: every path node can be toggled under its `known` bit, with
        // no loop exit where the prefix ends (a data-dependent branch, mispredicted on most
        // flips). Levels 0..=5 (slots below 64) share one word pair: one masked update.
        let top = depth.min(5);
        let mut path = 0u64;
        for d in 0..=top {
            path |= 1u64 << ((1usize << d) | (off >> (depth - d)));
        }
        let o = ((base / 64) % (PAGE_SLOTS / 64)) * 2;
        let toggled = page[o] & (path << (base % 64));
        page[o + 1] ^= toggled;
        let mut odd = page[o + 1] & toggled;
        let (mut flipped, mut now_odd) = (toggled.count_ones(), odd.count_ones());
        // Deeper levels: one word each (whole words, as `base` is then a multiple of 64).
        for d in top + 1..=depth {
            let i = base | (1usize << d) | (off >> (depth - d));
            let (o, m) = (((i / 64) % (PAGE_SLOTS / 64)) * 2, 1u64 << (i % 64));
            let t = page[o] & m;
            page[o + 1] ^= t;
            odd |= page[o + 1] & t;
            flipped += u32::from(t != 0);
            now_odd += u32::from(page[o + 1] & t != 0);
        }
        // Known path nodes that turned odd count +1, those that turned even -1.
        let delta = 2 * i64::from(now_odd) - i64::from(flipped);
        self.odd[b] = (i64::from(self.odd[b]) + delta) as u32;
        odd != 0
    }

    /// A known odd node of block `b`, searching the known sub-tree depth-first (the root first).
    pub(crate) fn find_odd(&self, b: usize) -> Option<Node> {
        if self.odd[b] == 0 {
            return None;
        }
        let root = self.root(b);
        if self.is_odd(&root) {
            return Some(root);
        }
        // Depth-first on a fixed stack: each level leaves at most one node waiting, and a
        // tree is at most 33 levels deep (blocks of up to 2^32 bits).
        let mut stack = [root; 2 * (usize::BITS as usize / 2 + 1)];
        let mut len = 1;
        while len > 0 {
            len -= 1;
            let node = stack[len];
            if !self.is_known(&node) {
                continue;
            }
            if self.is_odd(&node) {
                return Some(node);
            }
            if !node.is_leaf() {
                stack[len] = node.right();
                stack[len + 1] = node.left();
                len += 2;
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
                    let i = tree.slot(&node);
                    assert!(i < tree.pages.len() * PAGE_SLOTS);
                    assert!(seen.insert(i));
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

    /// Flips toggle exactly the known nodes on the flipped position's path and keep the odd
    /// counts: in whole power-of-two blocks within one page (the aligned walk, including blocks
    /// of fewer than 64 slots that share a word), and in partial last blocks, blocks of other
    /// sizes and blocks spanning pages (4096 bits; the general walk).
    #[test]
    fn flips_match_the_path_definition() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for (n, k) in [
            (64 * 5, 64),
            (64 * 5 - 9, 64),
            (1000, 37),
            (4096 * 2, 4096),
            (700, 512),
            (100, 16),
            (96, 8),
            (40, 1),
        ] {
            let blocks = usize::div_ceil(n, k);
            let mut tree = PassTree::new(n, k, blocks);
            // Learn a random known sub-tree in each block (children two at a time).
            for b in 0..blocks {
                let mut stack = vec![tree.root(b)];
                tree.learn(&stack[0], next() % 2 == 0);
                while let Some(node) = stack.pop() {
                    if !node.is_leaf() && next() % 4 != 0 {
                        tree.learn_children(&node, next() % 2 == 0, next() % 2 == 0);
                        stack.push(node.left());
                        stack.push(node.right());
                    }
                }
            }
            for _ in 0..200 {
                let q = (next() % n as u64) as usize;
                let b = q / k;
                // The known nodes on q's path, and their parity before the flip.
                let mut path = vec![];
                let mut node = tree.root(b);
                while tree.is_known(&node) {
                    path.push((node, tree.is_odd(&node)));
                    if node.is_leaf() {
                        break;
                    }
                    node = if q < node.mid() {
                        node.left()
                    } else {
                        node.right()
                    };
                }
                let odd_before = tree.odd[b];
                let (block, any_odd) = tree.flip(q);
                assert_eq!(block, b);
                assert_eq!(
                    any_odd,
                    path.iter().any(|&(_, odd)| !odd),
                    "n {n} k {k} q {q}"
                );
                for &(node, odd) in &path {
                    assert_eq!(tree.is_odd(&node), !odd, "n {n} k {k} q {q}");
                }
                let turned_odd = path.iter().filter(|&&(_, odd)| !odd).count() as u32;
                assert_eq!(
                    tree.odd[b] + path.len() as u32 - turned_odd,
                    odd_before + turned_odd
                );
            }
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
