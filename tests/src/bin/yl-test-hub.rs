//! `yl-hub` built inside the tests crate, so that tests can run it as a separate process (and
//! kill it) through `CARGO_BIN_EXE_yl-test-hub`.

#[tokio::main]
async fn main() {
    if let Err(e) = yinglian_hub::main_hub().await {
        eprintln!("yl-hub: {e:#}");
        std::process::exit(1);
    }
}
