//! Seeded randomness: xoshiro256** seeded by splitmix64, and netem's
//! correlated draws. The same seed gives the same draws on every machine
//! and every version, so a run can be repeated.

/// xoshiro256** (Blackman and Vigna).
#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// A generator seeded from `seed`.
    pub fn seeded(seed: u64) -> Self {
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        Self {
            s: [next(), next(), next(), next()],
        }
    }

    /// A seed from the operating system's entropy.
    pub fn entropy_seed() -> u64 {
        let mut buf = [0u8; 8];
        if std::fs::File::open("/dev/urandom")
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut buf))
            .is_ok()
        {
            return u64::from_le_bytes(buf);
        }
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// The next 32 random bits.
    pub fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// A number in `0..n` (n > 0), without modulo bias worth measuring.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// A number in the open interval (0, 1).
    pub fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
}

/// netem's correlated draw (`get_crandom`): each value is a weighted mean
/// of a fresh draw and the previous value, with weight `rho` on the past.
#[derive(Debug, Clone, Default)]
pub struct Correlated {
    rho: u32,
    last: u32,
}

impl Correlated {
    /// Correlation given as a percentage.
    pub fn new(percent: f64) -> Self {
        Self {
            rho: scale(percent),
            last: 0,
        }
    }

    /// The next 32-bit draw.
    pub fn next(&mut self, rng: &mut Rng) -> u32 {
        let value = u64::from(rng.next_u32());
        if self.rho == 0 {
            return value as u32;
        }
        let rho = u64::from(self.rho) + 1;
        let answer = ((value * ((1u64 << 32) - rho) + u64::from(self.last) * rho) >> 32) as u32;
        self.last = answer;
        answer
    }
}

/// A percentage as netem carries it: a fraction of `u32::MAX`.
pub fn scale(percent: f64) -> u32 {
    (percent / 100.0 * f64::from(u32::MAX)).round() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_draws() {
        let (mut a, mut b) = (Rng::seeded(42), Rng::seeded(42));
        for _ in 0..1000 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        assert_ne!(Rng::seeded(1).next_u64(), Rng::seeded(2).next_u64());
    }

    #[test]
    fn draws_are_uniform_enough() {
        // 16 buckets of 160,000 draws: each expects 10,000, sd 97; 6 sd is 582.
        let mut rng = Rng::seeded(7);
        let mut buckets = [0u32; 16];
        for _ in 0..160_000 {
            buckets[rng.below(16) as usize] += 1;
        }
        for b in buckets {
            assert!((9_418..=10_582).contains(&b), "{buckets:?}");
        }
    }

    #[test]
    fn correlation_makes_consecutive_draws_alike() {
        let mut rng = Rng::seeded(3);
        let mut c = Correlated::new(90.0);
        let draws: Vec<f64> = (0..10_000).map(|_| f64::from(c.next(&mut rng))).collect();
        let mean_step = draws.windows(2).map(|w| (w[1] - w[0]).abs()).sum::<f64>() / 9_999.0;
        // Independent uniform draws differ by a third of the range on average.
        assert!(mean_step < f64::from(u32::MAX) / 3.0 / 3.0, "{mean_step}");
    }
}
