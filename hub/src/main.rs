//! `yl-hub`: thin entry point; everything lives in the library.

fn main() {
    yinglian_node::cli::run_process(async {
        if let Err(e) = yinglian_hub::main_hub().await {
            eprintln!("yl-hub: {}", yinglian_node::cli::reason(&e));
            std::process::exit(1);
        }
    })
}
