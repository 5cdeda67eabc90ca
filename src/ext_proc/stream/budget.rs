//! Budgets: what a judged message adds to its caller's windows on the hop
//! (and to its baselines: anomaly.rs), counted in the shared store in one
//! round trip, and what happens past a limit or without the store.

use super::anomaly::record_anomalies;
use super::*;
use crate::anomaly::Anomaly;
use crate::budget::{Budget, BudgetAction, Direction, OnStoreError};
use crate::state::{Charge, Observation, StateError, Tally};

/// What one message brings to its direction's budgets.
#[derive(Debug)]
pub(super) struct Pending {
    pub(super) phase: PhaseName,
    pub(super) findings: Findings,
}

impl HopStream {
    /// Counts the message just judged against the hop's budgets and
    /// baselines for its direction: `Some` refusal when a budget that blocks
    /// is past its limit, or cannot be counted and denies then. Anomalies
    /// only alert.
    pub(super) async fn judge_budgets(&mut self, pending: Pending, bytes: u64) -> Option<Answer> {
        let ctx = self.ctx.as_ref()?;
        let policy = Arc::clone(&ctx.policy);
        let hop = &policy.hops[ctx.hop];
        // Kept apart from the stream's context, which is not held across
        // the store's round trip.
        let principal = ctx.principal.clone();
        let direction = match pending.phase.request() {
            true => Direction::Request,
            false => Direction::Response,
        };
        let started = Instant::now();
        let now = crate::state::now_ms();
        let state = &self.app.state;
        // A caller whose window this replica has seen full, on a budget that
        // blocks, is refused without asking the store: at the request's
        // headers for any of the hop's budgets, so the request never
        // reaches the callee, and later for its direction's.
        // In shadow nothing is refused: everything crosses, and counts.
        let enforced = !ctx.shadow;
        let at_request = pending.phase == PhaseName::RequestHeaders;
        if let Some(b) = hop.budgets.iter().find(|b| {
            enforced
                && b.action == BudgetAction::Block
                && (at_request || b.direction == direction)
                && state.spent.is_spent(&principal, &hop.name, b, now)
        }) {
            metrics::get()
                .budget_events
                .with_label_values(&[&hop.name, &b.name, b.direction.as_str(), "exceeded_block"])
                .inc();
            let detail = format!(
                "budget {}: its limit of {} in {:?} reached, until its window rolls",
                b.name, b.limit, b.window
            );
            let id = self.refused(pending.phase, "budget_exceeded", &detail)?;
            return Some(immediate(
                Refusal::Budget { exceeded: true },
                &id,
                "budget_exceeded",
            ));
        }
        // A window, like a baseline, learns nothing from a message that adds
        // nothing to it: only the budgets and anomalies it brings something
        // to are sent to the store, and a message that brings nothing
        // counted is not sent at all.
        // Each as its place in the hop's list and its amount.
        let counted: Vec<(usize, u64)> = hop
            .budgets
            .iter()
            .enumerate()
            .filter(|(_, b)| b.direction == direction)
            .map(|(i, b)| (i, b.amount(&pending.findings, bytes)))
            .filter(|(_, amount)| *amount > 0)
            .collect();
        let observed: Vec<(usize, u64)> = hop
            .anomalies
            .iter()
            .enumerate()
            .filter(|(_, a)| a.direction == direction)
            .map(|(i, a)| (i, a.amount(&pending.findings, bytes)))
            .filter(|(_, amount)| *amount > 0)
            .collect();
        let budgets = picked(&hop.budgets, &counted);
        let anomalies = picked(&hop.anomalies, &observed);
        if budgets.is_empty() && anomalies.is_empty() {
            return None;
        }
        let key = self.app.engine.hash_key();
        let charges: Vec<Charge> = budgets
            .iter()
            .map(|(b, amount)| Charge {
                keys: b.keys(key, &principal, &hop.name, now),
                amount: *amount,
                ttl_ms: b.ttl_ms(),
                refuse_over: (enforced && b.action == BudgetAction::Block).then_some(b.limit),
            })
            .collect();
        let observations: Vec<Observation> = anomalies
            .iter()
            .map(|(a, amount)| Observation {
                key: a.key(key, &principal, &hop.name),
                amount: *amount,
                window: a.window_at(now),
                rule: a.rule(),
                ttl_ms: a.ttl_ms(),
            })
            .collect();
        let tag = self.ctx.as_ref()?.tag();
        // Nothing in this round trip can refuse the message (budgets that
        // alert, and allow without the store; anomalies): it passes at once,
        // and the store's answer, its metrics and events come after, off the
        // request's path. In shadow every outcome is recorded as the stream's.
        let may_refuse = budgets.iter().any(|(b, _)| {
            b.action == BudgetAction::Block || b.on_store_error == OnStoreError::Deny
        });
        if enforced
            && !may_refuse
            && let Some(place) = state.defer()
        {
            let app = Arc::clone(&self.app);
            let phase = pending.phase;
            tokio::spawn(async move {
                let result = app.state.tally_deferred(&charges, &observations).await;
                drop(place);
                let hop = &tag.policy.hops[tag.hop];
                let budgets = picked(&hop.budgets, &counted);
                let anomalies = picked(&hop.anomalies, &observed);
                report(
                    &tag, direction, &budgets, &anomalies, &result, phase, started,
                );
            });
            return None;
        }
        let result = self.app.state.tally(&charges, &observations).await;
        let total = |i: usize| match &result {
            Ok(tally) => tally.totals.get(i).copied().unwrap_or(u64::MAX),
            Err(_) => 0,
        };
        // Refused, the message counts toward none of them (the store took
        // its amounts back). A budget whose window is full stays so until
        // its next bucket: this replica then refuses the caller's requests
        // at their headers.
        let refused = enforced
            && budgets
                .iter()
                .enumerate()
                .any(|(i, (b, _))| b.action == BudgetAction::Block && b.exceeded(total(i)));
        if result.is_ok() {
            for (i, (b, amount)) in budgets.iter().enumerate() {
                let kept = match refused {
                    true => total(i).saturating_sub(*amount),
                    false => total(i),
                };
                if b.action == BudgetAction::Block && kept >= b.limit {
                    state.spent.mark(&principal, &hop.name, b, now);
                }
            }
        }
        let refusal = report(
            &tag,
            direction,
            &budgets,
            &anomalies,
            &result,
            pending.phase,
            started,
        );
        let (exceeded, detail) = refusal?;
        let code = match exceeded {
            true => "budget_exceeded",
            false => "budget_unavailable",
        };
        // In shadow, recorded and passed.
        let id = self.refused(pending.phase, code, &detail)?;
        Some(immediate(Refusal::Budget { exceeded }, &id, code))
    }
}

