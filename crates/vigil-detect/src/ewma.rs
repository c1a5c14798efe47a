//! The one exponentially weighted mean and variance the statistical detectors share (price deviation's z-score
//! of log returns, the series methods `ewma-zscore` and `cusum`).
//!
//! With decay λ, a sample y updates d = y − μ; μ ← μ + (1 − λ)·d; v ← λ·(v + (1 − λ)·d²). [`Ewma::update`] starts
//! from μ = 0 (a mean of returns); [`Ewma::absorb`] lets the first sample set μ (a level); [`Ewma::corrected_sd`]
//! is the bias-corrected standard deviation √(v / (1 − λⁿ)) after n updates.

vigil_core::defaults! {
    /// The decay λ per block the statistical detectors default to.
    pub(crate) default_lambda: f64 = 0.97;
    /// The samples they see before they report, by default.
    pub(crate) default_warmup: u64 = 30;
}

/// An exponentially weighted mean and variance.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Ewma {
    /// μ.
    pub(crate) mean: f64,
    /// v.
    pub(crate) var: f64,
    /// Samples seen.
    pub(crate) samples: u64,
}

impl Ewma {
    /// One update with sample `y`.
    pub(crate) fn update(&mut self, y: f64, lambda: f64) {
        let d = y - self.mean;
        self.mean += (1.0 - lambda) * d;
        self.var = lambda * (self.var + (1.0 - lambda) * d * d);
        self.samples += 1;
    }

    /// Sample `y`: the first sets the mean (variance 0), the later ones update it.
    pub(crate) fn absorb(&mut self, y: f64, lambda: f64) {
        if self.samples == 0 {
            (self.mean, self.var, self.samples) = (y, 0.0, 1);
        } else {
            self.update(y, lambda);
        }
    }

    /// √v.
    pub(crate) fn sd(&self) -> f64 {
        self.var.sqrt()
    }

    /// The bias-corrected standard deviation of an EWMA fed by [`Ewma::absorb`] (0 before its second sample).
    pub(crate) fn corrected_sd(&self, lambda: f64) -> f64 {
        let updates = self.samples.saturating_sub(1);
        if updates == 0 {
            return 0.0;
        }
        let norm = 1.0 - lambda.powi(updates.min(i32::MAX as u64) as i32);
        (self.var / norm).max(0.0).sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::Ewma;

    #[test]
    fn update_and_absorb_follow_the_recursion() {
        let mut e = Ewma::default();
        e.update(1.0, 0.5);
        assert_eq!((e.mean, e.var, e.samples), (0.5, 0.25, 1));
        let mut a = Ewma::default();
        a.absorb(10.0, 0.5);
        assert_eq!((a.mean, a.var, a.corrected_sd(0.5)), (10.0, 0.0, 0.0));
        a.absorb(12.0, 0.5);
        assert_eq!((a.mean, a.var), (11.0, 1.0));
        assert!((a.corrected_sd(0.5) - 2f64.sqrt()).abs() < 1e-12);
    }
}
