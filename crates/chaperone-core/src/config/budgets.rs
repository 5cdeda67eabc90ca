//! A hop's budgets compiled: names, windows, classes and record paths
//! checked; what a budget or an anomaly counts, one way for both, a
//! records path handed to the contract of its direction, which counts it
//! as bodies cross.

use std::sync::Arc;

use super::raw::{RawBudget, RawMeasure, RecordPath};
use crate::budget::{Budget, BudgetAction, Direction, MAX_BUDGETS, Measure, OnStoreError};
use crate::scrub::class::Classes;
use crate::scrub::contract::Contract;

/// A hop's body contracts, where records paths go.
pub struct Bodies<'a> {
    pub request: &'a mut Contract,
    pub response: &'a mut Contract,
}

impl Bodies<'_> {
    pub(super) fn toward(&mut self, direction: Direction) -> &mut Contract {
        match direction {
            Direction::Request => self.request,
            Direction::Response => self.response,
        }
    }
}

/// The hop's own budgets, else the defaults'.
pub fn compile_budgets(
    own: Option<&[RawBudget]>,
    defaults: Option<&[RawBudget]>,
    classes: &Classes,
    bodies: &mut Bodies<'_>,
) -> Result<Vec<Budget>, String> {
    let Some(list) = own.or(defaults) else {
        return Ok(Vec::new());
    };
    if list.len() > MAX_BUDGETS {
        return Err(format!("budgets: at most {MAX_BUDGETS}"));
    }
    let mut out: Vec<Budget> = Vec::with_capacity(list.len());
    for (i, raw) in list.iter().enumerate() {
        let at = format!("budgets[{i}] ({:?})", raw.name.0);
        let budget = compile_budget(raw, classes, bodies).map_err(|e| format!("{at}: {e}"))?;
        if out.iter().any(|b| b.name == budget.name) {
            return Err(format!("{at}: duplicate budget name"));
        }
        out.push(budget);
    }
    Ok(out)
}

fn compile_budget(
    raw: &RawBudget,
    classes: &Classes,
    bodies: &mut Bodies<'_>,
) -> Result<Budget, String> {
    let counted = Counted {
        count: raw.count,
        classes: raw.classes.as_deref(),
        path: raw.path.as_ref(),
    };
    let (measure, fingerprint) = compile_measure(counted, classes, bodies.toward(raw.direction))?;
    let on_store_error = raw.on_store_error.unwrap_or(match raw.action {
        BudgetAction::Block => OnStoreError::Deny,
        BudgetAction::Alert => OnStoreError::Allow,
    });
    Ok(Budget {
        name: Arc::from(raw.name.0.as_str()),
        direction: raw.direction,
        measure,
        window: raw.window.0,
        limit: raw.limit.get(),
        action: raw.action,
        on_store_error,
        fingerprint: format!("{}:{fingerprint}", raw.direction.as_str()),
    })
}

/// What a budget or an anomaly says it counts.
pub(super) struct Counted<'a> {
    pub count: RawMeasure,
    pub classes: Option<&'a [String]>,
    pub path: Option<&'a RecordPath>,
}

/// What a budget or an anomaly counts, and that written out (its
/// fingerprint, without the direction). A records path is added to
/// `contract`, the body contract of its direction, which counts it.
pub(super) fn compile_measure(
    counted: Counted<'_>,
    classes: &Classes,
    contract: &mut Contract,
) -> Result<(Measure, String), String> {
    if counted.classes.is_some() && counted.count != RawMeasure::Findings {
        return Err("classes: only `count: findings` names classes".into());
    }
    if counted.path.is_some() && counted.count != RawMeasure::Records {
        return Err("path: only `count: records` names a path".into());
    }
    Ok(match (counted.count, counted.classes) {
        (RawMeasure::Bytes, _) => (Measure::Bytes, "bytes".to_owned()),
        (RawMeasure::Records, _) => {
            let Some(path) = counted.path else {
                return Err(
                    "path: `count: records` names the array whose elements it counts (`path: \"orders[*]\"`)"
                        .into(),
                );
            };
            let index = record_index(contract, &path.0)?;
            (
                Measure::Records {
                    path: Arc::from(path.0.as_str()),
                    index,
                },
                format!("records:{}", path.0),
            )
        }
        (RawMeasure::Findings, None) => (Measure::Findings(None), "findings:*".to_owned()),
        (RawMeasure::Findings, Some(names)) => {
            if names.is_empty() {
                return Err("classes: at least one (or leave it out to count every class)".into());
            }
            let mut indexes = Vec::with_capacity(names.len());
            for name in names {
                let i = classes
                    .index_of(name)
                    .ok_or_else(|| format!("classes: {name:?} is not a data class"))?;
                if !indexes.contains(&i) {
                    indexes.push(i);
                }
            }
            let mut sorted: Vec<&str> = names.iter().map(String::as_str).collect();
            sorted.sort_unstable();
            sorted.dedup();
            (
                Measure::Findings(Some(indexes)),
                format!("findings:{}", sorted.join(",")),
            )
        }
    })
}

/// Adds a record path to the contract that counts it. On a gRPC contract
/// the path must name a repeated field of its message type (`items[*]`):
/// a message is no list, so `[*]` alone names nothing there.
fn record_index(contract: &mut Contract, path: &str) -> Result<usize, String> {
    if let Some(m) = &contract.message {
        let mut probe = Contract::default();
        probe.allow_path(path).map_err(|e| format!("path: {e}"))?;
        m.descriptors
            .check_paths(&m.name, probe.root())
            .map_err(|e| format!("path: {e}"))?;
    }
    Arc::make_mut(contract.records.get_or_insert_with(Arc::default))
        .add(path)
        .map_err(|e| format!("path: {e}"))
}
