//! A minimal blocking HTTP/1.1 client for raw requests (bad bodies, headers, watch streams),
//! so that tests see exactly what the server sends.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A complete response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// A header's value (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON (fails the test if it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("response is not JSON ({e}): {}", self.text()))
    }
}

/// A request being built.
pub struct Request<'a> {
    addr: &'a str,
    method: &'a str,
    path: &'a str,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl<'a> Request<'a> {
    /// A request to `addr` (`127.0.0.1:PORT`).
    pub fn new(addr: &'a str, method: &'a str, path: &'a str) -> Request<'a> {
        Request {
            addr,
            method,
            path,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Adds a header.
    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.to_string(), v.to_string()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, b: impl Into<Vec<u8>>) -> Self {
        self.body = b.into();
        self
    }

    /// Sets a JSON body and its content type.
    pub fn json(self, v: &serde_json::Value) -> Self {
        self.header("Content-Type", "application/json")
            .body(v.to_string())
    }

    fn open(&self) -> BufReader<TcpStream> {
        let mut s = TcpStream::connect(self.addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        let mut head = format!(
            "{} {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.method,
            self.path,
            self.addr,
            self.body.len()
        );
        for (k, v) in &self.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        s.write_all(head.as_bytes()).expect("send head");
        // The server may answer (413) before reading a large body: ignore a broken pipe.
        let _ = s.write_all(&self.body);
        BufReader::new(s)
    }

    /// Sends the request and reads the whole response.
    pub fn send(self) -> Response {
        let mut r = self.open();
        let (status, headers) = read_head(&mut r);
        let chunked = headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
        let mut body = Vec::new();
        if chunked {
            while let Some(chunk) = read_chunk(&mut r) {
                body.extend(chunk);
            }
        } else {
            let _ = r.read_to_end(&mut body);
        }
        Response {
            status,
            headers,
            body,
        }
    }

    /// Sends the request and returns a reader of a streamed (watch) response, line by line.
    pub fn stream(self) -> Stream {
        let mut r = self.open();
        let (status, headers) = read_head(&mut r);
        Stream {
            status,
            headers,
            reader: r,
            pending: Vec::new(),
        }
    }
}

/// A streamed chunked response.
pub struct Stream {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    reader: BufReader<TcpStream>,
    pending: Vec<u8>,
}

impl Stream {
    /// The next newline-terminated JSON line, or `None` when the stream ended.
    pub fn next_json(&mut self) -> Option<serde_json::Value> {
        loop {
            if let Some(i) = self.pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=i).collect();
                return Some(serde_json::from_slice(&line).expect("watch line is JSON"));
            }
            let chunk = read_chunk(&mut self.reader)?;
            self.pending.extend(chunk);
        }
    }
}

fn read_head(r: &mut BufReader<TcpStream>) -> (u16, Vec<(String, String)>) {
    let mut line = String::new();
    r.read_line(&mut line).expect("status line");
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    let mut headers = Vec::new();
    loop {
        line.clear();
        r.read_line(&mut line).expect("header line");
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    (status, headers)
}

fn read_chunk(r: &mut BufReader<TcpStream>) -> Option<Vec<u8>> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let size = usize::from_str_radix(line.trim(), 16).ok()?;
    if size == 0 {
        return None;
    }
    let mut buf = vec![0; size + 2];
    r.read_exact(&mut buf).ok()?;
    buf.truncate(size);
    Some(buf)
}

/// The ConfigMaps of `default`.
pub const CMS: &str = "/api/v1/namespaces/default/configmaps";

/// Asserts a kube `Status` failure with this code and reason; returns its message.
pub fn status(r: &Response, code: u16, reason: &str) -> String {
    assert_eq!(r.status, code, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    let s = r.json();
    assert_eq!(
        (
            s["kind"].as_str(),
            s["apiVersion"].as_str(),
            s["status"].as_str()
        ),
        (Some("Status"), Some("v1"), Some("Failure")),
        "{s}"
    );
    assert_eq!(s["code"], code, "{s}");
    assert_eq!(s["reason"], reason, "{s}");
    s["message"].as_str().unwrap_or_default().to_string()
}

/// The store's resourceVersion and the number of ConfigMaps in `default`.
pub fn snapshot(addr: &str) -> (String, usize) {
    let l = Request::new(addr, "GET", CMS).send().json();
    (
        l["metadata"]["resourceVersion"]
            .as_str()
            .expect("rv")
            .to_string(),
        l["items"].as_array().map_or(0, Vec::len),
    )
}

pub fn cm(name: &str) -> serde_json::Value {
    serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"a": "b"}})
}
