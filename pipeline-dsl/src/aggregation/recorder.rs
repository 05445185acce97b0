//! The values of one key in one window: exact while few, an HdrHistogram once many.
//!
//! A dense HdrHistogram costs tens of kilobytes (3 significant figures over an hour in
//! milliseconds: about 13,000 counters), which 100,000 keys cannot all afford; most keys
//! of a window see only a handful of events. So a key keeps its values in a vector until
//! it holds [`Precision::exact_limit`] of them, and only then moves them into its own
//! histogram. At window close both forms are summarised through the same histogram
//! settings, so the figures do not depend on which form a key was in.

use super::saved::SavedValues;
use hdrhistogram::Histogram;

/// Counter width of the per-key histograms: 4 billion events per key and window is
/// far beyond any real window.
pub type Counts = u32;

/// Histogram settings shared by every key of one aggregation.
#[derive(Debug, Clone)]
pub struct Precision {
    /// Largest value recorded as itself; larger ones are recorded as this and counted.
    pub highest: u64,
    /// An empty histogram with these settings, cloned for every new one.
    empty: Histogram<Counts>,
    /// See [`Precision::exact_limit`].
    exact_limit: usize,
}

impl Precision {
    /// Settings keeping `significant_figures` decimal digits (1–5) of values from 1 to
    /// `highest` (at least 2); an error message when HdrHistogram refuses them.
    pub fn new(significant_figures: u8, highest: u64) -> Result<Self, String> {
        let highest = highest.max(2);
        let empty = Histogram::new_with_bounds(1, highest, significant_figures).map_err(|e| format!("{e:?}"))?;
        let histogram_bytes = empty.distinct_values() * std::mem::size_of::<Counts>();
        let exact_limit = (histogram_bytes / std::mem::size_of::<u64>() / 4).clamp(128, 4096);
        Ok(Self { highest, empty, exact_limit })
    }

    /// Values a key keeps exactly before it gets a histogram of its own: as many as
    /// take a quarter of that histogram's bytes, at least 128 and at most 4,096. For 3
    /// significant figures over 1 ms – 1 h that is 1,664 values (13 KB; the vector's
    /// capacity reaches 16 KB) against a 53 KB histogram. Keys busy enough for a few
    /// hundred values a window, such as a CDN's POPs, then never pay for building and
    /// scanning a histogram of 13,000 counters.
    pub fn exact_limit(&self) -> usize {
        self.exact_limit
    }

    /// An empty histogram with these settings.
    pub fn histogram(&self) -> Histogram<Counts> {
        self.empty.clone()
    }

    /// The settings as text (significant figures and range), to tell whether saved
    /// values can be restored under them.
    pub fn describe(&self) -> String {
        format!("{} figures up to {}", self.empty.sigfig(), self.highest)
    }
}

/// Recorded values of one key.
#[derive(Debug, Default)]
pub struct Recorder {
    exact: Vec<u64>,
    dense: Option<Box<Histogram<Counts>>>,
    /// Values recorded.
    pub count: u64,
    /// Their exact sum (before clamping to the histogram's range).
    pub sum: f64,
    /// Smallest value recorded.
    pub min: u64,
    /// Largest value recorded (before clamping).
    pub max: u64,
    /// Values above the histogram's range, recorded as its highest value.
    pub clamped: u64,
}

/// Percentiles and the histogram of a recorder at window close.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Values recorded.
    pub count: u64,
    /// Smallest and largest value (exact).
    pub min: u64,
    /// Largest value (exact).
    pub max: u64,
    /// Exact mean.
    pub mean: f64,
    /// Exact sum.
    pub sum: f64,
    /// p50, p90, p95, p99 and p99.9 (highest value equivalent to the exact percentile
    /// at the histogram's precision).
    pub percentiles: [u64; 5],
    /// Values above the histogram's range.
    pub clamped: u64,
    /// The histogram as ascending bucket values (the middle of each bucket) and their
    /// counts: Elasticsearch's `histogram` field format.
    pub values: Vec<f64>,
    /// Counts matching `values`.
    pub counts: Vec<u64>,
}

/// The quantiles of [`Summary::percentiles`].
pub const QUANTILES: [f64; 5] = [0.5, 0.9, 0.95, 0.99, 0.999];

