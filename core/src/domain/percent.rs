//! Percentages in integer hundredths, rounded half up.

use std::fmt;

/// A percentage in hundredths of a percent (`8163` is 81.63%).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Percent(pub u32);

impl Percent {
    /// `count / of`, in hundredths of a percent, rounded half up; zero when `of` is zero.
    ///
    /// floor(x + 1/2) with x = count·10000/of is floor((2·count·10000 + of) / (2·of)),
    /// computed in u128 so that no count can overflow.
    pub fn of(count: u64, of: u64) -> Percent {
        if of == 0 {
            return Percent(0);
        }
        let num = 2 * u128::from(count) * 10_000 + u128::from(of);
        let v = num / (2 * u128::from(of));
        Percent(u32::try_from(v).unwrap_or(u32::MAX))
    }

    /// With a decimal dot and exactly two decimals (`81.63`), as in JSON.
    pub fn dot(self) -> String {
        format!("{}.{:02}", self.0 / 100, self.0 % 100)
    }

    /// With a decimal comma (`81,63`), as Vietnamese text is written.
    pub fn comma(self) -> String {
        format!("{},{:02}", self.0 / 100, self.0 % 100)
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.dot())
    }
}

#[cfg(test)]
mod tests {
    use super::Percent;
    use proptest::prelude::*;

    fn check(count: u64, of: u64, expect: &str) {
        assert_eq!(Percent::of(count, of).dot(), expect, "{count}/{of}");
    }

    #[test]
    fn examples() {
        check(40, 49, "81.63");
        check(8, 49, "16.33");
        check(1, 49, "2.04");
        check(48, 49, "97.96");
        check(1, 8, "12.50");
        // 1/80000 = 0.00125% → 0.00; 1/400 = 0.25%; 1/16 = 6.25%.
        check(1, 80_000, "0.00");
        check(1, 16, "6.25");
        // exactly half a hundredth rounds up: 1/1600 = 0.0625% → 0.06, 1/2000=0.05
        check(1, 2000, "0.05");
        check(1, 3, "33.33");
        check(2, 3, "66.67");
        check(0, 0, "0.00");
        check(7, 7, "100.00");
        assert_eq!(Percent::of(48, 49).comma(), "97,96");
    }

    proptest! {
        /// The rounded value is within half a hundredth of the exact one, and exactly
        /// half rounds up.
        #[test]
        fn rounds_half_up(count in 0u64..1_000_000, of in 1u64..1_000_000) {
            let p = u128::from(Percent::of(count, of).0);
            let exact_x2 = 2 * u128::from(count) * 10_000; // 2·x·of
            let of = u128::from(of);
            // |p - x| <= 1/2  <=>  2·p·of - of <= 2·x·of < 2·p·of + of (half up)
            prop_assert!(2 * p * of <= exact_x2 + of);
            prop_assert!(exact_x2 + of < 2 * p * of + 2 * of);
        }

        #[test]
        fn never_exceeds_hundred_when_count_le_of(of in 1u64..1_000_000, frac in 0u64..=1000) {
            let count = of * frac / 1000;
            prop_assert!(Percent::of(count, of).0 <= 10_000);
        }
    }
}
