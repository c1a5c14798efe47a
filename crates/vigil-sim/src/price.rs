//! Price paths that the keeper follows: one ETH/USD price per block.
//!
//! - [`PricePath::synthetic`]: geometric Brownian motion with Poisson jumps (Merton), seeded, per 12-second block;
//!   an optional crash scales the path down over a window of blocks (the benign stress scenario).
//! - [`PricePath::from_csv`]: a real market history as `timestamp,price` (UNIX seconds, strictly increasing),
//!   linear between rows.
//!   Block `i` takes the last row at or before `first timestamp + i × 12 s × speed`, so minute or hourly data
//!   drive 12-second blocks in real time (`speed` 1), and daily data can be replayed faster (`speed` 3600 plays
//!   half a day per block); after the last row the price holds. Bad rows are errors naming file, line and field.

use std::path::Path;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal, Poisson};

use crate::chain::BLOCK_TIME;

/// Errors reading a price history.
#[derive(Debug, thiserror::Error)]
pub enum PriceError {
    /// The file could not be read.
    #[error("{path}: cannot read the price history: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A row is malformed.
    #[error("{path}: line {line}: {field}: {reason}")]
    Row {
        /// The file.
        path: String,
        /// 1-based line number.
        line: usize,
        /// The column (`timestamp`, `price`) or `row`.
        field: &'static str,
        /// What is wrong, and the value found.
        reason: String,
    },
    /// No rows.
    #[error("{path}: no price rows after the header `timestamp,price`")]
    Empty {
        /// The file.
        path: String,
    },
}

/// Parameters of the synthetic path.
#[derive(Debug, Clone, Copy)]
pub struct SyntheticParams {
    /// Price at block 0.
    pub start: f64,
    /// Annualised drift of log price.
    pub drift: f64,
    /// Annualised volatility.
    pub volatility: f64,
    /// Expected jumps per day.
    pub jumps_per_day: f64,
    /// Standard deviation of a jump's log size (mean 0).
    pub jump_std: f64,
    /// A crash: (first block, blocks it lasts, fraction of price lost by its end).
    pub crash: Option<(u64, u64, f64)>,
}

impl Default for SyntheticParams {
    fn default() -> Self {
        Self { start: 3_000.0, drift: 0.0, volatility: 0.6, jumps_per_day: 2.0, jump_std: 0.01, crash: None }
    }
}

/// One price per block.
#[derive(Debug, Clone, PartialEq)]
pub struct PricePath {
    prices: Vec<f64>,
    source: String,
}

