//! `yl-node`: thin entry point; everything lives in the library.

fn main() {
    yinglian_node::cli::run_process(async {
        if let Err(e) = yinglian_node::cli::main_node().await {
            eprintln!("yl-node: {}", yinglian_node::cli::reason(&e));
            std::process::exit(1);
        }
    })
}
