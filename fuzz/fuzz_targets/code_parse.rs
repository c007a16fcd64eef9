#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| softtoken::test_support::fuzz_targets::code_parse(data));
