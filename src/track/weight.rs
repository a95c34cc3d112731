//! Pure weight arithmetic, with keepalived's semantics so migrated configs behave the same.

/// What one tracked object contributes to its instance right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// Add this (possibly negative) amount to the base priority.
    Weight(i32),
    /// The instance must be in Fault.
    Fault,
    /// No effect.
    None,
}

impl Applied {
    /// The weight to pass to [`effective_priority`], if any.
    pub fn weight(self) -> Option<i32> {
        match self {
            Applied::Weight(w) => Some(w),
            _ => None,
        }
    }
    pub fn is_fault(self) -> bool {
        self == Applied::Fault
    }
}

/// Base priority plus the applied weights, clamped to 1..=254; the owner (255) is never changed.
pub fn effective_priority(base: u8, weights: impl IntoIterator<Item = i32>) -> u8 {
    if base == 255 {
        return 255;
    }
    let sum: i64 = weights.into_iter().map(i64::from).sum();
    let p = (i64::from(base) + sum).clamp(1, 254);
    u8::try_from(p).unwrap_or(254)
}

/// The sign keepalived's `reverse` gives a weight (its `weight_multiplier`): -1 reversed.
fn multiplier(reverse: bool) -> i32 {
    if reverse { -1 } else { 1 }
}

/// A check script (keepalived `vrrp_script` + `track_script`): weight 0 and failed means Fault;
/// a positive weight is added while healthy; a negative weight is added (subtracted) while failed.
///
/// `reverse` (keepalived's `weight N reverse`): the condition stays, the applied weight is
/// negated: a positive weight is subtracted while healthy, a negative one added while failed,
/// and weight 0 means Fault while healthy.
pub fn script_weight(weight: i32, reverse: bool, healthy: bool) -> Applied {
    match (weight, healthy) {
        (0, h) if h == reverse => Applied::Fault,
        (w, true) if w > 0 => Applied::Weight(w * multiplier(reverse)),
        (w, false) if w < 0 => Applied::Weight(w * multiplier(reverse)),
        _ => Applied::None,
    }
}

/// A tracked interface (`track_interfaces`): no weight and down means Fault; otherwise as a
/// script whose health is the link state. With `reverse`, no weight is weight 0 reversed:
/// Fault while up.
pub fn interface_weight(weight: Option<i32>, reverse: bool, up: bool) -> Applied {
    script_weight(weight.unwrap_or(0), reverse, up)
}

/// The product below which a tracked file puts the instance in Fault (keepalived: "less than -253").
const FILE_FAULT_BELOW: i64 = -253;

