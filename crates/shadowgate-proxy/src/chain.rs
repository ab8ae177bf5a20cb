//! [`ErrorChain`]: an error shown with its causes, for logs (the request path and the health
//! checks both log failures this way).

use std::error::Error;

/// Displays an error with its causes: `outer: cause: root cause`.
pub(crate) struct ErrorChain<'a>(pub(crate) &'a (dyn Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(e) = cause {
            write!(f, ": {e}")?;
            cause = e.source();
        }
        Ok(())
    }
}