impl PricePath {
    /// A seeded GBM-with-jumps path of `blocks + 1` prices.
    pub fn synthetic(seed: u64, blocks: u64, p: SyntheticParams) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x005e_ed0f_9a7f);
        let dt = BLOCK_TIME as f64 / (365.0 * 24.0 * 3600.0);
        let normal = Normal::new(0.0, 1.0).expect("unit normal");
        let jump_size = Normal::new(0.0, p.jump_std.max(1e-12)).expect("jump normal");
        let jump_rate = p.jumps_per_day * BLOCK_TIME as f64 / 86_400.0;
        let jumps = Poisson::new(jump_rate.max(1e-12)).expect("poisson rate");
        let mut log_price = p.start.ln();
        let mut prices = Vec::with_capacity(blocks as usize + 1);
        prices.push(p.start);
        for _ in 0..blocks {
            let z: f64 = normal.sample(&mut rng);
            log_price += (p.drift - 0.5 * p.volatility * p.volatility) * dt + p.volatility * dt.sqrt() * z;
            let n: f64 = jumps.sample(&mut rng);
            for _ in 0..n as u64 {
                log_price += jump_size.sample(&mut rng);
            }
            prices.push(log_price.exp());
        }
        if let Some((first, len, depth)) = p.crash {
            for (i, price) in prices.iter_mut().enumerate() {
                let i = i as u64;
                if i >= first {
                    let progress = ((i - first) as f64 / len.max(1) as f64).min(1.0);
                    *price *= 1.0 - depth * progress;
                }
            }
        }
        Self { prices, source: format!("synthetic GBM with jumps (seed {seed})") }
    }

    /// A real history from a `timestamp,price` CSV, sampled every `12 × speed` seconds of history for
    /// `blocks + 1` blocks, linearly between rows: a history of daily closes says where the price was at each
    /// close, not that it jumped there in one block (a feed following the market updates many times a day), so a
    /// day's move is spread over that day's blocks. After the last row the price stays at its value.
    pub fn from_csv(path: &Path, blocks: u64, speed: u64) -> Result<Self, PriceError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| PriceError::Read { path: name.clone(), source })?;
        let Parsed { rows, merged } = parse_csv(&name, &text)?;
        let first = rows[0].0;
        let mut prices = Vec::with_capacity(blocks as usize + 1);
        let mut j = 0;
        for i in 0..=blocks {
            let t = first + i * BLOCK_TIME * speed.max(1);
            while j + 1 < rows.len() && rows[j + 1].0 <= t {
                j += 1;
            }
            let price = match rows.get(j + 1) {
                Some(&(t1, p1)) => {
                    let (t0, p0) = rows[j];
                    p0 + (p1 - p0) * (t - t0) as f64 / (t1 - t0) as f64
                }
                None => rows[j].1,
            };
            prices.push(price);
        }
        let speed = speed.max(1);
        let merged = match merged {
            0 => String::new(),
            1 => ", 1 row at a repeated timestamp merged (the last wins)".to_string(),
            n => format!(", {n} rows at a repeated timestamp merged (the last wins)"),
        };
        Ok(Self { prices, source: format!("{name} ({} rows{merged}, {speed}× real time)", rows.len()) })
    }

    /// The price at block offset `i` (the last price after the end).
    pub fn at(&self, i: u64) -> f64 {
        self.prices.get(i as usize).or(self.prices.last()).copied().unwrap_or(1.0)
    }

    /// Number of prices.
    pub fn len(&self) -> usize {
        self.prices.len()
    }

    /// True when the path is empty (never, for the constructors here).
    pub fn is_empty(&self) -> bool {
        self.prices.is_empty()
    }

    /// Where the path came from.
    pub fn source(&self) -> &str {
        &self.source
    }
}

/// The rows of a price history, in time order, one per timestamp.
#[derive(Debug, PartialEq)]
struct Parsed {
    rows: Vec<(u64, f64)>,
    /// Rows dropped because a later row had the same timestamp (exports repeat a timestamp when two updates
    /// fall in one second; the last is the price that held).
    merged: usize,
}

