//! Bodies that flow: server-sent events, newline-delimited JSON, gRPC
//! messages and JSON documents, judged a piece at a time as they arrive. Each
//! event, line or message is held until it is complete, then judged whole
//! under the contract, as a body of its own would be; a JSON document value
//! by value where it stands (`json::DocFlow`). Nothing else of the stream is
//! held. The contract's findings limit
//! counts across the whole stream. A piece the contract refuses ends the
//! stream: what follows it never crosses.

use super::body::{BodyHeaders, scrub_body};
use super::class::Classes;
use super::contract::Contract;
use super::json::{DocFlow, Under};
use super::{Findings, ScrubError};
use crate::secret::HashKey;

/// The bytes of line endings a complete piece may still wait on beyond its
/// content: an event's last line ending and its blank line's CR.
const MAX_HELD_ENDING: usize = 3;

/// JSON's whitespace.
fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// How a flowing body is cut into pieces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `text/event-stream`: events end with a blank line.
    Events,
    /// Newline-delimited JSON: one document per line.
    Lines,
    /// gRPC: each length-prefixed message.
    Messages,
    /// A JSON document: an object or an array value by value
    /// (`json::DocFlow`); any other document whole.
    Document,
}

/// Where a flowing JSON document's reading is.
#[derive(Debug)]
enum Doc {
    /// Before its first byte that is not whitespace.
    Before,
    /// An object or an array, read as it flows.
    Tree(Box<DocFlow>),
    /// Anything else: judged whole (bounded by `max_bytes` as always).
    Whole,
}

impl Framing {
    /// Whether a cut stream can end with a piece its reader recognises as an
    /// error ([`Self::terminal`]); one that cannot is reset.
    pub fn has_terminal(self) -> bool {
        matches!(self, Framing::Events | Framing::Lines)
    }

    /// The last piece a cut stream carries, which its reader recognises as
    /// an error: an `error` event, or a line of its own, holding `json`.
    pub fn terminal(self, json: &str) -> Vec<u8> {
        match self {
            Framing::Events => format!("event: error\ndata: {json}\n\n").into_bytes(),
            Framing::Lines => format!("{json}\n").into_bytes(),
            // A gRPC stream or a JSON document cannot carry a piece of text
            // after what crossed: it ends (Envoy resets it at the next
            // part), and the client sees it cut.
            Framing::Messages | Framing::Document => Vec::new(),
        }
    }
}

/// One flowing body: what is held of the piece not yet complete, and what
/// was found so far.
#[derive(Debug)]
pub struct Flow {
    framing: Framing,
    /// The bytes of the piece not yet complete.
    pending: Vec<u8>,
    /// How far `pending` was searched for the piece's end.
    searched: usize,
    /// Events: where the line being searched began (an empty line ends
    /// the event).
    line: usize,
    /// Findings over the whole stream, for the limit.
    findings: Findings,
    /// Findings in the message's headers and URL, which count toward the
    /// limit too.
    before: u32,
    /// A piece was refused: nothing more crosses.
    cut: bool,
    /// JSON documents: where the reading is.
    doc: Doc,
    /// Whitespace came before the document's first other byte.
    leading_ws: bool,
}

/// What one part of a flowing body became.
#[derive(Debug)]
pub struct Fed {
    /// What crosses for this part: the pieces it completed, as judged.
    pub out: Vec<u8>,
    /// Findings in those pieces (not in a piece refused).
    pub findings: Findings,
    /// A piece crossed changed. (`out` may differ from the part also
    /// because a piece is held, or was refused.)
    pub changed: bool,
    /// Past the stream's findings limit, on a hop that only alerts.
    pub alert: bool,
    /// Why the stream ends here: `out` holds what crossed before the piece
    /// refused, and nothing follows.
    pub refused: Option<ScrubError>,
}

impl Fed {
    /// Counts a piece's findings into the stream's (`stream`), whose limit
    /// they count toward.
    /// `before`: the findings of the message's headers and URL, which
    /// count toward the limit too.
    fn count(
        &mut self,
        (stream, before): (&mut Findings, u32),
        found: &Findings,
        contract: &Contract,
    ) -> Result<(), ScrubError> {
        stream.merge(found);
        if let Some(limit) = contract.limit {
            self.alert |= limit.judge(stream.total().saturating_add(before))?;
        }
        // Only what crosses: a piece the limit refuses adds nothing here.
        self.findings.merge(found);
        Ok(())
    }
}

