//! What a backend and the SDK agree on besides the shapes: the local backend's
//! one org, and how often an event stream proves it is alive.

use std::time::Duration;

/// The org of the local backend (embedded, or `arkor serve`): its tokens belong to it
/// and the SDK keeps its projects there.
pub const LOCAL_ORG: &str = "local";

/// How long the local server waits for a request's head on a connection, an idle
/// keep-alive one included, before it closes it. Clients drop idle pooled
/// connections sooner, so none is reused just as the server closes it.
pub const REQUEST_HEAD_TIMEOUT: Duration = Duration::from_secs(30);

/// How often a job's event stream sends `event: ping` while it has nothing else to
/// say; a client counts missed pings to tell a dead connection from a quiet job.
pub const PING_INTERVAL: Duration = Duration::from_secs(15);
