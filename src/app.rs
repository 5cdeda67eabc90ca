//! What every adapter shares: the policy store and the evaluation engine.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::config::PolicyStore;
use crate::policy::Engine;

#[derive(Debug)]
pub struct App {
    pub store: Arc<PolicyStore>,
    pub engine: Engine,
    grpc_bound: AtomicBool,
    draining: AtomicBool,
}

impl App {
    pub fn new(store: Arc<PolicyStore>, engine: Engine) -> Arc<Self> {
        Arc::new(Self {
            store,
            engine,
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
