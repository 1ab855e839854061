//! Generates the gRPC code of `yinglian.v1` with protox (no system `protoc`) and writes the
//! descriptor set that server reflection serves.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = [
        "yinglian/v1/sync.proto",
        "yinglian/v1/feed.proto",
        "yinglian/v1/directory.proto",
        "yinglian/v1/reports.proto",
        "yinglian/v1/catalogue.proto",
    ];
    for p in protos {
        println!("cargo:rerun-if-changed={p}");
    }
    let fds = protox::compile(protos, ["."])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("yinglian_descriptor.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // A feed row prints as the stats contract's JSON (`yl-node subscribe`), field for field.
        .type_attribute("yinglian.v1.FigureRow", "#[derive(serde::Serialize)]")
        .compile_fds(fds)?;
    Ok(())
}
