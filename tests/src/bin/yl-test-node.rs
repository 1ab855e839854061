//! `yl-node` built inside the tests crate, so that tests can run institutions as separate
//! processes through `CARGO_BIN_EXE_yl-test-node`.

#[tokio::main]
async fn main() {
    if let Err(e) = yinglian_node::cli::main_node().await {
        eprintln!("yl-node: {e:#}");
        std::process::exit(1);
    }
}
