#![no_main]
// See vipd::fuzzing::http for the input format and the properties checked.
libfuzzer_sys::fuzz_target!(|data: &[u8]| vipd::fuzzing::http(data));
