//! Histograms merged from several windows or agents: the bucket values of our
//! HdrHistogram summaries (the same precision everywhere, so equal buckets have equal
//! values) with their counts added up, and nearest-rank percentiles over them.

use std::collections::BTreeMap;

/// Bucket value → count. Keys are the bits of the (non-negative) bucket values, which
/// order like the values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Merged(BTreeMap<u64, u64>);

impl Merged {
    /// Adds one bucket.
    pub fn add(&mut self, value: f64, count: u64) {
        *self.0.entry(value.max(0.0).to_bits()).or_default() += count;
    }

    /// Adds every bucket of `other`.
    pub fn merge(&mut self, other: &Merged) {
        for (bits, count) in &other.0 {
            *self.0.entry(*bits).or_default() += count;
        }
    }

    /// Whether no bucket was added.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value of the bucket holding the nearest-rank `q` quantile (HdrHistogram's
    /// rank: the ceiling of q·n, at least the first value), rounded.
    pub fn percentile(&self, q: f64) -> Option<u64> {
        let total: u64 = self.0.values().sum();
        let rank = ((q * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (bits, count) in &self.0 {
            seen += count;
            if seen >= rank {
                return Some(f64::from_bits(*bits).round() as u64);
            }
        }
        None
    }

    /// Buckets as (value, count), ascending.
    pub fn buckets(&self) -> Vec<(f64, u64)> {
        self.0.iter().map(|(bits, count)| (f64::from_bits(*bits), *count)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_buckets_and_percentiles() {
        let mut a = Merged::default();
        a.add(10.0, 3);
        a.add(100.0, 1);
        let mut b = Merged::default();
        b.add(10.0, 1);
        b.add(200.0, 5);
        a.merge(&b);
        assert_eq!(a.buckets(), [(10.0, 4), (100.0, 1), (200.0, 5)]);
        assert_eq!(
            (a.percentile(0.4), a.percentile(0.5), a.percentile(0.51), a.percentile(1.0)),
            (Some(10), Some(100), Some(200), Some(200))
        );
        assert_eq!(Merged::default().percentile(0.5), None);
    }
}
