//! Compiles every pattern of the built-in library (both flavours) and prints the time:
//! `cargo run --release -p pipeline-dsl --example grok_library_time`.
use pipeline_dsl::filters::grok::library::{Flavour, Library};
use pipeline_dsl::filters::grok::GrokPattern;

fn main() {
    for flavour in [Flavour::Legacy, Flavour::EcsV1] {
        let lib = Library::builtin(flavour);
        let names = lib.names();
        let start = std::time::Instant::now();
        let mut walked = 0;
        let mut slowest = (std::time::Duration::ZERO, String::new());
        for n in &names {
            let t = std::time::Instant::now();
            if let Ok(p) = GrokPattern::compile(&format!("%{{{n}}}"), &lib, true) {
                walked += usize::from(p.uses_segments());
            }
            if t.elapsed() > slowest.0 {
                slowest = (t.elapsed(), n.to_string());
            }
        }
        println!(
            "{flavour:?}: {} patterns in {:.1} ms ({walked} walked); slowest {} {:.1} ms",
            names.len(),
            start.elapsed().as_secs_f64() * 1e3,
            slowest.1,
            slowest.0.as_secs_f64() * 1e3
        );
    }
}
