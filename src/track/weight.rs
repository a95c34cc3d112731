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

/// A check script (keepalived `vrrp_script` + `track_script`): weight 0 and failed means Fault;
/// a positive weight is added while healthy; a negative weight is added (subtracted) while failed.
pub fn script_weight(weight: i32, healthy: bool) -> Applied {
    match (weight, healthy) {
        (0, false) => Applied::Fault,
        (w, true) if w > 0 => Applied::Weight(w),
        (w, false) if w < 0 => Applied::Weight(w),
        _ => Applied::None,
    }
}

/// A tracked interface (`track_interfaces`): no weight and down means Fault; otherwise as a
/// script whose health is the link state.
pub fn interface_weight(weight: Option<i32>, up: bool) -> Applied {
    match weight {
        None if !up => Applied::Fault,
        None => Applied::None,
        Some(w) if w == 0 && up => Applied::None,
        Some(w) => script_weight(w, up),
    }
}

/// The product below which a tracked file puts the instance in Fault (keepalived: "less than -253").
const FILE_FAULT_BELOW: i64 = -253;

/// A tracked file (keepalived `track_file`). `value` None means the file is missing or does not
/// hold an integer; it counts as 0 (keepalived reads a missing file as 0), so it never causes a
/// Fault nor moves the priority.
///
/// - weight 0: a non-zero value means Fault, 0 means OK;
/// - otherwise `value * weight` is added, clamped to -253..=254; a product below -253 means
///   Fault (keepalived: "if the result is less than -253 the instance goes to fault").
pub fn file_weight(weight: i32, value: Option<i64>) -> Applied {
    let value = value.unwrap_or(0);
    if weight == 0 {
        return if value != 0 {
            Applied::Fault
        } else {
            Applied::None
        };
    }
    let product = value.saturating_mul(i64::from(weight));
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
        assert_eq!(script_weight(0, false), Applied::Fault);
        assert_eq!(script_weight(0, true), Applied::None);
        assert_eq!(script_weight(20, true), Applied::Weight(20));
        assert_eq!(script_weight(20, false), Applied::None);
        assert_eq!(script_weight(-20, false), Applied::Weight(-20));
        assert_eq!(script_weight(-20, true), Applied::None);
        // master 150 with weight -60 vs backup 100: 90 < 100, the backup takes over.
        let p = effective_priority(150, script_weight(-60, false).weight());
        assert_eq!(p, 90);
    }

    #[test]
    fn interface_semantics() {
        assert_eq!(interface_weight(None, false), Applied::Fault);
        assert_eq!(interface_weight(None, true), Applied::None);
        assert_eq!(interface_weight(Some(-30), false), Applied::Weight(-30));
        assert_eq!(interface_weight(Some(-30), true), Applied::None);
        assert_eq!(interface_weight(Some(2), true), Applied::Weight(2));
        assert_eq!(interface_weight(Some(0), true), Applied::None);
        assert_eq!(interface_weight(Some(0), false), Applied::Fault);
    }

    /// keepalived `track_file`: value * weight; weight 0 -> non-zero value is a fault;
    /// a result below -253 is a fault.
    #[test]
    fn file_semantics() {
        assert_eq!(file_weight(0, Some(0)), Applied::None);
        assert_eq!(file_weight(0, Some(1)), Applied::Fault);
        assert_eq!(file_weight(0, Some(-5)), Applied::Fault);
        assert_eq!(file_weight(1, Some(30)), Applied::Weight(30));
        assert_eq!(file_weight(1, Some(-30)), Applied::Weight(-30));
        assert_eq!(file_weight(-2, Some(10)), Applied::Weight(-20));
        assert_eq!(file_weight(1, Some(0)), Applied::None);
        assert_eq!(file_weight(10, Some(100)), Applied::Weight(254));
        assert_eq!(file_weight(1, Some(-253)), Applied::Weight(-253));
        assert_eq!(file_weight(1, Some(-254)), Applied::Fault);
        assert_eq!(file_weight(254, Some(i64::MIN)), Applied::Fault);
        assert_eq!(file_weight(254, Some(i64::MAX)), Applied::Weight(254));
        // Unreadable counts as 0.
        assert_eq!(file_weight(0, None), Applied::None);
        assert_eq!(file_weight(5, None), Applied::None);
    }
}