impl Flow {
    pub fn new(framing: Framing, classes: &Classes) -> Self {
        Self {
            framing,
            pending: Vec::new(),
            searched: 0,
            line: 0,
            findings: Findings::new(classes.len()),
            before: 0,
            cut: false,
            doc: Doc::Before,
            leading_ws: false,
        }
    }

    /// The same, for a message whose headers and URL held `found`
    /// findings: they count toward the contract's limit with the body's,
    /// as they do for a whole body.
    pub fn after_envelope(mut self, found: u32) -> Self {
        self.before = found;
        self
    }

    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// Whether a piece was refused.
    pub fn is_cut(&self) -> bool {
        self.cut
    }

    /// Takes the next part of the body (`end`: the last). `contract.max_body`
    /// bounds each piece, and so what is held.
    pub fn feed(
        &mut self,
        part: &[u8],
        end: bool,
        headers: &BodyHeaders,
        contract: &Contract,
        classes: &Classes,
        key: &HashKey,
    ) -> Fed {
        let mut fed = Fed {
            out: Vec::with_capacity(part.len()),
            findings: Findings::new(classes.len()),
            changed: false,
            alert: false,
            refused: None,
        };
        if self.cut {
            return fed;
        }
        let judged = match self.framing {
            Framing::Document => {
                self.feed_document(part, end, headers, contract, classes, key, &mut fed)
            }
            _ => self.feed_pieces(part, end, headers, contract, classes, key, &mut fed),
        };
        if let Err(e) = judged {
            fed.refused = Some(e);
            self.cut = true;
            self.pending = Vec::new();
        }
        fed
    }

    /// Events, lines or gRPC messages: each complete piece judged, the rest
    /// held.
    #[allow(clippy::too_many_arguments)]
    fn feed_pieces(
        &mut self,
        part: &[u8],
        end: bool,
        headers: &BodyHeaders,
        contract: &Contract,
        classes: &Classes,
        key: &HashKey,
        fed: &mut Fed,
    ) -> Result<(), ScrubError> {
        self.pending.extend_from_slice(part);
        let mut start = 0;
        while let Some(piece) = self.piece_end(start, end) {
            self.judge(start, piece, headers, contract, classes, key, fed)?;
            start = piece.next;
            self.searched = start;
            self.line = start;
        }
        self.pending.drain(..start);
        self.searched = self.searched.saturating_sub(start);
        self.line = self.line.saturating_sub(start);
        self.held_within(contract)
    }

    /// What is held is one piece not yet complete: bounded as a piece is,
    /// but for the line ending it may still wait on (CRLF, and an event's
    /// blank line).
    fn held_within(&self, contract: &Contract) -> Result<(), ScrubError> {
        if self.pending.len() > contract.max_body.saturating_add(MAX_HELD_ENDING) {
            return Err(ScrubError::TooLarge {
                limit: contract.max_body,
            });
        }
        Ok(())
    }

    /// A JSON document's next part: an object or an array flows
    /// (`json::DocFlow`), each value judged as the whole-document rewriter
    /// judges it where it stands; any other document is held whole and
    /// judged at its end.
    #[allow(clippy::too_many_arguments)]
    fn feed_document(
        &mut self,
        part: &[u8],
        end: bool,
        headers: &BodyHeaders,
        contract: &Contract,
        classes: &Classes,
        key: &HashKey,
        fed: &mut Fed,
    ) -> Result<(), ScrubError> {
        let mut rest = part;
        if matches!(self.doc, Doc::Before) {
            let start = rest.iter().position(|&b| !is_ws(b)).unwrap_or(rest.len());
            self.leading_ws |= start > 0;
            rest = &rest[start..];
            match rest.first() {
                Some(b'{' | b'[') => self.doc = Doc::Tree(Box::new(DocFlow::new(contract))),
                Some(_) => {
                    if self.leading_ws {
                        // The document is judged as it came: what precedes
                        // its first byte matters (whitespace before a byte
                        // order mark is not JSON).
                        self.pending.push(b' ');
                    }
                    self.doc = Doc::Whole;
                }
                None => {}
            }
        }
        match &mut self.doc {
            Doc::Tree(doc) => {
                let under = Under {
                    contract,
                    classes,
                    key,
                };
                let findings = &mut self.findings;
                let before = self.before;
                // What crosses goes out as it is judged, up to a refusal.
                let mut out = std::mem::take(&mut fed.out);
                let changed = doc.feed(rest, end, &under, &mut out, &mut |found| {
                    fed.count((findings, before), found, contract)
                });
                fed.out = out;
                fed.changed |= changed?;
                Ok(())
            }
            Doc::Whole => {
                self.pending.extend_from_slice(rest);
                self.held_within(contract)?;
                if !end {
                    return Ok(());
                }
                let whole = std::mem::take(&mut self.pending);
                let scrubbed = scrub_body(&whole, headers, contract, classes, key)?;
                fed.count(
                    (&mut self.findings, self.before),
                    &scrubbed.findings,
                    contract,
                )?;
                fed.changed |= scrubbed.body.is_some();
                fed.out
                    .extend_from_slice(scrubbed.body.as_deref().unwrap_or(&whole));
                Ok(())
            }
            // An empty body passes, as a whole one does; whitespace alone
            // is no JSON document.
            Doc::Before if end && self.leading_ws => Err(ScrubError::InvalidJson { offset: 0 }),
            Doc::Before => Ok(()),
        }
    }

