//! `bulk-endpoint [ADDR]`: serves a bulk endpoint that accepts everything without
//! indexing, to measure the agent's output path alone. Prints its address, then every
//! second the items received so far.

fn main() -> anyhow::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:0".into());
    let endpoint = testkit::BulkEndpoint::bind(&addr, std::sync::Arc::new(|_, _, _, _| 201), false, usize::MAX)?;
    println!("{}", endpoint.addr);
    loop {
        std::thread::sleep(std::time::Duration::from_secs(1));
        let (requests, items) = endpoint.seen(|s| (s.bulk_requests, s.items));
        eprintln!("bulk requests {requests}, items {items}");
    }
}
