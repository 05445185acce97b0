//! Prints how grok walks a pattern: `grok_describe PATTERN [v1|disabled]`.
use pipeline_dsl::filters::grok::library::{Flavour, Library};
use pipeline_dsl::filters::grok::GrokPattern;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flavour = if args.get(2).map(String::as_str) == Some("disabled") { Flavour::Legacy } else { Flavour::EcsV1 };
    let p = GrokPattern::compile(&args[1], &Library::builtin(flavour), true).expect("pattern compiles");
    if !p.uses_segments() {
        println!("runs on the regex engine");
    }
    for line in p.describe() {
        println!("{line}");
    }
}
