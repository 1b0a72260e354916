//! The elaborated model as JSON, in the stable schema FORMAT.md documents.

use serde_json::{json, Map, Value};

use crate::model::Device;

/// Builds the JSON document for `dev`.
pub fn to_json(dev: &Device) -> Value {
    let registers: Vec<Value> = dev
        .registers
        .iter()
        .map(|r| {
            let fields: Vec<Value> = r
                .fields
                .iter()
                .map(|f| {
                    let en = f.enum_name.as_deref().and_then(|n| dev.enum_by_name(n)).map(|e| {
                        Value::Object(e.values.iter().map(|v| (v.name.clone(), json!(v.value))).collect::<Map<_, _>>())
                    });
                    json!({
                        "name": f.name, "lsb": f.lsb, "msb": f.msb,
                        "access": f.access.as_str(), "reset": f.reset, "enum": en,
                    })
                })
                .collect();
            json!({
                "name": r.path(),
                "offset": r.offset,
                "width": r.width.bits(),
                "access": r.access.as_str(),
                "reset": r.reset,
                "arrays": r.arrays.iter().map(|a| json!({"count": a.count, "stride": a.stride})).collect::<Vec<_>>(),
                "alias": r.alias.as_ref().map(|a| a.target_path.clone()),
                "fields": fields,
            })
        })
        .collect();
    let structs: Vec<Value> = dev
        .structs
        .iter()
        .map(|s| {
            json!({
                "name": s.name,
                "size": s.size,
                "fields": s.fields.iter().map(|f| json!({"name": f.name, "lsb": f.abs_lsb(), "msb": f.abs_msb()})).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({ "device": dev.name, "registers": registers, "structs": structs })
}
