//! Structural defaulting (`defaulting/algorithm.go` and `prunenulls.go`).

use serde_json::Value;

use crate::schema::Schema;

/// Applies the schema's `default`s as the apiserver does on create, update and read:
/// first non-nullable `null`s without a default are dropped, then every absent property with
/// a default (and every non-nullable `null` that has one) gets a copy of it, recursively,
/// including inside list items and map values. Defaults only fill fields whose parent exists.
pub fn apply_defaults(value: &mut Value, schema: &Schema) {
    prune_non_nullable_nulls(value, Some(schema));
    default(value, schema);
}

fn field_schema(key: &str, s: Option<&Schema>) -> Option<Schema> {
    let s = s?;
    s.property(key).or_else(|| s.additional_properties())
}

fn prune_non_nullable_nulls(x: &mut Value, s: Option<&Schema>) {
    match x {
        Value::Object(map) => {
            let keys: Vec<String> = map.keys().cloned().collect();
            for k in keys {
                let fs = field_schema(&k, s);
                let Some(v) = map.get_mut(&k) else { continue };
                let drop = v.is_null()
                    && fs
                        .as_ref()
                        .is_some_and(|f| !f.is_nullable() && f.default_value().is_none());
                if drop {
                    map.remove(&k);
                } else {
                    prune_non_nullable_nulls(v, fs.as_ref());
                }
            }
        }
        Value::Array(items) => {
            let item_schema = s.and_then(Schema::items);
            for v in items {
                prune_non_nullable_nulls(v, item_schema.as_ref());
            }
        }
        _ => {}
    }
}

fn is_non_nullable_null(x: &Value, s: &Schema) -> bool {
    x.is_null() && !s.is_nullable()
}

fn default(x: &mut Value, s: &Schema) {
    match x {
        Value::Object(map) => {
            for (k, prop) in s.properties() {
                let Some(d) = prop.default_value() else {
                    continue;
                };
                let missing = map.get(&k).is_none_or(|v| is_non_nullable_null(v, &prop));
                if missing {
                    map.insert(k, d);
                }
            }
            let additional = s.additional_properties();
            for (k, v) in map.iter_mut() {
                if let Some(prop) = s.property(k) {
                    default(v, &prop);
                } else if let Some(ap) = &additional {
                    if is_non_nullable_null(v, ap)
                        && let Some(d) = ap.default_value()
                    {
                        *v = d;
                    }
                    default(v, ap);
                }
            }
        }
        Value::Array(items) => {
            let Some(item_schema) = s.items() else { return };
            for v in items {
                if is_non_nullable_null(v, &item_schema)
                    && let Some(d) = item_schema.default_value()
                {
                    *v = d;
                }
                default(v, &item_schema);
            }
        }
        _ => {}
    }
}
