//! `yl-node`: thin entry point; everything lives in the library.

#[tokio::main]
async fn main() {
    if let Err(e) = yinglian_node::cli::main_node().await {
        eprintln!("yl-node: {e:#}");
        std::process::exit(1);
    }
}
