#![no_main]
// See vipd::fuzzing::core for the input format and the properties checked.
libfuzzer_sys::fuzz_target!(|data: &[u8]| vipd::fuzzing::core(data));