impl Recorder {
    /// Records one value.
    pub fn record(&mut self, value: u64, precision: &Precision) {
        if self.count == 0 || value < self.min {
            self.min = value;
        }
        self.max = self.max.max(value);
        self.count += 1;
        self.sum += value as f64;
        let stored = if value > precision.highest {
            self.clamped += 1;
            precision.highest
        } else {
            value
        };
        match &mut self.dense {
            Some(h) => h.saturating_record(stored),
            None if self.exact.len() < precision.exact_limit => self.exact.push(stored),
            None => {
                let mut h = Box::new(precision.histogram());
                for v in self.exact.drain(..).chain(std::iter::once(stored)) {
                    h.saturating_record(v);
                }
                self.exact = Vec::new();
                self.dense = Some(h);
            }
        }
    }

    /// Heap bytes held (for memory accounting in tests and the snapshot).
    pub fn heap_bytes(&self) -> usize {
        self.exact.capacity() * 8
            + self.dense.as_ref().map_or(0, |h| h.distinct_values() * std::mem::size_of::<Counts>())
    }

    /// The values as saved when the agent stops (see [`SavedValues`]).
    pub fn save(&self) -> SavedValues {
        let buckets = self.dense.as_ref().map_or_else(Vec::new, |h| {
            h.iter_recorded().map(|v| (v.value_iterated_to(), u64::from(v.count_at_value()))).collect()
        });
        SavedValues {
            count: self.count,
            sum: self.sum,
            min: self.min,
            max: self.max,
            clamped: self.clamped,
            exact: self.exact.clone(),
            buckets,
        }
    }

    /// Values saved by [`Recorder::save`] under the same `precision`; an error when
    /// they do not fit it or do not add up to their count.
    pub fn restore(saved: SavedValues, precision: &Precision) -> Result<Self, String> {
        let SavedValues { count, sum, min, max, clamped, exact, buckets } = saved;
        let dense = if buckets.is_empty() {
            None
        } else {
            let mut h = Box::new(precision.histogram());
            for &(value, n) in &buckets {
                let n = Counts::try_from(n).map_err(|_| format!("a bucket count of {n} is too large"))?;
                h.record_n(value, n).map_err(|e| format!("bucket {value} does not fit the histogram: {e:?}"))?;
            }
            Some(h)
        };
        let held = dense.as_ref().map_or(exact.len() as u64, |h| h.len());
        if held != count || (dense.is_some() && !exact.is_empty()) || exact.len() > precision.exact_limit {
            return Err(format!("{count} values saved, {held} held"));
        }
        if exact.iter().any(|&v| v > precision.highest) {
            return Err(format!("a value above the histogram's range ({})", precision.highest));
        }
        Ok(Self { exact, dense, count, sum, min, max, clamped })
    }

    /// Percentiles and histogram; `None` when nothing was recorded. Exact values are
    /// summarised through the histogram's bucket arithmetic alone, giving what a
    /// histogram holding them would give without scanning its thousands of counters.
    pub fn summarise(&self, precision: &Precision) -> Option<Summary> {
        if self.count == 0 {
            return None;
        }
        if let Some(h) = &self.dense {
            return Some(summarise_histogram(h, self.count, self.sum, self.min, self.max, self.clamped));
        }
        let buckets = &precision.empty;
        let mut sorted = self.exact.clone();
        sorted.sort_unstable();
        let n = sorted.len();
        let mut percentiles = [0; 5];
        for (p, q) in percentiles.iter_mut().zip(QUANTILES) {
            // HdrHistogram's rank: the ceiling of q·n, at least the first value.
            let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
            *p = buckets.highest_equivalent(sorted[rank - 1]).clamp(self.min, self.max);
        }
        let mut values = Vec::new();
        let mut counts: Vec<u64> = Vec::new();
        let mut bucket = None;
        for &v in &sorted {
            let low = buckets.lowest_equivalent(v);
            if bucket == Some(low) {
                if let Some(c) = counts.last_mut() {
                    *c += 1;
                }
            } else {
                bucket = Some(low);
                values.push(buckets.median_equivalent(v) as f64);
                counts.push(1);
            }
        }
        Some(Summary {
            count: self.count,
            min: self.min,
            max: self.max,
            mean: self.sum / self.count as f64,
            sum: self.sum,
            percentiles,
            clamped: self.clamped,
            values,
            counts,
        })
    }
}

