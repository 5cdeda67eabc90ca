//! Bodies that flow: server-sent events and newline-delimited JSON, judged a
//! piece at a time as they arrive. Each event or line is held until it is
//! complete, then judged whole under the contract, as a body of its own would
//! be; nothing else of the stream is held. The contract's findings limit
//! counts across the whole stream. A piece the contract refuses ends the
//! stream: what follows it never crosses.

use super::body::{BodyHeaders, scrub_body};
use super::class::Classes;
use super::contract::Contract;
use super::{Findings, ScrubError};
use crate::secret::HashKey;

/// How a flowing body is cut into pieces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `text/event-stream`: events end with a blank line.
    Events,
    /// Newline-delimited JSON: one document per line.
    Lines,
}

impl Framing {
    /// The last piece a cut stream carries, which its reader recognises as
    /// an error: an `error` event, or a line of its own, holding `json`.
    pub fn terminal(self, json: &str) -> Vec<u8> {
        match self {
            Framing::Events => format!("event: error\ndata: {json}\n\n").into_bytes(),
            Framing::Lines => format!("{json}\n").into_bytes(),
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
    /// Findings over the whole stream, for the limit.
    findings: Findings,
    /// A piece was refused: nothing more crosses.
    cut: bool,
}

/// What one part of a flowing body became.
#[derive(Debug)]
pub struct Fed {
    /// What crosses for this part: the pieces it completed, as judged.
    pub out: Vec<u8>,
    /// Findings in those pieces.
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

impl Flow {
    pub fn new(framing: Framing, classes: &Classes) -> Self {
        Self {
            framing,
            pending: Vec::new(),
            searched: 0,
            findings: Findings::new(classes.len()),
            cut: false,
        }
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
        self.pending.extend_from_slice(part);
        let mut start = 0;
        while let Some(piece) = self.piece_end(start, end) {
            let result = self.judge(start, piece, headers, contract, classes, key, &mut fed);
            if let Err(e) = result {
                fed.refused = Some(e);
                self.cut = true;
                self.pending = Vec::new();
                return fed;
            }
            start = piece.next;
            self.searched = start;
        }
        self.pending.drain(..start);
        self.searched = self.searched.saturating_sub(start);
        // What is held is one piece not yet complete: bounded as a piece is.
        if self.pending.len() > contract.max_body {
            fed.refused = Some(ScrubError::TooLarge {
                limit: contract.max_body,
            });
            self.cut = true;
            self.pending = Vec::new();
            return fed;
        }
        fed
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
            Framing::Events => {
                let (piece, resume) = event_end(buf, start, from, end);
                self.searched = resume;
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
        let json;
        let as_body = match self.framing {
            Framing::Events => headers,
            Framing::Lines => {
                json = BodyHeaders {
                    content_type: vec!["application/json".to_owned()],
                    content_encoding: Vec::new(),
                };
                &json
            }
        };
        let scrubbed = scrub_body(content, as_body, contract, classes, key)?;
        self.findings.merge(&scrubbed.findings);
        fed.findings.merge(&scrubbed.findings);
        if let Some(limit) = contract.limit {
            fed.alert |= limit.judge(self.findings.total())?;
        }
        match scrubbed.body {
            None => fed.out.extend_from_slice(raw),
            Some(new) => {
                fed.changed = true;
                fed.out.extend_from_slice(&new);
                // The piece's end, as its reader needs it: the new text
                // may end in a way the old one did not.
                let ending: &[u8] = match (self.framing, piece.next > piece.content) {
                    (_, false) => b"",
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
/// lines ended by CRLF, LF or CR. The search resumes at `from`, the start of
/// the first line not yet complete. A CR as the last byte held may be half of
/// a CRLF: the line waits for the next byte, unless the body ends there.
/// Returns the piece, if complete, and where to resume.
fn event_end(buf: &[u8], start: usize, from: usize, end: bool) -> (Option<Piece>, usize) {
    let mut line = from.max(start);
    loop {
        let Some(i) = buf[line..].iter().position(|&b| b == b'\n' || b == b'\r') else {
            return (None, line);
        };
        let t = line + i;
        let len = match (buf[t], buf.get(t + 1)) {
            (b'\r', Some(b'\n')) => 2,
            (b'\r', None) if !end => return (None, line),
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
            return (Some(piece), t + len);
        }
        line = t + len;
    }
}
