//! Bounds for checks on random processes that must not be flaky.
//!
//! Each check states a false-failure probability (at most 1e-6 per
//! assertion) and derives its bound from the sample size: the exact
//! Clopper-Pearson interval for a binomial proportion.

/// The false-failure probability of every statistical assertion.
pub const FALSE_FAILURE: f64 = 1e-6;

/// Two-sided Clopper-Pearson interval for `k` successes in `n` trials at
/// confidence `1 - alpha`: the true proportion lies outside it with
/// probability at most `alpha`.
pub fn clopper_pearson(k: u64, n: u64, alpha: f64) -> (f64, f64) {
    assert!(n > 0 && k <= n, "k = {k} of n = {n}");
    let (k, nf) = (k as f64, n as f64);
    let lower = if k == 0.0 {
        0.0
    } else {
        beta_quantile(alpha / 2.0, k, nf - k + 1.0)
    };
    let upper = if k == nf {
        1.0
    } else {
        beta_quantile(1.0 - alpha / 2.0, k + 1.0, nf - k)
    };
    (lower, upper)
}

/// The verdict of one proportion against its expectation.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct ProportionCheck {
    pub observed: f64,
    pub expected: f64,
    pub lower: f64,
    pub upper: f64,
    pub successes: u64,
    pub trials: u64,
    pub pass: bool,
}

impl ProportionCheck {
    /// Whether `expected` is consistent with `k` of `n` at [`FALSE_FAILURE`].
    pub fn new(k: u64, n: u64, expected: f64) -> Self {
        let (lower, upper) = clopper_pearson(k, n, FALSE_FAILURE);
        let observed = k as f64 / n as f64;
        Self {
            observed,
            expected,
            lower,
            upper,
            successes: k,
            trials: n,
            pass: (lower..=upper).contains(&expected),
        }
    }
}

impl std::fmt::Display for ProportionCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "observed {:.4} ({} of {}), expected {:.4}, {:.4}..{:.4} at false-failure {FALSE_FAILURE:e}: {}",
            self.observed,
            self.successes,
            self.trials,
            self.expected,
            self.lower,
            self.upper,
            if self.pass { "pass" } else { "FAIL" }
        )
    }
}

/// The `p`-quantile of Beta(a, b), by bisection on the regularized
/// incomplete beta function.
fn beta_quantile(p: f64, a: f64, b: f64) -> f64 {
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if incomplete_beta(mid, a, b) < p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// The regularized incomplete beta function I_x(a, b), by its continued
/// fraction (modified Lentz), using the symmetry for x past the mean.
pub fn incomplete_beta(x: f64, a: f64, b: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    if x < (a + 1.0) / (a + b + 2.0) {
        (ln_front.exp() * continued_fraction(x, a, b) / a).min(1.0)
    } else {
        (1.0 - ln_front.exp() * continued_fraction(1.0 - x, b, a) / b).max(0.0)
    }
}

fn continued_fraction(x: f64, a: f64, b: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let mut c = 1.0;
    let mut d = 1.0 - (a + b) * x / (a + 1.0);
    d = if d.abs() < TINY { TINY } else { d };
    d = 1.0 / d;
    let mut h = d;
    for m in 1..10_000 {
        let m = f64::from(m);
        for numerator in [
            m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0)),
        ] {
            d = 1.0 + numerator * d;
            d = if d.abs() < TINY { TINY } else { d };
            c = 1.0 + numerator / c;
            c = if c.abs() < TINY { TINY } else { c };
            d = 1.0 / d;
            h *= d * c;
        }
        if (d * c - 1.0).abs() < 1e-15 {
            break;
        }
    }
    h
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9).
fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        return (std::f64::consts::PI / (std::f64::consts::PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let t = x + 7.5;
    let sum = G[0] + (1..9).map(|i| G[i] / (x + i as f64)).sum::<f64>();
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incomplete_beta_matches_known_values() {
        // I_x(1, 1) = x; I_x(2, 1) = x^2; I_0.5(a, a) = 0.5.
        assert!((incomplete_beta(0.3, 1.0, 1.0) - 0.3).abs() < 1e-12);
        assert!((incomplete_beta(0.3, 2.0, 1.0) - 0.09).abs() < 1e-12);
        assert!((incomplete_beta(0.5, 7.5, 7.5) - 0.5).abs() < 1e-12);
        // Binomial tail: P(X <= 3 | n = 10, p = 0.5) = 176/1024 = I_0.5(7, 4).
        assert!((incomplete_beta(0.5, 7.0, 4.0) - 176.0 / 1024.0).abs() < 1e-12);
    }

    #[test]
    fn clopper_pearson_matches_the_textbook_interval() {
        // 95% interval for 5 of 20: 0.0866..0.4910 (Clopper and Pearson 1934 tables).
        let (lo, hi) = clopper_pearson(5, 20, 0.05);
        assert!(
            (lo - 0.0866).abs() < 1e-4 && (hi - 0.4910).abs() < 1e-4,
            "{lo} {hi}"
        );
        assert_eq!(clopper_pearson(0, 10, 0.05).0, 0.0);
        assert_eq!(clopper_pearson(10, 10, 0.05).1, 1.0);
    }

    #[test]
    fn a_right_expectation_passes_and_a_wrong_one_fails() {
        // 3600 losses in 10000 round trips of p = 20% per direction: 1-(1-p)^2 = 0.36.
        assert!(ProportionCheck::new(3_600, 10_000, 0.36).pass);
        // A verdict that forgot the second direction expects 0.20: it must fail.
        let wrong = ProportionCheck::new(3_600, 10_000, 0.20);
        assert!(!wrong.pass, "{wrong}");
    }

    #[test]
    fn interval_width_shrinks_with_the_sample() {
        let (l1, u1) = clopper_pearson(360, 1_000, FALSE_FAILURE);
        let (l2, u2) = clopper_pearson(36_000, 100_000, FALSE_FAILURE);
        assert!(u2 - l2 < (u1 - l1) / 5.0);
    }
}
