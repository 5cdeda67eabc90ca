//! chaperone's own gRPC API: Status, Explain, Reload.

use std::collections::HashMap;
use std::sync::Arc;

use chaperone_core::reload::Outcome;

use tonic::{Request, Response, Status};

use crate::app::App;
use crate::policy::{Decision, RequestFacts};
use crate::proto::v1::admin_server::Admin;
use crate::proto::v1::{
    ExplainRequest, ExplainResponse, ReloadRequest, ReloadResponse, ReloadResult, StatusRequest,
    StatusResponse,
};

#[derive(Debug, Clone)]
pub struct AdminService {
    app: Arc<App>,
}

impl AdminService {
    pub fn new(app: Arc<App>) -> Self {
        Self { app }
    }
}

/// Runs a described request through a policy. Shared by the Explain call and
/// `chaperone explain`.
pub async fn explain(
    engine: &crate::policy::Engine,
    policy: &crate::policy::Policy,
    req: &ExplainRequest,
) -> ExplainResponse {
    let headers: HashMap<String, String> = req
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .collect();
    let facts = RequestFacts {
        host: &req.host,
        method: &req.method,
        path: &req.path,
        headers: &headers,
        source_principal: Some(req.source_principal.as_str()).filter(|s| !s.is_empty()),
        source_ip: None,
    };
    let mut steps = Vec::new();
    let decision = engine
        .evaluate_traced(policy, &facts, Some(&mut steps))
        .await;
    match decision {
        Decision::Allow(a) => ExplainResponse {
            decision: "allow".into(),
            http_status: 200,
            hop: a.hop.to_string(),
            reason_code: "allowed".into(),
            reason: "a caller rule of the hop admits this caller".into(),
            steps,
            policy_version: a.policy_version,
        },
        Decision::Deny(d) => ExplainResponse {
            decision: "deny".into(),
            http_status: u32::from(d.kind().http_status()),
            hop: d.hop.as_deref().unwrap_or_default().to_owned(),
            reason_code: d.reason.code().into(),
            reason: d.reason.to_string(),
            steps,
            policy_version: d.policy_version,
        },
    }
}

#[tonic::async_trait]
impl Admin for AdminService {
    async fn status(
        &self,
        _request: Request<StatusRequest>,
    ) -> Result<Response<StatusResponse>, Status> {
        let policy = self.app.store.current();
        let status = self.app.store.status();
        Ok(Response::new(StatusResponse {
            policy_version: policy.version.clone(),
            policy_hash: policy.hash.clone(),
            policy_source: policy.source.clone(),
            hops: u32::try_from(policy.hops.len()).unwrap_or(u32::MAX),
            loaded_at: status.loaded_at,
            last_reload_error: status.last_error.unwrap_or_default(),
            chaperone_version: env!("CARGO_PKG_VERSION").into(),
            policy_signer: policy
                .bundle
                .as_ref()
                .map(|b| b.signer.to_string())
                .unwrap_or_default(),
            bundle_failures: crate::telemetry::metrics::bundle_failures(),
        }))
    }

    async fn explain(
        &self,
        request: Request<ExplainRequest>,
    ) -> Result<Response<ExplainResponse>, Status> {
        let policy = self.app.store.current();
        Ok(Response::new(
            explain(&self.app.engine, &policy, request.get_ref()).await,
        ))
    }

    async fn reload(
        &self,
        _request: Request<ReloadRequest>,
    ) -> Result<Response<ReloadResponse>, Status> {
        let report = self
            .app
            .reloads
            .all("admin")
            .await
            .map_err(|e| Status::internal(e.to_string()))?;
        let version = self.app.store.current().version.clone();
        let policy_error = report.iter().find_map(|(label, outcome)| match outcome {
            Outcome::Rejected(e) if *label == "policy" => Some(e.clone()),
            _ => None,
        });
        Ok(Response::new(ReloadResponse {
            applied: policy_error.is_none(),
            policy_version: version,
            error: policy_error.unwrap_or_default(),
            results: report
                .into_iter()
                .map(|(label, outcome)| ReloadResult {
                    source: label.to_owned(),
                    result: outcome.label().to_owned(),
                    error: match outcome {
                        Outcome::Rejected(e) => e,
                        _ => String::new(),
                    },
                })
                .collect(),
        }))
    }
}
