//! Port of upstream's `FuzzTestCustomize`: random JSON documents whose strings mix letters,
//! property references (some undefined) and syntax errors. For each, the number of errors,
//! whether the output depends on the cluster, and (when error-free) the expansion must be as
//! the generator predicts.
#![allow(clippy::unwrap_used)] // In tests a panic is the failure report.

use std::collections::{BTreeMap, BTreeSet};

use kubestellar_plugin_sdk::ClusterContext;
use serde_json::{Map, Value, json};
use transform_default::templates::expand;

/// A small deterministic generator (SplitMix64), so failures reproduce from the seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn intn(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

struct Generator {
    rng: Rng,
    defs: BTreeMap<String, String>,
    undefined: BTreeSet<String>,
    errors: usize,
    change_some: bool,
}

impl Generator {
    fn data(&mut self) -> (Value, Value) {
        let kind = self.rng.intn(100);
        match kind {
            0..25 => {
                let size = self.rng.intn(3) + self.rng.intn(2);
                let (mut input, mut expected) = (Map::new(), Map::new());
                for i in 0..size {
                    let key = format!("k{}", (i + 1) * 10 + self.rng.intn(10));
                    let (a, b) = self.data();
                    input.insert(key.clone(), a);
                    expected.insert(key, b);
                }
                (Value::Object(input), Value::Object(expected))
            }
            25..50 => {
                let size = self.rng.intn(3) + self.rng.intn(2);
                let (input, expected): (Vec<Value>, Vec<Value>) =
                    (0..size).map(|_| self.data()).unzip();
                (Value::Array(input), Value::Array(expected))
            }
            50..75 => {
                let (a, b) = self.string(true);
                (Value::String(a), Value::String(b))
            }
            75..82 => {
                let x = self.rng.next() >> 1;
                (json!(x), json!(x))
            }
            82..89 => {
                let x = (self.rng.next() >> 11) as f64 / (1u64 << 53) as f64;
                (json!(x), json!(x))
            }
            89..96 => {
                let x = self.rng.intn(2) == 1;
                (json!(x), json!(x))
            }
            _ => (Value::Null, Value::Null),
        }
    }

    fn string(&mut self, with_params: bool) -> (String, String) {
        let size = self.rng.intn(4) + self.rng.intn(4);
        let (mut input, mut expected) = (String::new(), String::new());
        let mut expect_more = true;
        let mut failed = false;
        let mut syntax_error = false;
        let mut generated_param = false;
        for _ in 0..size {
            if with_params && self.rng.intn(60) == 0 {
                input.push_str("{{ + }}");
                expect_more = false;
                syntax_error = true;
            } else if with_params && self.rng.intn(60) == 0 {
                input.push_str("{{if true}}");
                expect_more = false;
                syntax_error = true;
            } else if with_params && self.rng.intn(5) == 0 {
                let name = format!("p{}", self.rng.intn(10));
                input.push_str(&format!("{{{{.{name}}}}}"));
                generated_param = true;
                let value = if let Some(v) = self.defs.get(&name) {
                    Some(v.clone())
                } else if self.undefined.contains(&name) {
                    None
                } else if self.rng.intn(3) > 0 {
                    let (v, _) = self.string(false);
                    self.defs.insert(name.clone(), v.clone());
                    Some(v)
                } else {
                    self.undefined.insert(name.clone());
                    None
                };
                match value {
                    Some(v) if expect_more => expected.push_str(&v),
                    Some(_) => {}
                    None => {
                        failed = true;
                        expect_more = false;
                    }
                }
            } else {
                let c = char::from(b'A' + u8::try_from(self.rng.intn(26)).unwrap());
                input.push(c);
                if expect_more {
                    expected.push(c);
                }
            }
        }
        if syntax_error {
            self.errors += 1;
            return (input, String::new());
        }
        self.change_some |= generated_param;
        if failed {
            self.errors += 1;
        }
        (input, expected)
    }
}

#[test]
fn fuzz_customize() {
    let (mut with_errors, mut expanded) = (0, 0);
    for seed in [42u64, 19, 7, 2024, 99_991] {
        let mut rng = Rng(seed);
        for attempt in 1..=100 {
            let mut generator = Generator {
                rng: Rng(rng.next()),
                defs: BTreeMap::new(),
                undefined: BTreeSet::new(),
                errors: 0,
                change_some: false,
            };
            let (input, expected) = generator.data();
            let cluster = generator.defs.iter().fold(
                ClusterContext::named(format!("try{attempt}")),
                |c, (k, v)| c.with_property(k, v),
            );
            let mut doc = Map::new();
            doc.insert("d".to_owned(), input.clone());
            let outcome = expand(&mut doc, &cluster);
            let context = format!(
                "seed {seed} attempt {attempt}: input {input}, defs {:?}",
                generator.defs
            );
            assert_eq!(
                outcome.errors.len(),
                generator.errors,
                "{context}: errors {:?}",
                outcome.errors
            );
            assert_eq!(
                outcome.used_cluster,
                generator.change_some || generator.errors > 0,
                "{context}"
            );
            if generator.errors == 0 {
                assert_eq!(doc["d"], expected, "{context}");
                expanded += usize::from(generator.change_some);
            } else {
                with_errors += 1;
            }
        }
    }
    // The generator must have exercised both outcomes.
    assert!(
        with_errors > 20 && expanded > 20,
        "errors {with_errors}, expansions {expanded}"
    );
}
