//! Request-path errors to responses: one function walks an error's cause chain and picks the
//! status, a short `text/plain` body and the upstream outcome (linkerd's `rescue`).

use std::error::Error;
use std::io;

use http::{Response, StatusCode};

use crate::answer::Answer;
use crate::body::ProxyBody;
use crate::metrics::UpstreamOutcome;
use crate::upstream::{ClientBodyError, Unavailable};

/// What a failed upstream request becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rescue {
    pub(crate) status: StatusCode,
    pub(crate) message: &'static str,
    /// The backend's outcome; `None` when the failure was the client's, which no backend is
    /// counted (or logged) for.
    pub(crate) outcome: Option<UpstreamOutcome>,
}

const UNREACHABLE: Rescue = Rescue {
    status: StatusCode::BAD_GATEWAY,
    message: "502 Bad Gateway: the upstream is unreachable\n",
    outcome: Some(UpstreamOutcome::ConnectError),
};
const TIMED_OUT: Rescue = Rescue {
    status: StatusCode::GATEWAY_TIMEOUT,
    message: "504 Gateway Timeout: the upstream did not answer in time\n",
    outcome: Some(UpstreamOutcome::Timeout),
};
const FAILED: Rescue = Rescue {
    status: StatusCode::BAD_GATEWAY,
    message: "502 Bad Gateway: the upstream connection failed\n",
    outcome: Some(UpstreamOutcome::Error),
};
const BAD_TARGET: Rescue = Rescue {
    status: StatusCode::BAD_REQUEST,
    message: "400 Bad Request: the request target cannot be forwarded\n",
    outcome: Some(UpstreamOutcome::Error),
};
const CLIENT_BODY: Rescue = Rescue {
    status: StatusCode::BAD_REQUEST,
    message: "400 Bad Request: the request body is malformed\n",
    outcome: None,
};

const NO_HEALTHY: Rescue = Rescue {
    status: StatusCode::SERVICE_UNAVAILABLE,
    message: "503 Service Unavailable: no healthy backend\n",
    outcome: Some(UpstreamOutcome::Unavailable),
};
const AT_CAPACITY: Rescue = Rescue {
    status: StatusCode::SERVICE_UNAVAILABLE,
    message: "503 Service Unavailable: every backend is at capacity\n",
    outcome: Some(UpstreamOutcome::Unavailable),
};

/// The answer when no backend could take a request.
pub(crate) fn unavailable(why: Unavailable) -> Rescue {
    match why {
        Unavailable::NoHealthy => NO_HEALTHY,
        Unavailable::AtCapacity => AT_CAPACITY,
    }
}

/// Maps an error to its response by the first cause that says what happened: a timeout is 504,
/// a connect failure 502 (`connect_error`), a failure to read the client's own body 400 (no
/// backend outcome: the client's error), anything else 502 (`error`).
pub(crate) fn rescue(error: &(dyn Error + 'static)) -> Rescue {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if e.is::<ClientBodyError>() {
            return CLIENT_BODY;
        }
        if e.is::<tokio::time::error::Elapsed>() {
            return TIMED_OUT;
        }
        if let Some(e) = e.downcast_ref::<shadowgate::pool::PoolError>() {
            if e.is_connect() {
                return UNREACHABLE;
            }
        }
        if e.is::<http::Error>() || e.is::<http::uri::InvalidUri>() {
            return BAD_TARGET;
        }
        if let Some(e) = e.downcast_ref::<io::Error>() {
            if matches!(
                e.kind(),
                io::ErrorKind::ConnectionRefused
                    | io::ErrorKind::HostUnreachable
                    | io::ErrorKind::NetworkUnreachable
                    | io::ErrorKind::AddrNotAvailable
            ) {
                return UNREACHABLE;
            }
        }
        cause = e.source();
    }
    FAILED
}

impl Rescue {
    /// The short `text/plain` response.
    pub(crate) fn response(self) -> Response<ProxyBody> {
        Answer::text(self.status, self.message).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Wrapper(io::Error);

    impl std::fmt::Display for Wrapper {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("wrapped")
        }
    }

    impl Error for Wrapper {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn walks_the_cause_chain() {
        let refused = Wrapper(io::Error::from(io::ErrorKind::ConnectionRefused));
        assert_eq!(rescue(&refused), UNREACHABLE);
        let reset = Wrapper(io::Error::from(io::ErrorKind::ConnectionReset));
        assert_eq!(rescue(&reset).status, StatusCode::BAD_GATEWAY);
        assert_eq!(rescue(&reset).outcome, Some(UpstreamOutcome::Error));
    }

    #[test]
    fn unavailable_is_503_naming_the_reason() {
        let none = unavailable(Unavailable::NoHealthy);
        assert_eq!(none.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(none.message.contains("no healthy backend"));
        let full = unavailable(Unavailable::AtCapacity);
        assert_eq!(full.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(full.message.contains("every backend is at capacity"));
    }

    #[tokio::test]
    async fn elapsed_is_a_gateway_timeout() {
        let elapsed = tokio::time::timeout(std::time::Duration::ZERO, std::future::pending::<()>())
            .await
            .unwrap_err();
        let boxed: Box<dyn Error + Send + Sync> = Box::new(elapsed);
        assert_eq!(rescue(&*boxed), TIMED_OUT);
    }
}