    /// The next complete piece from `start`: where its content ends and the
    /// next begins. At the end of the body, what is left is a piece too.
    fn piece_end(&mut self, start: usize, end: bool) -> Option<Piece> {
        let buf = &self.pending;
        let from = self.searched.max(start);
        let found = match self.framing {
            Framing::Lines => match buf[from..].iter().position(|&b| b == b'\n') {
                Some(i) => Some(Piece {
                    content: from + i,
                    next: from + i + 1,
                }),
                None => {
                    self.searched = buf.len();
                    None
                }
            },
            // Read by feed_document, never cut here.
            Framing::Document => None,
            Framing::Messages => {
                let rest = &buf[start..];
                super::proto::frame_len(rest).and_then(|len| {
                    let next = start.checked_add(5)?.checked_add(len)?;
                    (next <= buf.len()).then_some(Piece {
                        content: next,
                        next,
                    })
                })
            }
            Framing::Events => {
                let line = self.line.max(start);
                let (piece, line, searched) = event_end(buf, start, line, from, end);
                self.line = line;
                self.searched = searched;
                piece
            }
        };
        let len = self.pending.len();
        found.or_else(|| {
            (end && start < len).then_some(Piece {
                content: len,
                next: len,
            })
        })
    }

    /// Judges one piece and appends what crosses of it to `fed.out`.
    #[allow(clippy::too_many_arguments)]
    fn judge(
        &mut self,
        start: usize,
        piece: Piece,
        headers: &BodyHeaders,
        contract: &Contract,
        classes: &Classes,
        key: &HashKey,
        fed: &mut Fed,
    ) -> Result<(), ScrubError> {
        let raw = &self.pending[start..piece.next];
        let mut content = &self.pending[start..piece.content];
        if self.framing == Framing::Lines
            && let Some(stripped) = content.strip_suffix(b"\r")
        {
            content = stripped;
        }
        // A line of nothing but whitespace holds no document, and no data.
        if content.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r')) {
            fed.out.extend_from_slice(raw);
            return Ok(());
        }
        if self.framing == Framing::Messages {
            let Some(message) = &contract.message else {
                return Err(ScrubError::ContentType);
            };
            let (new, found) = super::proto::rewrite_grpc(
                raw,
                &message.descriptors,
                &message.name,
                contract,
                classes,
                key,
            )?;
            fed.count((&mut self.findings, self.before), &found, contract)?;
            match new {
                None => fed.out.extend_from_slice(raw),
                Some(new) => {
                    fed.changed = true;
                    fed.out.extend_from_slice(&new);
                }
            }
            return Ok(());
        }
        let json;
        let as_body = match self.framing {
            Framing::Events | Framing::Messages | Framing::Document => headers,
            Framing::Lines => {
                json = BodyHeaders {
                    content_type: vec!["application/json".to_owned()],
                    content_encoding: Vec::new(),
                };
                &json
            }
        };
        let scrubbed = scrub_body(content, as_body, contract, classes, key)?;
        fed.count(
            (&mut self.findings, self.before),
            &scrubbed.findings,
            contract,
        )?;
        match scrubbed.body {
            None => fed.out.extend_from_slice(raw),
            Some(new) => {
                fed.changed = true;
                fed.out.extend_from_slice(&new);
                // The piece's end, as its reader needs it: the new text
                // may end in a way the old one did not.
                let ending: &[u8] = match (self.framing, piece.next > piece.content) {
                    (_, false) | (Framing::Messages | Framing::Document, _) => b"",
                    (Framing::Lines, true) => b"\n",
                    (Framing::Events, true) => b"\n\n",
                };
                fed.out.extend_from_slice(ending);
            }
        }
        Ok(())
    }
}

/// Where a piece's content ends and the next piece begins.
#[derive(Debug, Clone, Copy)]
struct Piece {
    content: usize,
    next: usize,
}