/// The hop's budgets (or anomalies) a message brings something to, from
/// their places in its list, with their amounts.
fn picked<'p, T>(all: &'p [T], places: &[(usize, u64)]) -> Vec<(&'p T, u64)> {
    places
        .iter()
        .filter_map(|&(i, amount)| Some((all.get(i)?, amount)))
        .collect()
}

/// The metrics and decision events of what the store answered for one
/// message's budgets and anomalies, and the refusal it calls for: a budget
/// that blocks past its limit, or one that denies without its store.
fn report(
    tag: &EventTag,
    direction: Direction,
    budgets: &[(&Budget, u64)],
    anomalies: &[(&Anomaly, u64)],
    result: &Result<Tally, StateError>,
    phase: PhaseName,
    started: Instant,
) -> Option<(bool, String)> {
    record_anomalies(tag, anomalies, result, phase, started);
    let hop = &tag.policy.hops[tag.hop].name;
    let m = metrics::get();
    let mut refusal: Option<(bool, String)> = None;
    for (i, (b, _)) in budgets.iter().enumerate() {
        let (outcome, detail) = match result {
            Ok(tally) => {
                let total = tally.totals.get(i).copied().unwrap_or(u64::MAX);
                if !b.exceeded(total) {
                    continue;
                }
                let detail = format!(
                    "budget {}: {total} counted in {:?}, over its limit of {}",
                    b.name, b.window, b.limit
                );
                match b.action {
                    BudgetAction::Block => ("exceeded_block", detail),
                    BudgetAction::Alert => ("exceeded_alert", detail),
                }
            }
            Err(e) => {
                let detail = format!("budget {}: {e}", b.name);
                match b.on_store_error {
                    OnStoreError::Deny => ("store_error_deny", detail),
                    OnStoreError::Allow => ("store_error_allow", detail),
                }
            }
        };
        m.budget_events
            .with_label_values(&[hop, &b.name, direction.as_str(), outcome])
            .inc();
        match outcome {
            "exceeded_block" => refusal = Some((true, detail)),
            "store_error_deny" if refusal.is_none() => refusal = Some((false, detail)),
            "store_error_deny" => {}
            _ => BodyEvent {
                decision: BodyDecision::Pass,
                reason: if outcome == "exceeded_alert" {
                    "budget_alert"
                } else {
                    "budget_store_error"
                },
                detail: &detail,
                alert: true,
                ..BodyEvent::tagged(tag, phase, started)
            }
            .emit(),
        }
    }
    refusal
}
