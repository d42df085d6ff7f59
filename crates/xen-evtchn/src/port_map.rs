//! Per-port values that cost memory only for the ports a guest uses.
//!
//! The FIFO ABI has 2^17 ports, but a guest allocates the lowest free port
//! each time, so the ports in use are a short prefix. A [`PortMap`] keeps a
//! vector up to the highest port written with a non-default value and reads
//! every port past it as the default: switching to FIFO, snapshotting and
//! restoring cost the ports in use, not 2^17 entries.

/// A value per port below `limit`, stored up to the highest port set to a
/// non-default value.
#[derive(Debug, Clone)]
pub(crate) struct PortMap<T> {
    values: Vec<T>,
    default: T,
    limit: u32,
}

impl<T: Copy + PartialEq> PortMap<T> {
    /// Every port below `limit` reads `default`; ports at or past `limit`
    /// read `default` and ignore writes.
    pub(crate) const fn new(default: T, limit: u32) -> Self {
        PortMap {
            values: Vec::new(),
            default,
            limit,
        }
    }

    /// The value of `port`.
    #[inline]
    pub(crate) fn get(&self, port: u32) -> T {
        self.values
            .get(port as usize)
            .copied()
            .unwrap_or(self.default)
    }

    /// The stored value of `port`, to change in place (`None` past the
    /// stored ports, which all read the default).
    pub(crate) fn get_mut(&mut self, port: u32) -> Option<&mut T> {
        self.values.get_mut(port as usize)
    }

    /// Sets `port` to `value` and returns the value it had; a port at or
    /// past the limit is left alone (and read the default).
    pub(crate) fn set(&mut self, port: u32, value: T) -> T {
        if port >= self.limit {
            return self.default;
        }
        let i = port as usize;
        if i >= self.values.len() {
            if value == self.default {
                return self.default;
            }
            // Grown geometrically (amortised O(1) per port), never past the limit.
            let len = (i + 1).max(self.values.len() * 2).min(self.limit as usize);
            self.values.resize(len, self.default);
        }
        std::mem::replace(&mut self.values[i], value)
    }

    /// The number of ports stored: every port at or past it reads the default.
    pub(crate) fn stored(&self) -> u32 {
        self.values.len() as u32
    }

    /// The ports whose value is not the default, in order, with their values.
    pub(crate) fn non_default(&self) -> impl Iterator<Item = (u32, T)> + '_ {
        self.values
            .iter()
            .enumerate()
            .filter(|(_, v)| **v != self.default)
            .map(|(i, v)| (i as u32, *v))
    }
}

#[cfg(test)]
mod tests {
    use super::PortMap;

    #[test]
    fn reads_default_until_set_and_grows_only_for_non_default_values() {
        let mut m = PortMap::new(7u8, 1 << 17);
        assert_eq!(m.get(5), 7);
        assert_eq!(m.set(100_000, 7), 7, "the default is not stored");
        assert_eq!(m.stored(), 0);
        assert_eq!(m.set(3, 1), 7);
        assert_eq!(m.get(3), 1);
        assert_eq!(m.stored(), 4);
        assert_eq!(m.set(3, 2), 1);
        assert_eq!(m.set(9, 4), 7);
        assert_eq!(m.non_default().collect::<Vec<_>>(), [(3, 2), (9, 4)]);
        assert_eq!(m.set(3, 7), 2);
        assert_eq!(m.non_default().collect::<Vec<_>>(), [(9, 4)]);
    }

    #[test]
    fn the_limit_bounds_growth_and_writes() {
        let mut m = PortMap::new(None, 10);
        assert_eq!(m.set(6, Some(1u32)), None);
        assert_eq!(m.stored(), 7);
        assert_eq!(m.set(9, Some(2)), None);
        assert_eq!(m.stored(), 10, "doubling stops at the limit");
        assert_eq!(m.set(10, Some(3)), None);
        assert_eq!(m.set(u32::MAX, Some(3)), None);
        assert_eq!(m.get(10), None);
        assert_eq!(m.stored(), 10);
    }
}
