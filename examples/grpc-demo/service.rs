//! The demo payments service (proto/chaperone/demo/v1/payments.proto), for
//! chaperone's gRPC contracts: it records each request as it received it and
//! answers with cards, holders, emails and traces in nested and repeated
//! fields, once (`Charge`) or as a stream (`History`, an entry every
//! `HISTORY_INTERVAL`; `Batch`, a reply to each request of a stream as it
//! comes).

// Demo and test tooling, never part of the chaperone binary.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

pub mod pb {
    tonic::include_proto!("chaperone.demo.v1");
}

use pb::payments_server::{Payments, PaymentsServer};
use pb::{Card, ChargeReply, ChargeRequest, HistoryEntry, HistoryRequest, Item};

/// The descriptor set of the demo service, as `protoc --descriptor_set_out`
/// writes one.
pub const DESCRIPTORS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/payments.binpb"));

/// Between two entries of a `History` stream.
pub const HISTORY_INTERVAL: Duration = Duration::from_millis(100);

/// A typical `Charge` request: a card, an amount, a note, tags and labels.
pub fn sample_charge() -> ChargeRequest {
    ChargeRequest {
        card: Some(Card {
            number: "4111 1111 1111 1111".into(),
            holder: "Alice Example".into(),
            number_digits: 0,
        }),
        amount_cents: 1250,
        currency: "EUR".into(),
        note: "order o-1042, two espresso cups".into(),
        tags: vec!["web".into(), "returning".into()],
        labels: [("channel".to_owned(), "checkout".to_owned())]
            .into_iter()
            .collect(),
        memo: b"gift wrap".to_vec(),
        saved_cards: Default::default(),
    }
}

/// What the service received.
#[derive(Debug, Default)]
pub struct Received {
    pub charges: Vec<ChargeRequest>,
    pub histories: Vec<HistoryRequest>,
}

#[derive(Clone, Default)]
struct Demo {
    received: Arc<Mutex<Received>>,
}

/// The reply to a charge: its card as received, and what a callee should
/// not send back.
fn reply(card: Option<Card>, n: usize) -> ChargeReply {
    ChargeReply {
        charge_id: format!("ch_{n}"),
        card,
        receipt_email: "alice@example.com".into(),
        items: vec![
            Item {
                sku: "SKU-1".into(),
                qty: 2,
            },
            Item {
                sku: "4111 1111 1111 1111".into(),
                qty: 1,
            },
        ],
        internal_trace: "node-7.rack-3".into(),
    }
}

#[tonic::async_trait]
impl Payments for Demo {
    async fn charge(
        &self,
        request: Request<ChargeRequest>,
    ) -> Result<Response<ChargeReply>, Status> {
        let req = request.into_inner();
        let card = req.card.clone();
        self.received.lock().unwrap().charges.push(req);
        Ok(Response::new(reply(card, 1)))
    }

    type BatchStream = Pin<Box<dyn Stream<Item = Result<ChargeReply, Status>> + Send>>;

    async fn batch(
        &self,
        request: Request<tonic::Streaming<ChargeRequest>>,
    ) -> Result<Response<Self::BatchStream>, Status> {
        let received = Arc::clone(&self.received);
        let replies = request.into_inner().map(move |req| {
            let req = req?;
            let card = req.card.clone();
            let mut received = received.lock().unwrap();
            received.charges.push(req);
            Ok(reply(card, received.charges.len()))
        });
        Ok(Response::new(Box::pin(replies)))
    }

    type HistoryStream = Pin<Box<dyn Stream<Item = Result<HistoryEntry, Status>> + Send>>;

    async fn history(
        &self,
        request: Request<HistoryRequest>,
    ) -> Result<Response<Self::HistoryStream>, Status> {
        let req = request.into_inner();
        let count = req.count;
        self.received.lock().unwrap().histories.push(req);
        let entries = futures_util::stream::unfold(0u32, move |seq| async move {
            if seq >= count {
                return None;
            }
            if seq > 0 {
                tokio::time::sleep(HISTORY_INTERVAL).await;
            }
            let entry = HistoryEntry {
                seq,
                card: Some(Card {
                    number: "4111111111111111".into(),
                    holder: "Alice Example".into(),
                    number_digits: 4_111_111_111_111_111,
                }),
                note: format!("entry {seq}"),
            };
            Some((Ok(entry), seq + 1))
        });
        Ok(Response::new(Box::pin(entries)))
    }
}

/// The service, on a port of its own, until dropped.
pub struct Service {
    pub addr: SocketAddr,
    pub received: Arc<Mutex<Received>>,
    task: JoinHandle<()>,
}

impl Drop for Service {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Service {
    pub async fn start(addr: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let demo = Demo::default();
        let received = Arc::clone(&demo.received);
        let task = tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .add_service(PaymentsServer::new(demo))
                .serve_with_incoming(TcpIncoming::from(listener))
                .await;
        });
        Ok(Self {
            addr,
            received,
            task,
        })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}
