//! Bounded lifting of a plugin's result (Issue #11 item 3, docs/security-checklist.md W-18).
//!
//! Lifting is the canonical-ABI step that copies a guest's return value out
//! of its linear memory into host `String`s and `Vec`s. The ABI lets a result
//! name the same bytes any number of times: a `list<string>` of twelve
//! entries can all point at one 10 MiB string, and the bindgen'd lift (like
//! any lift into `String`/`Vec`) copies each entry in full, and sizes a `Vec`
//! from the guest's length before reading an element. Such a result made the
//! host copy 120 MiB from a plugin holding 10 MiB, all before the output size
//! check in `verdict.rs` could look at it. (wasmtime's own "hostcall fuel"
//! stops a lift at 128 MiB by default; it is one per store and also bounds
//! every argument of every host import, such as a `host.log` message, so
//! lowering it to the output cap would make long log lines trap.)
//!
//! The result is therefore lifted into the types below instead of the
//! generated ones. They have exactly the generated types' canonical-ABI shape
//! (same `Lower` representation and ABI, type-checked against the export like
//! the generated types), but every string and list first charges its
//! *length as stored in the guest's ABI words* to the call's [`budget`],
//! before anything is copied or allocated. Once the budget is spent the lift
//! fails with [`OverBudget`], which the call reports as
//! [`crate::PluginFailure::OversizedOutput`]. Lifting must happen during the
//! call, before the guest's `post-return` frees its buffers, which is why the
//! check sits inside the lift rather than after it (the zero-copy `WasmStr`
//! is read only after `post-return` in wasmtime 48).
//!
//! What a charge counts: a string's length in code units (bytes for UTF-8
//! guests; for UTF-16 or Latin-1 guests never more than the UTF-8 bytes the
//! same text needs), and one unit per list entry (a valid scope is at least
//! one byte). Any output that passes `verdict.rs`'s check (at most
//! `max_output_bytes` bytes, scopes not empty) costs at most twice
//! `max_output_bytes`, so the budget is [`budget_for`]`(max_output_bytes)`
//! and never refuses a valid result. What it bounds: the host copies at most
//! that many code units of text (at most 3 bytes of UTF-8 each) and at most
//! that many list entries (24 bytes each), whatever the guest's memory holds:
//! about 1.1 MiB at the default 20 KiB output cap, against 64 MiB of plugin
//! memory.

use std::cell::Cell;

use wasmtime::ValRaw;
use wasmtime::component::__internal::{CanonicalAbiInfo, InstanceType, InterfaceType, LiftContext};
use wasmtime::component::{ComponentType, Lift};

use crate::bindings::wit;

/// The canonical ABI's tag bit on a `latin1+utf16` string length; the rest
/// of the word is the length in code units.
const UTF16_TAG: u32 = 1 << 31;

/// The lift budget for an output cap: twice the cap (see the module docs).
pub(crate) fn budget_for(max_output_bytes: usize) -> usize {
    max_output_bytes.saturating_mul(2)
}

/// The lift ran past its budget: the result names more text or entries than
/// an acceptable output can hold. `charged` is what had been charged when
/// the lift stopped, a lower bound of the output's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("plugin output exceeds the host's lift budget ({charged} > {budget} units)")]
pub(crate) struct OverBudget {
    pub charged: usize,
    pub budget: usize,
}

#[derive(Clone, Copy)]
struct Budget {
    limit: usize,
    charged: usize,
}

thread_local! {
    /// The budget of the lift running on this thread. Lifting happens
    /// synchronously inside `TypedFunc::call` on the calling thread, and one
    /// thread runs one call at a time, so a thread-local is exactly the
    /// call's scope.
    static BUDGET: Cell<Option<Budget>> = const { Cell::new(None) };
}

/// Runs `f` (a call whose result is lifted into the gated types) with a lift
/// budget of `limit` units; the previous budget (none) is restored after.
pub(crate) fn with_budget<R>(limit: usize, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<Budget>);
    impl Drop for Restore {
        fn drop(&mut self) {
            BUDGET.with(|b| b.set(self.0));
        }
    }
    let _restore = Restore(BUDGET.with(|b| b.replace(Some(Budget { limit, charged: 0 }))));
    f()
}

/// Charges `units` to the running lift's budget. Outside [`with_budget`]
/// every charge fails: a gated type lifted elsewhere is a host bug, and
/// refusing is the safe side.
fn charge(units: usize) -> wasmtime::Result<()> {
    BUDGET.with(|cell| {
        let Some(mut b) = cell.get() else {
            return Err(OverBudget { charged: units, budget: 0 }.into());
        };
        b.charged = b.charged.saturating_add(units);
        cell.set(Some(b));
        if b.charged > b.limit {
            return Err(OverBudget { charged: b.charged, budget: b.limit }.into());
        }
        Ok(())
    })
}

/// The length word of a pointer pair stored in linear memory (`ptr`, `len`,
/// both little-endian `u32`: memory64 is off in this engine).
fn stored_len(bytes: &[u8]) -> u32 {
    let mut word = [0u8; 4];
    if let Some(src) = bytes.get(4..8) {
        word.copy_from_slice(src);
    }
    u32::from_le_bytes(word)
}

fn string_units(len: u32) -> usize {
    usize::try_from(len & !UTF16_TAG).unwrap_or(usize::MAX)
}

/// A `string` lifted only after its length was charged to the budget.
#[derive(Debug)]
pub(crate) struct GatedString(pub String);

// SAFETY: every item is `String`'s own, so the representation, ABI and type
// check are exactly those of a `string`.
#[allow(unsafe_code)]
unsafe impl ComponentType for GatedString {
    type Lower = [ValRaw; 2];
    const ABI: CanonicalAbiInfo = <String as ComponentType>::ABI;

