//! The data-flow map a policy allows, as Mermaid: who may call which
//! service, and which data classes cross each hop in each direction.

use std::fmt::Write;

use super::Policy;
use crate::scrub::contract::Contract;

fn id(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

fn label(s: &str) -> String {
    s.replace('"', "'")
}

/// What happens to each class in one direction: the classes scanned for get
/// their action; the others are not looked for and may cross.
pub fn classes_crossing(policy: &Policy, contract: &Contract) -> String {
    let mut parts = Vec::new();
    for c in policy.classes.iter() {
        let scanned = c.detectors.iter().any(|d| contract.scan.contains(d));
        parts.push(if scanned {
            format!("{}: {}", c.name, c.action.name())
        } else {
            format!("{}: crosses", c.name)
        });
    }
    if contract.allow.is_some() {
        parts.insert(0, "allow-list".to_owned());
    }
    parts.join(", ")
}

pub fn mermaid(policy: &Policy) -> String {
    let mut out = String::from("flowchart LR\n");
    let mut callers = std::collections::BTreeSet::new();
    let mut services = std::collections::BTreeSet::new();
    let mut edges = String::new();
    for hop in &policy.hops {
        let service = hop
            .hosts
            .iter()
            .map(|h| match h {
                super::HostPattern::Exact(x) => x.clone(),
                super::HostPattern::Suffix(x) => format!("*{x}"),
                super::HostPattern::Any => "any host".to_owned(),
            })
            .collect::<Vec<_>>()
            .join(" | ");
        services.insert(service.clone());
        for caller in &hop.callers {
            let who = if caller.anonymous {
                "anyone".to_owned()
            } else {
                let mut who = Vec::new();
                if let Some(ws) = &caller.workloads {
                    who.push(
                        ws.iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(" | "),
                    );
                }
                if let Some(u) = &caller.user {
                    who.push(format!("users of {}", u.issuer));
                }
                who.join(" + ")
            };
            callers.insert(who.clone());
            // What one caller may get or send over time.
            let budgets: String = hop
                .budgets
                .iter()
                .map(|b| format!("<br/>budget {}", b.describe(&policy.classes)))
                .chain(
                    hop.anomalies
                        .iter()
                        .map(|a| format!("<br/>anomaly {}", a.describe(&policy.classes))),
                )
                .collect();
            let _ = writeln!(
                edges,
                "  {} -->|\"{}<br/>request: {}<br/>response: {}{}\"| {}",
                id(&format!("c_{who}")),
                label(&hop.name),
                label(&classes_crossing(policy, &hop.request_body)),
                label(&classes_crossing(policy, &hop.response_body)),
                label(&budgets),
                id(&format!("s_{service}")),
            );
        }
    }
    for c in &callers {
        let _ = writeln!(out, "  {}([\"{}\"])", id(&format!("c_{c}")), label(c));
    }
    for s in &services {
        let _ = writeln!(out, "  {}[\"{}\"]", id(&format!("s_{s}")), label(s));
    }
    out.push_str(&edges);
    out
}