fn parse_csv(path: &str, text: &str) -> Result<Parsed, PriceError> {
    let row_err = |line: usize, field: &'static str, reason: String| PriceError::Row {
        path: path.to_string(),
        line,
        field,
        reason,
    };
    let mut rows: Vec<(u64, f64)> = Vec::new();
    let mut merged = 0;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let raw = raw.trim();
        if raw.is_empty() || raw.starts_with('#') {
            continue;
        }
        if line == 1 || (rows.is_empty() && raw.starts_with("timestamp")) {
            if raw.replace(' ', "") != "timestamp,price" {
                return Err(row_err(line, "row", format!("expected the header `timestamp,price`, found `{raw}`")));
            }
            continue;
        }
        let mut cols = raw.split(',');
        let (Some(ts), Some(price), None) = (cols.next(), cols.next(), cols.next()) else {
            return Err(row_err(line, "row", format!("expected two columns, found `{raw}`")));
        };
        let ts: u64 = ts
            .trim()
            .parse()
            .map_err(|_| row_err(line, "timestamp", format!("`{}` is not UNIX seconds", ts.trim())))?;
        let price: f64 =
            price.trim().parse().map_err(|_| row_err(line, "price", format!("`{}` is not a number", price.trim())))?;
        if !(price.is_finite() && price > 0.0) {
            return Err(row_err(line, "price", format!("{price} is not a positive price")));
        }
        match rows.last_mut() {
            Some(last) if ts == last.0 => {
                *last = (ts, price);
                merged += 1;
                continue;
            }
            Some(&mut (prev, _)) if ts < prev => {
                return Err(row_err(line, "timestamp", format!("{ts} is earlier than the previous row's {prev}")));
            }
            _ => {}
        }
        rows.push((ts, price));
    }
    if rows.is_empty() {
        return Err(PriceError::Empty { path: path.to_string() });
    }
    Ok(Parsed { rows, merged })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_synthetic_path_is_seeded() {
        let p = SyntheticParams::default();
        assert_eq!(PricePath::synthetic(1, 500, p), PricePath::synthetic(1, 500, p));
        assert_ne!(PricePath::synthetic(1, 500, p), PricePath::synthetic(2, 500, p));
        let path = PricePath::synthetic(1, 500, p);
        assert_eq!(path.len(), 501);
        assert_eq!(path.at(0), 3_000.0);
        assert!((0..=500).all(|i| path.at(i) > 1_000.0 && path.at(i) < 9_000.0));
    }

    #[test]
    fn a_crash_takes_the_price_down_by_its_depth() {
        let p =
            SyntheticParams { volatility: 0.0, jumps_per_day: 0.0, crash: Some((10, 20, 0.5)), ..Default::default() };
        let path = PricePath::synthetic(3, 100, p);
        assert!((path.at(9) - 3_000.0).abs() < 1e-6);
        assert!((path.at(30) - 1_500.0).abs() < 1e-6);
        assert!((path.at(100) - 1_500.0).abs() < 1e-6);
    }

    #[test]
    fn csv_rows_are_sampled_per_block() {
        let parsed = parse_csv("t.csv", "timestamp,price\n1000,10\n1030,20\n1100,30\n").unwrap();
        assert_eq!(parsed, Parsed { rows: vec![(1000, 10.0), (1030, 20.0), (1100, 30.0)], merged: 0 });
        let dir = std::env::temp_dir().join(format!("vigil-price-{}", std::process::id()));
        std::fs::write(&dir, "timestamp,price\n1000,10\n1030,20\n1100,30\n").unwrap();
        let path = PricePath::from_csv(&dir, 10, 1).unwrap();
        std::fs::remove_file(&dir).ok();
        // Linear between rows: +0 → 10, +12 → 14, +24 → 18; +36 → 20 + 10 × 6/70 …; from +108 on (after the last
        // row at +100) → 30.
        let got: Vec<f64> = (0..=10).map(|i| path.at(i)).collect();
        let expected: Vec<f64> = [0u64, 12, 24, 36, 48, 60, 72, 84, 96, 108, 120]
            .iter()
            .map(|&dt| match dt {
                0..30 => 10.0 + 10.0 * dt as f64 / 30.0,
                30..100 => 20.0 + 10.0 * (dt - 30) as f64 / 70.0,
                _ => 30.0,
            })
            .collect();
        for (g, e) in got.iter().zip(&expected) {
            assert!((g - e).abs() < 1e-9, "{got:?} against {expected:?}");
        }
        assert_eq!((got[1], got[8], got[9]), (14.0, 20.0 + 10.0 * 66.0 / 70.0, 30.0));
    }

    #[test]
    fn rows_at_a_repeated_timestamp_merge_and_the_last_wins() {
        let parsed = parse_csv("t.csv", "timestamp,price\n1000,10\n1000,11\n1000,12\n1030,20\n").unwrap();
        assert_eq!(parsed, Parsed { rows: vec![(1000, 12.0), (1030, 20.0)], merged: 2 });
        let file = std::env::temp_dir().join(format!("vigil-price-merged-{}", std::process::id()));
        std::fs::write(&file, "timestamp,price\n1000,10\n1000,11\n1030,20\n").unwrap();
        let path = PricePath::from_csv(&file, 2, 1).unwrap();
        std::fs::remove_file(&file).ok();
        assert_eq!(path.at(0), 11.0);
        assert!(
            path.source().contains("2 rows, 1 row at a repeated timestamp merged (the last wins)"),
            "{}",
            path.source()
        );
    }

    #[test]
    fn bad_csv_rows_name_file_line_and_field() {
        let cases = [
            ("time,price\n1,2\n", "t.csv: line 1: row: expected the header `timestamp,price`, found `time,price`"),
            ("timestamp,price\n1,2\nx,3\n", "t.csv: line 3: timestamp: `x` is not UNIX seconds"),
            ("timestamp,price\n1,abc\n", "t.csv: line 2: price: `abc` is not a number"),
            ("timestamp,price\n1,-5\n", "t.csv: line 2: price: -5 is not a positive price"),
            ("timestamp,price\n5,1\n4,2\n", "t.csv: line 3: timestamp: 4 is earlier than the previous row's 5"),
            ("timestamp,price\n5,1,2\n", "t.csv: line 2: row: expected two columns, found `5,1,2`"),
            ("timestamp,price\n", "t.csv: no price rows after the header `timestamp,price`"),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_csv("t.csv", text).unwrap_err().to_string(), expected);
        }
    }
}