    fn typecheck(ty: &InterfaceType, types: &InstanceType<'_>) -> wasmtime::Result<()> {
        <String as ComponentType>::typecheck(ty, types)
    }
}

// SAFETY: the value is lifted by `String`'s own implementation, from the same
// flat values or bytes; this only reads the length word first.
#[allow(unsafe_code)]
unsafe impl Lift for GatedString {
    fn linear_lift_from_flat(cx: &mut LiftContext<'_>, ty: InterfaceType, src: &Self::Lower) -> wasmtime::Result<Self> {
        charge(string_units(src[1].get_u32()))?;
        String::linear_lift_from_flat(cx, ty, src).map(Self)
    }

    fn linear_lift_from_memory(cx: &mut LiftContext<'_>, ty: InterfaceType, bytes: &[u8]) -> wasmtime::Result<Self> {
        charge(string_units(stored_len(bytes)))?;
        String::linear_lift_from_memory(cx, ty, bytes).map(Self)
    }
}

/// A `list<T>` lifted only after its entry count was charged to the budget
/// (`Vec`'s lift reserves room for every entry before reading one).
#[derive(Debug)]
pub(crate) struct GatedList<T>(pub Vec<T>);

// SAFETY: every item is `Vec<T>`'s own, so the representation, ABI and type
// check are exactly those of a `list<T>`.
#[allow(unsafe_code)]
unsafe impl<T: ComponentType> ComponentType for GatedList<T> {
    type Lower = [ValRaw; 2];
    const ABI: CanonicalAbiInfo = <Vec<T> as ComponentType>::ABI;

    fn typecheck(ty: &InterfaceType, types: &InstanceType<'_>) -> wasmtime::Result<()> {
        <Vec<T> as ComponentType>::typecheck(ty, types)
    }
}

// SAFETY: the value is lifted by `Vec<T>`'s own implementation, from the same
// flat values or bytes; this only reads the length word first.
#[allow(unsafe_code)]
unsafe impl<T: Lift> Lift for GatedList<T> {
    fn linear_lift_from_flat(cx: &mut LiftContext<'_>, ty: InterfaceType, src: &Self::Lower) -> wasmtime::Result<Self> {
        charge(usize::try_from(src[1].get_u32()).unwrap_or(usize::MAX))?;
        Vec::<T>::linear_lift_from_flat(cx, ty, src).map(Self)
    }

    fn linear_lift_from_memory(cx: &mut LiftContext<'_>, ty: InterfaceType, bytes: &[u8]) -> wasmtime::Result<Self> {
        charge(usize::try_from(stored_len(bytes)).unwrap_or(usize::MAX))?;
        Vec::<T>::linear_lift_from_memory(cx, ty, bytes).map(Self)
    }
}

/// `claims-patch`, lifted through the gate.
#[derive(ComponentType, Lift)]
#[component(record)]
pub(crate) struct GatedPatch {
    #[component(name = "access-token-claims-json")]
    access_token_claims_json: GatedString,
    #[component(name = "id-token-claims-json")]
    id_token_claims_json: GatedString,
    #[component(name = "drop-scopes")]
    drop_scopes: GatedList<GatedString>,
}

/// `denial`, lifted through the gate.
#[derive(ComponentType, Lift)]
#[component(record)]
pub(crate) struct GatedDenial {
    code: wit::DenialCode,
    description: GatedString,
}

/// `decision`, lifted through the gate.
#[derive(ComponentType, Lift)]
#[component(variant)]
pub(crate) enum GatedDecision {
    #[component(name = "allow")]
    Allow(GatedPatch),
    #[component(name = "deny")]
    Deny(GatedDenial),
}

/// The result type of `on-token` (`result<decision, string>`), gated.
pub(crate) type GatedResult = Result<GatedDecision, GatedString>;

impl From<GatedDecision> for wit::Decision {
    fn from(d: GatedDecision) -> Self {
        match d {
            GatedDecision::Allow(p) => wit::Decision::Allow(wit::ClaimsPatch {
                access_token_claims_json: p.access_token_claims_json.0,
                id_token_claims_json: p.id_token_claims_json.0,
                drop_scopes: p.drop_scopes.0.into_iter().map(|s| s.0).collect(),
            }),
            GatedDecision::Deny(d) => wit::Decision::Deny(wit::Denial { code: d.code, description: d.description.0 }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_add_up_and_fail_past_the_limit() {
        with_budget(10, || {
            assert!(charge(4).is_ok());
            assert!(charge(6).is_ok());
            let err = charge(1).unwrap_err();
            assert_eq!(err.downcast_ref::<OverBudget>(), Some(&OverBudget { charged: 11, budget: 10 }));
        });
    }

    #[test]
    fn each_call_starts_afresh_and_nothing_is_allowed_outside_one() {
        with_budget(5, || assert!(charge(5).is_ok()));
        with_budget(5, || assert!(charge(5).is_ok()));
        assert!(charge(0).is_err());
    }

    #[test]
    fn utf16_tag_is_not_counted_as_length() {
        assert_eq!(string_units(UTF16_TAG | 7), 7);
        assert_eq!(string_units(7), 7);
        assert_eq!(stored_len(&[1, 0, 0, 0, 9, 0, 0, 0]), 9);
    }

    #[test]
    fn budget_admits_any_output_the_size_check_admits() {
        // 20 KiB of one-byte scopes: 20 KiB of text plus 20 Ki entries.
        assert!(budget_for(20 << 10) >= (20 << 10) * 2);
    }
}
