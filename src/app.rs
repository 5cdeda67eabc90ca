//! What every adapter shares: the policy store, the evaluation engine and
//! what reloads them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::config::PolicyStore;
use crate::edge::reload::Reloads;
use crate::policy::Engine;

#[derive(Debug)]
pub struct App {
    pub store: Arc<PolicyStore>,
    pub engine: Engine,
    /// The policy, the signing keys and the TLS material, for the admin Reload.
    pub reloads: Reloads,
    /// Where budgets are counted.
    pub state: crate::state::State,
    grpc_bound: AtomicBool,
    draining: AtomicBool,
}

impl App {
    /// An app whose admin Reload reloads only the policy.
    pub fn new(store: Arc<PolicyStore>, engine: Engine) -> Arc<Self> {
        let mut reloads = Reloads::default();
        reloads.add(Arc::clone(&store) as _, None);
        Self::with_reloads(store, engine, reloads)
    }

    pub fn with_reloads(store: Arc<PolicyStore>, engine: Engine, reloads: Reloads) -> Arc<Self> {
        Self::with_state(store, engine, reloads, crate::state::State::memory())
    }

    pub fn with_state(
        store: Arc<PolicyStore>,
        engine: Engine,
        reloads: Reloads,
        state: crate::state::State,
    ) -> Arc<Self> {
        Arc::new(Self {
            store,
            engine,
            reloads,
            state,
            grpc_bound: AtomicBool::new(false),
            draining: AtomicBool::new(false),
        })
    }

    pub fn set_grpc_bound(&self) {
        self.grpc_bound.store(true, Ordering::Release);
    }

    pub fn set_draining(&self) {
        self.draining.store(true, Ordering::Release);
    }

    /// Ready: a policy is loaded (the store exists only with one), the gRPC
    /// port is bound, and we are not draining.
    pub fn is_ready(&self) -> bool {
        self.grpc_bound.load(Ordering::Acquire) && !self.draining.load(Ordering::Acquire)
    }
}
