//! Feeds arbitrary text to the metadata JSON parser (it reads user input and files written by
//! other processes). It must never panic, and whatever it accepts must print back to text that
//! parses to the same value, and print the same way again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mneme::Metadata;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(m) = Metadata::from_json(text) {
        let printed = m.to_json();
        let again = Metadata::from_json(&printed).expect("our own output parses");
        assert_eq!(again, m);
        assert_eq!(again.to_json(), printed);
    }
});
