//! One field of a wire object, kept as the sender wrote it.
//!
//! Upstream's SDK forwards `TrainerInput` fields with `JSON.stringify`'s
//! rules and no checks of its own; the backend checks them and names the
//! field in its answer. So a field here never fails to deserialize: it holds
//! the JSON it was given (sent on unchanged, `10` stays `10`) and, when that
//! JSON has the field's type, the typed value too.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// A value of a wire type read from JSON, or `None` where the JSON has
/// another type. The field's type in upstream's `types.ts` decides.
pub trait FromWire: Sized {
    /// The value `v` stands for, if it is of this type.
    fn from_wire(v: &Value) -> Option<Self>;
}

impl FromWire for f64 {
    fn from_wire(v: &Value) -> Option<Self> {
        v.as_f64()
    }
}

impl FromWire for bool {
    fn from_wire(v: &Value) -> Option<Self> {
        v.as_bool()
    }
}

impl FromWire for String {
    fn from_wire(v: &Value) -> Option<Self> {
        v.as_str().map(str::to_owned)
    }
}

impl FromWire for Value {
    fn from_wire(v: &Value) -> Option<Self> {
        Some(v.clone())
    }
}

/// One field of a wire object: absent, or the JSON given for it.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Field<T> {
    /// The key is not there (or was `undefined` in JS, which `JSON.stringify` drops).
    #[default]
    Absent,
    /// The key is there.
    Given {
        /// The JSON as sent; what is forwarded and echoed back.
        raw: Value,
        /// `raw` read as the field's type, when it is one.
        value: Option<T>,
    },
}

impl<T: FromWire> Field<T> {
    /// The field holding `raw`.
    pub fn given(raw: Value) -> Self {
        let value = T::from_wire(&raw);
        Field::Given { raw, value }
    }
}

impl<T> Field<T> {
    /// Whether the key is absent (such a field is not serialized).
    pub fn is_absent(&self) -> bool {
        matches!(self, Field::Absent)
    }

    /// The JSON as sent, if the key is there.
    pub fn raw(&self) -> Option<&Value> {
        match self {
            Field::Absent => None,
            Field::Given { raw, .. } => Some(raw),
        }
    }

    /// The typed value: `Ok(None)` when absent or `null` (the backend's
    /// defaults apply), `Err(raw)` when the JSON has another type.
    pub fn get(&self) -> Result<Option<&T>, &Value> {
        match self {
            Field::Absent | Field::Given { raw: Value::Null, .. } => Ok(None),
            Field::Given { value: Some(v), .. } => Ok(Some(v)),
            Field::Given { raw, value: None } => Err(raw),
        }
    }
}

impl<T> Serialize for Field<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Field::Absent => s.serialize_none(),
            Field::Given { raw, .. } => raw.serialize(s),
        }
    }
}

impl<'de, T: FromWire> Deserialize<'de> for Field<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Value::deserialize(d).map(Field::given)
    }
}

/// `skip_serializing_if` for [`Field`]s.
pub(crate) fn is_absent<T>(f: &Field<T>) -> bool {
    f.is_absent()
}

/// A field with its wire name, for checks whose messages name the field.
#[derive(Debug)]
pub struct Named<'a, T> {
    /// The key on the wire (`maxSteps`).
    pub name: &'static str,
    /// Its value.
    pub field: &'a Field<T>,
}

// By hand: derived, these would ask `T: Copy` for a pair of references.
impl<T> Clone for Named<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Named<'_, T> {}

/// Declares a wire object: a struct of [`Field`]s, each with its wire name
/// written once. It derives serde (absent fields are not sent), lists the
/// names (`fields()`, in the order they are sent), gives an accessor per
/// field that pairs it with its name, and reads the object from JSON
/// objects only. `flatten { group: Type }` embeds other wire objects'
/// fields at the same level, after the struct's own.
macro_rules! wire_object {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$fmeta:meta])* $field:ident : $ty:ty => $wire:literal, )*
        }
        $( flatten { $( $(#[$gmeta:meta])* $group:ident : $gty:ty, )* } )?
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
        pub struct $name {
            $(
                $(#[$fmeta])*
                #[serde(rename = $wire, default, skip_serializing_if = "crate::field::is_absent")]
                pub $field: $crate::field::Field<$ty>,
            )*
            $($(
                $(#[$gmeta])*
                #[serde(flatten)]
                pub $group: $gty,
            )*)?
        }

        impl $name {
            /// The wire names of the fields, in the order they are sent.
            pub fn fields() -> Vec<&'static str> {
                #[allow(unused_mut)]
                let mut names = vec![$($wire),*];
                $($( names.extend(<$gty>::fields()); )*)?
                names
            }

            $(
                #[doc = concat!("`", $wire, "` with its wire name.")]
                pub fn $field(&self) -> $crate::field::Named<'_, $ty> {
                    $crate::field::Named { name: $wire, field: &self.$field }
                }
            )*
        }

        impl $crate::field::FromWire for $name {
            fn from_wire(v: &serde_json::Value) -> Option<Self> {
                if v.is_object() {
                    serde::Deserialize::deserialize(v).ok()
                } else {
                    None
                }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_field_keeps_what_it_was_given_and_reads_its_type() {
        let f: Field<f64> = Field::given(json!(10));
        assert_eq!(f.get(), Ok(Some(&10.0)));
        assert_eq!(serde_json::to_string(&f).unwrap(), "10", "sent as written, not as 10.0");
        let f: Field<f64> = Field::given(json!("ten"));
        assert_eq!(f.get(), Err(&json!("ten")));
        let f: Field<f64> = Field::given(Value::Null);
        assert_eq!(f.get(), Ok(None));
        assert_eq!(f.raw(), Some(&Value::Null));
        assert_eq!(Field::<f64>::Absent.get(), Ok(None));
        assert_eq!(Field::<f64>::Absent.raw(), None);
    }
}