/// The [`Summary`] of a histogram whose exact count, sum, min and max are known.
pub fn summarise_histogram(h: &Histogram<Counts>, count: u64, sum: f64, min: u64, max: u64, clamped: u64) -> Summary {
    let mut percentiles = [0; 5];
    for (p, q) in percentiles.iter_mut().zip(QUANTILES) {
        // Never report a percentile beyond the exact extremes (a bucket's highest
        // equivalent value can exceed the largest value recorded in it).
        *p = h.value_at_quantile(q).clamp(min, max);
    }
    let mut values = Vec::new();
    let mut counts = Vec::new();
    for v in h.iter_recorded() {
        values.push(h.median_equivalent(v.value_iterated_to()) as f64);
        counts.push(v.count_at_value() as u64);
    }
    Summary { count, min, max, mean: sum / count as f64, sum, percentiles, clamped, values, counts }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn precision() -> Precision {
        Precision::new(3, 3_600_000).unwrap()
    }

    #[test]
    fn exact_and_dense_forms_summarise_alike() {
        let values: Vec<u64> = (0..5000u64).map(|i| (i * 7919) % 5000 + 1).collect();
        let mut small = Recorder::default();
        for &v in values.iter().take(precision().exact_limit()) {
            small.record(v, &precision());
        }
        assert!(small.dense.is_none());
        let mut reference = precision().histogram();
        for &v in values.iter().take(precision().exact_limit()) {
            reference.record(v).unwrap();
        }
        let s = small.summarise(&precision()).unwrap();
        let expected = summarise_histogram(&reference, s.count, s.sum, s.min, s.max, 0);
        assert_eq!(s, expected);

        let mut big = Recorder::default();
        for &v in &values {
            big.record(v, &precision());
        }
        assert!(big.dense.is_some() && big.exact.is_empty());
        let s = big.summarise(&precision()).unwrap();
        assert_eq!(s.count, 5000);
        assert_eq!(s.counts.iter().sum::<u64>(), 5000);
        assert!(s.values.windows(2).all(|w| w[0] < w[1]), "histogram values ascend");
        let mut sorted = values.clone();
        sorted.sort_unstable();
        let exact_p99 = sorted[(0.99f64 * 5000.0).ceil() as usize - 1];
        assert_eq!(s.percentiles[3], reference_for(&values).highest_equivalent(exact_p99));
    }

    fn reference_for(values: &[u64]) -> Histogram<Counts> {
        let mut h = precision().histogram();
        for &v in values {
            h.record(v).unwrap();
        }
        h
    }

    #[test]
    fn keys_stay_exact_while_smaller_than_a_quarter_of_their_histogram() {
        let p = precision();
        let histogram_bytes = p.histogram().distinct_values() * std::mem::size_of::<Counts>();
        assert_eq!(p.exact_limit() * 8 * 4, histogram_bytes - histogram_bytes % 32);
        let mut r = Recorder::default();
        for v in 0..p.exact_limit() as u64 {
            r.record(v + 1, &p);
        }
        assert!(r.dense.is_none(), "{} values are still exact", p.exact_limit());
        r.record(1, &p);
        assert!(r.dense.is_some() && r.exact.is_empty());
        assert_eq!(r.dense.as_ref().map(|h| h.len()), Some(p.exact_limit() as u64 + 1));
        // Coarse and fine settings keep the bounds.
        assert_eq!(Precision::new(1, 1000).unwrap().exact_limit(), 128);
        assert_eq!(Precision::new(5, 3_600_000).unwrap().exact_limit(), 4096);
    }

    #[test]
    fn values_beyond_the_range_are_clamped_and_counted() {
        let mut r = Recorder::default();
        r.record(10, &precision());
        r.record(10_000_000, &precision());
        let s = r.summarise(&precision()).unwrap();
        assert_eq!((s.clamped, s.max, s.min), (1, 10_000_000, 10));
        assert_eq!(s.mean, 5_000_005.0);
    }

    #[test]
    fn empty_recorder_has_no_summary() {
        assert!(Recorder::default().summarise(&precision()).is_none());
    }
}
