//! An HTTP client for the web backend example's tests (hyper's, already in
//! axum's tree): JSON bodies, a deadline per request.

use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// One HTTP client (its own connection pool) against one service.
#[derive(Clone)]
pub struct Http {
    client: HyperClient<HttpConnector, Full<Bytes>>,
    base: String,
}

#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> T {
        serde_json::from_value(self.body.clone())
            .unwrap_or_else(|e| panic!("unexpected body {}: {e}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl Http {
    pub fn new(base: &str) -> Self {
        Http {
            client: HyperClient::builder(TokioExecutor::new()).build_http(),
            base: base.to_owned(),
        }
    }

    /// One request, answered within 30 s.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<String>,
    ) -> anyhow::Result<Reply> {
        self.send_within(method, path, headers, body, Duration::from_secs(30))
            .await
    }

    /// One request with a JSON body, answered within `deadline`.
    pub async fn send_value(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
        deadline: Duration,
    ) -> anyhow::Result<Reply> {
        self.send_within(method, path, headers, body.map(|b| b.to_string()), deadline)
            .await
    }

    /// One request, answered within `deadline`.
    pub async fn send_within(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<String>,
        deadline: Duration,
    ) -> anyhow::Result<Reply> {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let body = match body {
            Some(body) => {
                if !headers
                    .iter()
                    .any(|(name, _)| name.eq_ignore_ascii_case("content-type"))
                {
                    request = request.header("content-type", "application/json");
                }
                Full::new(Bytes::from(body))
            }
            None => Full::new(Bytes::new()),
        };
        let response =
            tokio::time::timeout(deadline, self.client.request(request.body(body)?)).await??;
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await?.to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .map_err(|e| anyhow::anyhow!("response body is not JSON ({e}): {bytes:?}"))?
        };
        Ok(Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Reply> {
        self.send(Method::GET, path, &[], None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Reply> {
        self.send(Method::POST, path, &[], Some(body.to_string()))
            .await
    }

    pub async fn put(
        &self,
        path: &str,
        if_match: Option<u64>,
        body: &Value,
    ) -> anyhow::Result<Reply> {
        let tag = if_match.map(|v| format!("\"{v}\""));
        let headers: Vec<(&str, &str)> = tag.iter().map(|t| ("if-match", t.as_str())).collect();
        self.send(Method::PUT, path, &headers, Some(body.to_string()))
            .await
    }

    pub async fn delete(&self, path: &str, if_match: Option<u64>) -> anyhow::Result<Reply> {
        let tag = if_match.map(|v| format!("\"{v}\""));
        let headers: Vec<(&str, &str)> = tag.iter().map(|t| ("if-match", t.as_str())).collect();
        self.send(Method::DELETE, path, &headers, None).await
    }
}
