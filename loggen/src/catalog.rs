//! The simulated world: titles with Zipf-like popularity, POPs, clients and devices,
//! and the incidents that make the data worth watching (a failing origin for a few
//! titles, a congested POP).

use crate::rng::Rng;

/// Edge POPs with their traffic share and CloudFront-style location code.
pub const POPS: &[(&str, f64, &str)] = &[
    ("fra1", 18.0, "FRA56-P1"),
    ("ams1", 12.0, "AMS1-C1"),
    ("lhr2", 15.0, "LHR62-C3"),
    ("cdg1", 9.0, "CDG50-C1"),
    ("iad3", 20.0, "IAD89-C1"),
    ("sfo2", 10.0, "SFO53-P2"),
    ("nrt1", 6.0, "NRT57-P3"),
    ("sin1", 4.0, "SIN2-P1"),
    ("gru1", 4.0, "GRU3-C1"),
    ("syd1", 2.0, "SYD4-C2"),
];

/// (user agent, device class) pairs seen on a streaming service.
pub const AGENTS: &[(&str, &str)] = &[
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/118.0.5993.88 Safari/537.36", "web"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15", "web"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1", "ios"),
    ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.6045.66 Mobile Safari/537.36", "android"),
    ("ExoPlayerLib/2.19.1 (Linux; Android 12; SHIELD Android TV) ", "android_tv"),
    ("AppleCoreMedia/1.0.0.21K69 (Apple TV; U; CPU OS 17_1 like Mac OS X; en_us)", "apple_tv"),
    ("Roku/DVP-12.5 (12.5.0.4178-46)", "roku"),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:119.0) Gecko/20100101 Firefox/119.0", "web"),
    ("Mozilla/5.0 (SMART-TV; LINUX; Tizen 7.0) AppleWebKit/537.36 (KHTML, like Gecko) 76.0.3809.146/7.0 TV Safari/537.36", "smart_tv"),
];

/// Renditions of an HLS/DASH ladder: (name, bitrate in kbit/s).
pub const RENDITIONS: &[(&str, u64)] =
    &[("240p", 400), ("360p", 800), ("480p", 1400), ("720p", 3000), ("1080p", 5800), ("2160p", 16000)];

/// The world a generator draws from.
pub struct Catalog {
    /// Title ids, most popular first.
    pub titles: Vec<String>,
    title_cdf: Vec<f64>,
    pop_cdf: Vec<f64>,
}

impl Catalog {
    /// `n_titles` titles with Zipf(1.1) popularity.
    pub fn new(n_titles: usize) -> Self {
        let titles = (1..=n_titles).map(|i| format!("t{i:04}")).collect();
        let mut acc = 0.0;
        let title_cdf = (1..=n_titles)
            .map(|r| {
                acc += 1.0 / (r as f64).powf(1.1);
                acc
            })
            .collect();
        let mut acc = 0.0;
        let pop_cdf = POPS
            .iter()
            .map(|p| {
                acc += p.1;
                acc
            })
            .collect();
        Self { titles, title_cdf, pop_cdf }
    }

    /// A title index by popularity.
    pub fn title(&self, rng: &mut Rng) -> usize {
        rng.weighted(&self.title_cdf)
    }

    /// A POP index by traffic share.
    pub fn pop(&self, rng: &mut Rng) -> usize {
        rng.weighted(&self.pop_cdf)
    }

    /// An IPv4 or IPv6 client address from the documentation ranges.
    pub fn client_ip(rng: &mut Rng) -> String {
        match rng.below(10) {
            0 => format!("2001:db8:{:x}::{:x}", rng.below(0xffff), rng.below(0xffff) + 1),
            1..=4 => format!("198.51.100.{}", rng.below(254) + 1),
            5..=7 => format!("203.0.113.{}", rng.below(254) + 1),
            _ => format!("192.0.2.{}", rng.below(254) + 1),
        }
    }
}

/// Incidents injected into the hour so dashboards have something to show.
pub struct Incidents;

impl Incidents {
    /// Origin failing (5xx on cache misses) for titles 7 and 23 between minutes 20 and 27.
    pub fn origin_failing(title: usize, minute: u64) -> bool {
        (title == 6 || title == 22) && (20..27).contains(&minute)
    }

    /// POP `gru1` congested between minutes 40 and 50: slow responses, more rebuffering.
    pub fn pop_congested(pop: usize, minute: u64) -> bool {
        POPS[pop].0 == "gru1" && (40..50).contains(&minute)
    }
}
