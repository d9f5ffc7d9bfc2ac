//! Test doubles for the other side of a boundary, shared by the crates' tests.
//!
//! [`MockHttp`] is a plain HTTP/1.1 server on 127.0.0.1 with a thread of its own (so it
//! serves sync and async tests alike): each request is read whole (head, then as much
//! body as `Content-Length` says), recorded, and answered by the test's handler, one
//! connection per request.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// One request the server read.
#[derive(Clone, Debug)]
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The request target as sent (path and query).
    pub path: String,
    /// The request line and header lines, as sent.
    pub head: String,
    /// The body (`Content-Length` bytes).
    pub body: Vec<u8>,
    /// When the server finished reading it.
    pub at: Instant,
}

impl Request {
    /// The value of header `name` (case-insensitive), trimmed.
    pub fn header(&self, name: &str) -> Option<String> {
        header(&self.head, name)
    }
}

/// Header `name`'s value in a request head (case-insensitive), trimmed.
fn header(head: &str, name: &str) -> Option<String> {
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
    })
}

/// What the server does with a request.
#[derive(Clone, Debug)]
pub enum Reply {
    /// Answers with `status`, extra header lines and `body` (`Content-Length` and
    /// `Connection: close` are added).
    Respond { status: u16, headers: Vec<(String, String)>, body: Vec<u8> },
    /// Writes these bytes as the whole response (for answers `Respond` cannot make,
    /// such as a body without `Content-Length`), then closes.
    Raw(Vec<u8>),
    /// Closes the connection without answering.
    Drop,
}

impl Reply {
    /// `status` with a JSON body.
    pub fn json(status: u16, body: &str) -> Self {
        Reply::Respond { status, headers: vec![("content-type".into(), "application/json".into())], body: body.as_bytes().to_vec() }
    }

    /// `status` with raw bytes.
    pub fn bytes(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Reply::Respond { status, headers: Vec::new(), body: body.into() }
    }

    /// The same reply with one more header.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        if let Reply::Respond { headers, .. } = &mut self {
            headers.push((name.into(), value.into()));
        }
        self
    }
}

/// A running server; it lives until the test process ends.
pub struct MockHttp {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The port.
    pub port: u16,
    seen: Arc<Mutex<Vec<Request>>>,
}

impl MockHttp {
    /// Serves every request with `handler`.
    pub fn start(handler: impl Fn(&Request) -> Reply + Send + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local address").port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let Some(req) = read_request(&mut conn) else { continue };
                let reply = handler(&req);
                log.lock().unwrap().push(req);
                let bytes = match reply {
                    Reply::Respond { status, headers, body } => {
                        let mut out = format!("HTTP/1.1 {status} {}\r\n", reason(status));
                        for (k, v) in headers {
                            out.push_str(&format!("{k}: {v}\r\n"));
                        }
                        out.push_str(&format!("content-length: {}\r\nconnection: close\r\n\r\n", body.len()));
                        let mut out = out.into_bytes();
                        out.extend_from_slice(&body);
                        out
                    }
                    Reply::Raw(bytes) => bytes,
                    Reply::Drop => continue,
                };
                let _ = conn.write_all(&bytes);
                let _ = conn.flush();
            }
        });
        MockHttp { base: format!("http://127.0.0.1:{port}"), port, seen }
    }

    /// Answers the requests with `script` in order; the last reply repeats.
    pub fn script(script: Vec<Reply>) -> Self {
        assert!(!script.is_empty(), "a script needs at least one reply");
        let next = Mutex::new(0usize);
        Self::start(move |_| {
            let mut n = next.lock().unwrap();
            let r = script[(*n).min(script.len() - 1)].clone();
            *n += 1;
            r
        })
    }

    /// The requests read so far, in order.
    pub fn seen(&self) -> Vec<Request> {
        self.seen.lock().unwrap().clone()
    }
}

/// The head and `Content-Length` body of one request; None when the peer closed first.
fn read_request(conn: &mut TcpStream) -> Option<Request> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(k) => buf.extend_from_slice(&chunk[..k]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut line = head.split_whitespace();
    let (method, path) = (line.next().unwrap_or("").to_owned(), line.next().unwrap_or("").to_owned());
    let len: usize = header(&head, "content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    while buf.len() < head_end + len {
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(k) => buf.extend_from_slice(&chunk[..k]),
        }
    }
    let body = buf[head_end..buf.len().min(head_end + len)].to_vec();
    Some(Request { method, path, head, body, at: Instant::now() })
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        302 => "Found",
        404 => "Not Found",
        _ => "X",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(port: u16, path: &str, extra: &str) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(s, "POST {path} HTTP/1.1\r\nHost: x\r\nX-Key: v1\r\n{extra}content-length: 3\r\n\r\nabc").unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    }

    #[test]
    fn a_script_answers_in_order_and_records_each_request() {
        let m = MockHttp::script(vec![Reply::json(503, "{}").with_header("retry-after", "1"), Reply::Drop, Reply::Raw(b"HTTP/1.1 200 OK\r\n\r\nraw".to_vec()), Reply::bytes(200, "ok")]);
        let first = get(m.port, "/a?b=1", "");
        assert!(first.starts_with("HTTP/1.1 503 ") && first.contains("retry-after: 1\r\n") && first.ends_with("{}"), "{first}");
        assert_eq!(get(m.port, "/b", ""), "");
        assert_eq!(get(m.port, "/b2", ""), "HTTP/1.1 200 OK\r\n\r\nraw");
        assert!(get(m.port, "/c", "").ends_with("\r\n\r\nok"));
        assert!(get(m.port, "/d", "").ends_with("\r\n\r\nok"), "the last reply repeats");
        let seen = m.seen();
        assert_eq!(seen.iter().map(|r| r.path.as_str()).collect::<Vec<_>>(), ["/a?b=1", "/b", "/b2", "/c", "/d"]);
        assert_eq!((seen[0].method.as_str(), seen[0].header("x-key").as_deref(), seen[0].body.as_slice()), ("POST", Some("v1"), &b"abc"[..]));
    }
}
