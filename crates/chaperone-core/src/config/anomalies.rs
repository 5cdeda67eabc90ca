//! A hop's anomalies compiled: what they count as budgets count it, their
//! windows and history checked, names unique among the hop's budgets too.

use std::sync::Arc;

use super::budgets::{Bodies, Counted, compile_measure};
use super::raw::RawAnomaly;
use crate::anomaly::{Anomaly, DEFAULT_HISTORY, MAX_ANOMALIES, MAX_WARMUP};
use crate::budget::Budget;
use crate::scrub::class::Classes;

/// The hop's own anomalies, else the defaults'.
pub fn compile_anomalies(
    own: Option<&[RawAnomaly]>,
    defaults: Option<&[RawAnomaly]>,
    classes: &Classes,
    budgets: &[Budget],
    bodies: &mut Bodies<'_>,
) -> Result<Vec<Anomaly>, String> {
    let Some(list) = own.or(defaults) else {
        return Ok(Vec::new());
    };
    if list.len() > MAX_ANOMALIES {
        return Err(format!("anomalies: at most {MAX_ANOMALIES}"));
    }
    let mut out: Vec<Anomaly> = Vec::with_capacity(list.len());
    for (i, raw) in list.iter().enumerate() {
        let at = format!("anomalies[{i}] ({:?})", raw.name.0);
        let anomaly = compile_anomaly(raw, classes, bodies).map_err(|e| format!("{at}: {e}"))?;
        if out.iter().any(|a| a.name == anomaly.name)
            || budgets.iter().any(|b| b.name == anomaly.name)
        {
            return Err(format!(
                "{at}: duplicate name (budgets and anomalies share names)"
            ));
        }
        out.push(anomaly);
    }
    Ok(out)
}

fn compile_anomaly(
    raw: &RawAnomaly,
    classes: &Classes,
    bodies: &mut Bodies<'_>,
) -> Result<Anomaly, String> {
    let counted = Counted {
        count: raw.count,
        classes: raw.classes.as_deref(),
        path: raw.path.as_ref(),
    };
    let (measure, fingerprint) = compile_measure(counted, classes, bodies.toward(raw.direction))?;
    let window = raw.window.0;
    let history = raw.history.map_or(DEFAULT_HISTORY, |h| h.0);
    let windows = history.as_millis() / window.as_millis().max(1);
    if windows < 2 {
        let d = crate::policy::diff::duration;
        return Err(format!(
            "history: {} is less than two windows of {}",
            d(history),
            d(window)
        ));
    }
    let warmup = match raw.warmup {
        Some(w) if w > MAX_WARMUP => {
            return Err(format!("warmup: {w} windows, more than {MAX_WARMUP}"));
        }
        Some(w) => w,
        None => u64::try_from(windows / 2)
            .unwrap_or(MAX_WARMUP)
            .min(MAX_WARMUP),
    };
    Ok(Anomaly {
        name: Arc::from(raw.name.0.as_str()),
        direction: raw.direction,
        measure,
        window,
        sigmas: raw.sigmas.0,
        min: raw.min,
        history,
        warmup,
        fingerprint: format!("{}:{fingerprint}", raw.direction.as_str()),
    })
}
