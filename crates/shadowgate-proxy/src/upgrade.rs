//! Upgrade pass-through (WebSocket and friends): the request keeps its `Connection: upgrade` and
//! `Upgrade` headers, and when the upstream answers `101` the client's and the upstream's
//! upgraded connections are bridged byte for byte.

use http::header::{HeaderMap, HeaderValue, CONNECTION, UPGRADE};
use http::{Request, Response, StatusCode};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

/// The client side of an upgrade, taken from the request before it is forwarded.
#[derive(Debug)]
pub(crate) struct PendingUpgrade {
    client: OnUpgrade,
    protocol: HeaderValue,
}

/// Takes the client's pending upgrade when the request asks for one (`Connection: upgrade` with
/// an `Upgrade` header).
pub(crate) fn take<B>(req: &mut Request<B>) -> Option<PendingUpgrade> {
    if !shadowgate::is_upgrade(req) {
        return None;
    }
    let protocol = req.headers().get(UPGRADE)?.clone();
    let client = hyper::upgrade::on(req);
    Some(PendingUpgrade { client, protocol })
}

impl PendingUpgrade {
    /// Puts back the upgrade headers that hop-by-hop removal took from the forwarded request.
    pub(crate) fn restore_headers(&self, headers: &mut HeaderMap) {
        set_upgrade_headers(headers, self.protocol.clone());
    }

    /// When the upstream switched protocols, keeps the `101`'s upgrade headers and bridges the two
    /// connections on a task of their own; otherwise the client's upgrade is simply dropped.
    /// `headers` have had their hop-by-hop headers removed already.
    pub(crate) fn finish<B>(
        self,
        response: &mut Response<B>,
        upstream_protocol: Option<HeaderValue>,
    ) {
        if response.status() != StatusCode::SWITCHING_PROTOCOLS {
            return;
        }
        let protocol = upstream_protocol.unwrap_or(self.protocol);
        set_upgrade_headers(response.headers_mut(), protocol);
        let upstream = hyper::upgrade::on(response);
        tokio::spawn(bridge(self.client, upstream));
    }
}

fn set_upgrade_headers(headers: &mut HeaderMap, protocol: HeaderValue) {
    headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(UPGRADE, protocol);
}

/// Copies bytes both ways until either side closes.
async fn bridge(client: OnUpgrade, upstream: OnUpgrade) {
    let (client, upstream) = match tokio::try_join!(client, upstream) {
        Ok(both) => both,
        Err(error) => {
            tracing::debug!(%error, "upgrade did not complete");
            return;
        }
    };
    let mut client = TokioIo::new(client);
    let mut upstream = TokioIo::new(upstream);
    if let Err(error) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
        tracing::debug!(%error, "upgraded connection ended with an error");
    }
}
