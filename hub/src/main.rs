//! `yl-hub`: thin entry point; everything lives in the library.

#[tokio::main]
async fn main() {
    if let Err(e) = yinglian_hub::main_hub().await {
        eprintln!("yl-hub: {e:#}");
        std::process::exit(1);
    }
}
