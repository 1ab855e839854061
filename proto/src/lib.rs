//! The gRPC contract of package `yinglian.v1`; the generated code arrives with the Sync service.
