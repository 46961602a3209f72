//! Deserializers for integer fields of request bodies that also accept a JSON number with a
//! zero fraction (`45.0`): JSON Schema counts such a number as an `integer` (2020-12
//! validation §6.1.1, "integer" is any number with a zero fractional part), so a client
//! following the OpenAPI document may send one. Anything else that is not an integer in the
//! target's range is refused as before (a 422 naming the field).

use serde::de::{Deserializer, Error, Visitor};
use serde::Deserialize;
use std::fmt;
use std::marker::PhantomData;

struct Integral<T>(PhantomData<T>);

impl<T: TryFrom<i64> + TryFrom<u64>> Visitor<'_> for Integral<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an integer")
    }
    fn visit_i64<E: Error>(self, v: i64) -> Result<T, E> {
        T::try_from(v).map_err(|_| E::custom(format!("{v} is out of range")))
    }
    fn visit_u64<E: Error>(self, v: u64) -> Result<T, E> {
        T::try_from(v).map_err(|_| E::custom(format!("{v} is out of range")))
    }
    fn visit_f64<E: Error>(self, v: f64) -> Result<T, E> {
        // Exactly representable integers only (|v| < 2^63).
        if v.fract() == 0.0 && v.abs() < 9.223_372_036_854_776e18 {
            self.visit_i64(v as i64)
        } else {
            Err(E::custom(format!("{v} is not an integer")))
        }
    }
}

/// An integer (`u32`, `i32`, …), also from a number such as `45.0`.
pub fn integer<'de, D: Deserializer<'de>, T: TryFrom<i64> + TryFrom<u64>>(
    d: D,
) -> Result<T, D::Error> {
    d.deserialize_any(Integral(PhantomData))
}

/// An optional integer, as [`integer`]; `null` is `None`.
pub fn opt_integer<'de, D: Deserializer<'de>, T: TryFrom<i64> + TryFrom<u64>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    #[derive(serde::Deserialize)]
    struct Wrap<T: TryFrom<i64> + TryFrom<u64>>(#[serde(deserialize_with = "integer")] T);
    Ok(Option::<Wrap<T>>::deserialize(d)?.map(|Wrap(v)| v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Body {
        #[serde(deserialize_with = "integer")]
        n: u32,
        #[serde(default, deserialize_with = "opt_integer")]
        k: Option<i32>,
    }

    #[test]
    fn integral_numbers_are_integers() {
        let b: Body = serde_json::from_str(r#"{"n": 45.0, "k": -3}"#).unwrap();
        assert_eq!(b, Body { n: 45, k: Some(-3) });
        let b: Body = serde_json::from_str(r#"{"n": 7, "k": null}"#).unwrap();
        assert_eq!(b, Body { n: 7, k: None });
        let b: Body = serde_json::from_str(r#"{"n": 7}"#).unwrap();
        assert_eq!(b.k, None);
        for bad in [
            r#"{"n": 4.5}"#,
            r#"{"n": -1}"#,
            r#"{"n": 5e10}"#,
            r#"{"n": "5"}"#,
        ] {
            assert!(serde_json::from_str::<Body>(bad).is_err(), "{bad}");
        }
    }
}