/// A tracked file (keepalived `track_file`). `value` None means the file is missing or does not
/// hold an integer; it counts as 0 (keepalived reads a missing file as 0), so it never causes a
/// Fault nor moves the priority (reversed with weight 0, it is a Fault: see below).
///
/// - weight 0: a non-zero value means Fault, 0 means OK;
/// - otherwise `value * weight` is added, clamped to -253..=254; a product below -253 means
///   Fault (keepalived: "if the result is less than -253 the instance goes to fault").
///
/// `reverse`: weight 0 means Fault while the value is 0 (OK while non-zero); otherwise
/// `value * weight * -1` is applied as above.
pub fn file_weight(weight: i32, reverse: bool, value: Option<i64>) -> Applied {
    let value = value.unwrap_or(0);
    if weight == 0 {
        return if (value != 0) != reverse {
            Applied::Fault
        } else {
            Applied::None
        };
    }
    let product = value
        .saturating_mul(i64::from(weight))
        .saturating_mul(i64::from(multiplier(reverse)));
    if product < FILE_FAULT_BELOW {
        return Applied::Fault;
    }
    match i32::try_from(product.min(254)) {
        Ok(0) | Err(_) => Applied::None,
        Ok(w) => Applied::Weight(w),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priority_clamps_and_owner() {
        assert_eq!(effective_priority(100, []), 100);
        assert_eq!(effective_priority(100, [-20, 5]), 85);
        assert_eq!(effective_priority(100, [-200]), 1);
        assert_eq!(effective_priority(100, [200]), 254);
        assert_eq!(effective_priority(254, [1]), 254);
        assert_eq!(effective_priority(1, [-1]), 1);
        // Never overflows, whatever the sum.
        assert_eq!(effective_priority(100, [i32::MIN, i32::MIN]), 1);
        assert_eq!(effective_priority(100, [i32::MAX, i32::MAX]), 254);
        // The address owner is never changed by tracking.
        assert_eq!(effective_priority(255, [-253]), 255);
        assert_eq!(effective_priority(255, [10]), 255);
    }

    /// keepalived `vrrp_script`: `weight 0` -> fault when failed; `weight +w` -> +w while OK;
    /// `weight -w` -> -w while KO.
    #[test]
    fn script_semantics() {
        assert_eq!(script_weight(0, false, false), Applied::Fault);
        assert_eq!(script_weight(0, false, true), Applied::None);
        assert_eq!(script_weight(20, false, true), Applied::Weight(20));
        assert_eq!(script_weight(20, false, false), Applied::None);
        assert_eq!(script_weight(-20, false, false), Applied::Weight(-20));
        assert_eq!(script_weight(-20, false, true), Applied::None);
        // master 150 with weight -60 vs backup 100: 90 < 100, the backup takes over.
        let p = effective_priority(150, script_weight(-60, false, false).weight());
        assert_eq!(p, 90);
    }

    #[test]
    fn interface_semantics() {
        assert_eq!(interface_weight(None, false, false), Applied::Fault);
        assert_eq!(interface_weight(None, false, true), Applied::None);
        assert_eq!(
            interface_weight(Some(-30), false, false),
            Applied::Weight(-30)
        );
        assert_eq!(interface_weight(Some(-30), false, true), Applied::None);
        assert_eq!(interface_weight(Some(2), false, true), Applied::Weight(2));
        assert_eq!(interface_weight(Some(0), false, true), Applied::None);
        assert_eq!(interface_weight(Some(0), false, false), Applied::Fault);
    }

    /// keepalived `track_file`: value * weight; weight 0 -> non-zero value is a fault;
    /// a result below -253 is a fault.
    #[test]
    fn file_semantics() {
        assert_eq!(file_weight(0, false, Some(0)), Applied::None);
        assert_eq!(file_weight(0, false, Some(1)), Applied::Fault);
        assert_eq!(file_weight(0, false, Some(-5)), Applied::Fault);
        assert_eq!(file_weight(1, false, Some(30)), Applied::Weight(30));
        assert_eq!(file_weight(1, false, Some(-30)), Applied::Weight(-30));
        assert_eq!(file_weight(-2, false, Some(10)), Applied::Weight(-20));
        assert_eq!(file_weight(1, false, Some(0)), Applied::None);
        assert_eq!(file_weight(10, false, Some(100)), Applied::Weight(254));
        assert_eq!(file_weight(1, false, Some(-253)), Applied::Weight(-253));
        assert_eq!(file_weight(1, false, Some(-254)), Applied::Fault);
        assert_eq!(file_weight(254, false, Some(i64::MIN)), Applied::Fault);
        assert_eq!(
            file_weight(254, false, Some(i64::MAX)),
            Applied::Weight(254)
        );
        // Unreadable counts as 0.
        assert_eq!(file_weight(0, false, None), Applied::None);
        assert_eq!(file_weight(5, false, None), Applied::None);
    }

    /// keepalived `weight N reverse` on a script (and a process, which uses the same rule):
    /// the condition stays, the weight is applied negated.
    #[test]
    fn script_reverse_semantics() {
        // Positive weight: subtracted while healthy, nothing while failed.
        assert_eq!(script_weight(20, true, true), Applied::Weight(-20));
        assert_eq!(script_weight(20, true, false), Applied::None);
        // Negative weight: added while failed, nothing while healthy.
        assert_eq!(script_weight(-20, true, false), Applied::Weight(20));
        assert_eq!(script_weight(-20, true, true), Applied::None);
        // Weight 0: Fault while healthy, OK while failed.
        assert_eq!(script_weight(0, true, true), Applied::Fault);
        assert_eq!(script_weight(0, true, false), Applied::None);
        // "The backup takes over while the primary is up": 150 - 60 = 90 < a backup at 100.
        let p = effective_priority(150, script_weight(60, true, true).weight());
        assert_eq!(p, 90);
        // The bounds hold reversed as well.
        assert_eq!(script_weight(253, true, true), Applied::Weight(-253));
        assert_eq!(script_weight(-253, true, false), Applied::Weight(253));
    }

    /// keepalived `track_interface eth1 weight N reverse`.
    #[test]
    fn interface_reverse_semantics() {
        assert_eq!(interface_weight(Some(30), true, true), Applied::Weight(-30));
        assert_eq!(interface_weight(Some(30), true, false), Applied::None);
        assert_eq!(
            interface_weight(Some(-30), true, false),
            Applied::Weight(30)
        );
        assert_eq!(interface_weight(Some(-30), true, true), Applied::None);
        // Weight 0 (or none) reversed: Fault while the interface is up.
        assert_eq!(interface_weight(Some(0), true, true), Applied::Fault);
        assert_eq!(interface_weight(Some(0), true, false), Applied::None);
        assert_eq!(interface_weight(None, true, true), Applied::Fault);
        assert_eq!(interface_weight(None, true, false), Applied::None);
    }

    /// keepalived `track_file` with `weight N reverse`: `value * weight * -1`; weight 0
    /// reversed is a Fault while the value is 0 (a missing file reads as 0).
    #[test]
    fn file_reverse_semantics() {
        assert_eq!(file_weight(0, true, Some(0)), Applied::Fault);
        assert_eq!(file_weight(0, true, None), Applied::Fault);
        assert_eq!(file_weight(0, true, Some(1)), Applied::None);
        assert_eq!(file_weight(0, true, Some(-5)), Applied::None);
        assert_eq!(file_weight(1, true, Some(30)), Applied::Weight(-30));
        assert_eq!(file_weight(1, true, Some(-30)), Applied::Weight(30));
        assert_eq!(file_weight(-2, true, Some(10)), Applied::Weight(20));
        assert_eq!(file_weight(5, true, None), Applied::None);
        // The product's bounds apply after the sign: -254 and below is a Fault...
        assert_eq!(file_weight(1, true, Some(254)), Applied::Fault);
        assert_eq!(file_weight(1, true, Some(253)), Applied::Weight(-253));
        // ...and a large negative product, reversed, is clamped to 254.
        assert_eq!(file_weight(10, true, Some(-100)), Applied::Weight(254));
        assert_eq!(file_weight(254, true, Some(i64::MIN)), Applied::Weight(254));
        assert_eq!(file_weight(254, true, Some(i64::MAX)), Applied::Fault);
    }
}
