//! A hop's budgets compiled: names, windows and classes checked; what a
//! budget or an anomaly counts, one way for both.

use std::sync::Arc;

use super::raw::{RawBudget, RawMeasure};
use crate::budget::{Budget, BudgetAction, MAX_BUDGETS, Measure, OnStoreError};
use crate::scrub::class::Classes;

/// The hop's own budgets, else the defaults'.
pub fn compile_budgets(
    own: Option<&[RawBudget]>,
    defaults: Option<&[RawBudget]>,
    classes: &Classes,
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
        let budget = compile_budget(raw, classes).map_err(|e| format!("{at}: {e}"))?;
        if out.iter().any(|b| b.name == budget.name) {
            return Err(format!("{at}: duplicate budget name"));
        }
        out.push(budget);
    }
    Ok(out)
}

fn compile_budget(raw: &RawBudget, classes: &Classes) -> Result<Budget, String> {
    let (measure, fingerprint) = compile_measure(raw.count, raw.classes.as_deref(), classes)?;
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

/// What a budget or an anomaly counts, and that written out (its
/// fingerprint, without the direction).
pub(super) fn compile_measure(
    count: RawMeasure,
    names: Option<&[String]>,
    classes: &Classes,
) -> Result<(Measure, String), String> {
    Ok(match (count, names) {
        (RawMeasure::Bytes, Some(_)) => {
            return Err("classes: only `count: findings` names classes".into());
        }
        (RawMeasure::Bytes, None) => (Measure::Bytes, "bytes".to_owned()),
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
