//! The gRPC contract of yinglian (package `yinglian.v1`), generated at build time, and the
//! encoded descriptor set for server reflection.

#![allow(clippy::all, clippy::pedantic)]

pub mod v1 {
    tonic::include_proto!("yinglian.v1");
}

/// The encoded `FileDescriptorSet` of every `yinglian.v1` file, for `tonic-reflection`.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("yinglian_descriptor");
