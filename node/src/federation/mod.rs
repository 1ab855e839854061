//! The federation: PKI, the one admission gate, authorization by place in the tree, the wire
//! (mutual TLS under tonic), the services (Sync, Feed, Directory, Reports) and the server that
//! assembles them; and the feed subscriber's follow loop (`subscriber`).

pub mod admission;
pub mod authz;
pub mod catalogue;
pub mod directory;
pub mod feed;
pub mod membership;
pub mod net;
pub mod pki;
pub mod reports;
pub mod server;
pub mod subscriber;
pub mod sync;
