//! Turning evaluation results into CombinedStatus `Value` cells.

use kubestellar_plugin_sdk::CellValue;

use crate::evaluated::Evaluated;
use crate::format::format_float;

/// The cell for an evaluation result. Integers print as integers, doubles as Go's
/// `FormatFloat(v, 'g', -1, 64)`. CEL maps *and lists* become `Object` cells, as upstream
/// renders them (it never emits `Array`).
pub fn to_cell(value: Evaluated) -> CellValue {
    match value {
        Evaluated::Null => CellValue::Null,
        Evaluated::Bool(b) => CellValue::Bool(b),
        Evaluated::Int(i) => CellValue::Number(i.to_string()),
        Evaluated::UInt(u) => CellValue::Number(u.to_string()),
        Evaluated::Double(d) => CellValue::Number(format_float(d)),
        Evaluated::String(s) => CellValue::String(s),
        Evaluated::Json(json) => CellValue::Object(json.to_string()),
    }
}