/// The end of the event that starts at `start`: its first empty line, after
/// lines ended by CRLF, LF or CR. The search resumes at `from`, within the
/// line that began at `line` (every line before it is complete and not
/// empty), so a long line fed in small parts is searched once. A CR as the
/// last byte held may be half of a CRLF: it is searched again with the next
/// part, unless the body ends there. Returns the piece, if complete, and
/// where to resume: the line, and the position.
fn event_end(
    buf: &[u8],
    start: usize,
    mut line: usize,
    from: usize,
    end: bool,
) -> (Option<Piece>, usize, usize) {
    let mut pos = from.max(line);
    loop {
        let Some(i) = buf[pos..].iter().position(|&b| b == b'\n' || b == b'\r') else {
            return (None, line, buf.len());
        };
        let t = pos + i;
        let len = match (buf[t], buf.get(t + 1)) {
            (b'\r', Some(b'\n')) => 2,
            (b'\r', None) if !end => return (None, line, t),
            _ => 1,
        };
        if t == line {
            // The empty line: the event's content ends before the line
            // ending that precedes it.
            let before = if t == start {
                0
            } else if t >= start + 2 && buf[t - 1] == b'\n' && buf[t - 2] == b'\r' {
                2
            } else {
                1
            };
            let piece = Piece {
                content: t - before,
                next: t + len,
            };
            return (Some(piece), t + len, t + len);
        }
        line = t + len;
        pos = line;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrub::class::{Action, DataClass};
    use crate::scrub::detect::{Detector, DetectorSet};

    fn classes() -> Classes {
        Classes::new(vec![DataClass {
            name: "card_number".into(),
            detectors: DetectorSet::empty().with(Detector::Pan),
            action: Action::MaskPan,
        }])
    }

    #[test]
    fn a_long_line_fed_in_small_parts_is_searched_once() {
        let contract = Contract {
            scan: DetectorSet::all(),
            text: true,
            max_body: 1 << 20,
            ..Contract::default()
        };
        let headers = BodyHeaders {
            content_type: vec!["text/event-stream".into()],
            content_encoding: Vec::new(),
        };
        let key = HashKey::from_bytes(b"k");
        let mut f = Flow::new(Framing::Events, &classes());
        f.feed(
            b"id: 1\r\ndata: ",
            false,
            &headers,
            &contract,
            &classes(),
            &key,
        );
        for _ in 0..1000 {
            let fed = f.feed(&[b'x'; 16], false, &headers, &contract, &classes(), &key);
            assert!(fed.out.is_empty() && fed.refused.is_none());
            // Everything held was searched; only the new part is next time.
            assert_eq!(f.searched, f.pending.len());
            assert_eq!(f.line, b"id: 1\r\n".len());
        }
        let fed = f.feed(b"\r\n\r\n", false, &headers, &contract, &classes(), &key);
        assert_eq!(fed.out.len(), b"id: 1\r\ndata: \r\n\r\n".len() + 16_000);
        assert!(f.pending.is_empty());
    }

    #[test]
    fn a_piece_at_the_bound_passes_however_it_is_split() {
        let contract = Contract {
            scan: DetectorSet::all(),
            text: true,
            max_body: 32,
            ..Contract::default()
        };
        let key = HashKey::from_bytes(b"k");
        let event = format!("data: {}", "e".repeat(26));
        let line = format!("{{\"n\":\"{}\"}}", "l".repeat(24));
        assert_eq!((event.len(), line.len()), (32, 32));
        for (framing, ct, piece, ending) in [
            (Framing::Events, "text/event-stream", &event, "\r\n\r\n"),
            (Framing::Lines, "application/x-ndjson", &line, "\r\n"),
        ] {
            let headers = BodyHeaders {
                content_type: vec![ct.into()],
                content_encoding: Vec::new(),
            };
            let whole = format!("{piece}{ending}");
            for cut in piece.len()..=whole.len() {
                let mut f = Flow::new(framing, &classes());
                let a = f.feed(
                    &whole.as_bytes()[..cut],
                    false,
                    &headers,
                    &contract,
                    &classes(),
                    &key,
                );
                let b = f.feed(
                    &whole.as_bytes()[cut..],
                    false,
                    &headers,
                    &contract,
                    &classes(),
                    &key,
                );
                assert!(
                    a.refused.is_none() && b.refused.is_none(),
                    "{framing:?} cut at {cut}"
                );
                assert_eq!([a.out, b.out].concat(), whole.as_bytes());
            }
        }
    }
}
