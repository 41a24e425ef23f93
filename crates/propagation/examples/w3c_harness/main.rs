//! W3C Trace Context test-harness service.
//!
//! ```text
//! cargo run --release --example w3c_harness -- 127.0.0.1:7778
//! # then, from a checkout of w3c/trace-context/test:
//! python test.py http://127.0.0.1:7778/test
//! ```
//!
//! See `server.rs` for the protocol and the limits. Binds loopback addresses only.

mod server;

use reqtrace_core::RequestTracer;

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7778".to_string());
    let listener = match server::bind_loopback(&addr) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("w3c_harness: {e}");
            std::process::exit(2);
        }
    };
    match listener.local_addr() {
        Ok(a) => println!("w3c_harness listening on http://{a}/test"),
        Err(e) => eprintln!("w3c_harness: {e}"),
    }
    server::serve(listener, RequestTracer::new("w3c-harness"));
}
