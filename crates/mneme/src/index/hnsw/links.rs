//! The graph's links, stored compactly: layer 0 (every node's, and most of the searching) in
//! one fixed-stride array, `2 × M` slots and a count per node; the few nodes above layer 0 keep
//! their upper lists apart. One allocation for layer 0 instead of one per node and layer, and a
//! search reads a node's neighbours from one place.

use std::collections::HashMap;

/// Each node above layer 0 with its lists of layers `1..=level`, in node order.
pub(super) type UpperLists<'a> = Vec<(u32, &'a [Vec<u32>])>;

#[derive(Clone, PartialEq, Debug)]
pub(super) struct Links {
    /// Layer-0 slots per node.
    cap0: usize,
    /// Per node: its layer-0 count, then `cap0` slots.
    level0: Vec<u32>,
    /// Per node: its top layer.
    levels: Vec<u8>,
    /// Lists of layers `1..=level` of the nodes above layer 0.
    upper: HashMap<u32, Vec<Vec<u32>>>,
}

impl Links {
    /// No nodes; layer 0 holds up to `cap0` links a node.
    pub(super) fn new(cap0: usize) -> Self {
        Links {
            cap0,
            level0: Vec::new(),
            levels: Vec::new(),
            upper: HashMap::new(),
        }
    }

    /// Adds a node with empty lists up to `level`.
    pub(super) fn push_node(&mut self, level: usize) {
        let node = self.levels.len() as u32;
        self.level0.resize(self.level0.len() + 1 + self.cap0, 0);
        self.levels.push(level as u8);
        if level > 0 {
            self.upper.insert(node, vec![Vec::new(); level]);
        }
    }

    /// The node's neighbours at `layer` (which must be at most its level).
    #[inline]
    pub(super) fn get(&self, node: u32, layer: usize) -> &[u32] {
        if layer == 0 {
            let at = node as usize * (1 + self.cap0);
            let n = self.level0[at] as usize;
            &self.level0[at + 1..at + 1 + n]
        } else {
            &self.upper[&node][layer - 1]
        }
    }

    /// Starts loading the node's list at `layer` (layer 0 only: upper lists are few and hot).
    #[inline]
    pub(super) fn prefetch(&self, node: u32, layer: usize) {
        if layer == 0 {
            let at = node as usize * (1 + self.cap0);
            if let Some(list) = self.level0.get(at..at + 1 + self.cap0) {
                crate::index::prefetch::prefetch_lines(list, 3);
            }
        }
    }

    /// Replaces the node's list at `layer` (at most `cap0` long at layer 0).
    pub(super) fn set(&mut self, node: u32, layer: usize, list: &[u32]) {
        if layer == 0 {
            debug_assert!(list.len() <= self.cap0);
            let at = node as usize * (1 + self.cap0);
            self.level0[at] = list.len() as u32;
            let slots = &mut self.level0[at + 1..at + 1 + self.cap0];
            slots[..list.len()].copy_from_slice(list);
            // Unused slots stay zero, so equal graphs are equal arrays (and equal files).
            slots[list.len()..].fill(0);
        } else if let Some(lists) = self.upper.get_mut(&node) {
            lists[layer - 1].clear();
            lists[layer - 1].extend_from_slice(list);
        }
    }

    /// Bytes held by the links.
    pub(super) fn memory_bytes(&self) -> u64 {
        let upper: usize = self
            .upper
            .values()
            .map(|lists| 24 + lists.iter().map(|l| 24 + l.capacity() * 4).sum::<usize>())
            .sum();
        (self.level0.capacity() * 4 + self.levels.capacity() + upper) as u64
    }

    /// Every link, for [`super::file`]: the layer-0 array as stored, the levels, and the upper
    /// lists in node order.
    pub(super) fn parts(&self) -> (&[u32], &[u8], UpperLists<'_>) {
        let mut upper: UpperLists<'_> =
            self.upper.iter().map(|(&n, l)| (n, l.as_slice())).collect();
        upper.sort_unstable_by_key(|&(n, _)| n);
        (&self.level0, &self.levels, upper)
    }

    /// Links from their [`Links::parts`]; `None` when they do not fit together (a damaged
    /// file): every count within `cap0`, every target an existing node, every upper list of a
    /// node that has that layer.
    pub(super) fn from_parts(
        cap0: usize,
        level0: Vec<u32>,
        levels: Vec<u8>,
        upper: HashMap<u32, Vec<Vec<u32>>>,
    ) -> Option<Self> {
        let nodes = levels.len();
        if level0.len() != nodes * (1 + cap0) {
            return None;
        }
        let in_range = |l: &[u32]| l.iter().all(|&n| (n as usize) < nodes);
        for row in level0.chunks_exact(1 + cap0) {
            let n = row[0] as usize;
            if n > cap0 || !in_range(&row[1..1 + n]) {
                return None;
            }
        }
        let tall = levels.iter().filter(|&&l| l > 0).count();
        if upper.len() != tall {
            return None;
        }
        for (&node, lists) in &upper {
            let level = *levels.get(node as usize)? as usize;
            if lists.len() != level || !lists.iter().all(|l| in_range(l)) {
                return None;
            }
        }
        Some(Links {
            cap0,
            level0,
            levels,
            upper,
        })
    }
}
