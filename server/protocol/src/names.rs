//! Enums whose values travel by name (in storage, on the wire, in forms):
//! one macro writes the one string table of each, so every such enum parses,
//! prints and serializes alike, and an unknown name is always an
//! [`UnknownName`](crate::model::UnknownName) that lists the known ones.

/// Implements, for a field-less enum, its name table: `ALL` (every value, in
/// the order given), `const fn as_str`, `FromStr` (an unknown name is an
/// `UnknownName` naming `$what`), `Display` (padding respected), serde
/// `Serialize`/`Deserialize` as the name, and the `String` conversions diesel
/// and forms use.
///
/// ```
/// # use tessera_protocol::named_enum;
/// #[derive(Debug, Clone, Copy, PartialEq, Eq)]
/// enum Colour { Red, Green }
/// named_enum!(Colour, "colour", { Red => "red", Green => "green" });
/// assert_eq!("green".parse::<Colour>(), Ok(Colour::Green));
/// assert_eq!(Colour::Red.to_string(), "red");
/// assert_eq!("blue".parse::<Colour>().unwrap_err().to_string(), r#"unknown colour "blue"; known: red, green"#);
/// ```
#[macro_export]
macro_rules! named_enum {
    ($ty:ident, $what:literal, { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// Every value, in the order of its name table.
            pub const ALL: [$ty; [$($name),+].len()] = [$($ty::$variant),+];

            /// The name it is stored and sent as.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $name),+
                }
            }
        }

        impl ::std::str::FromStr for $ty {
            type Err = $crate::model::UnknownName;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL
                    .into_iter()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| $crate::model::UnknownName::new($what, s, Self::ALL.into_iter().map(Self::as_str)))
            }
        }

        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.pad(self.as_str())
            }
        }

        impl $crate::names::serde::Serialize for $ty {
            fn serialize<S: $crate::names::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> $crate::names::serde::Deserialize<'de> for $ty {
            fn deserialize<D: $crate::names::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <::std::borrow::Cow<'de, str> as $crate::names::serde::Deserialize>::deserialize(d)?;
                s.parse().map_err(<D::Error as $crate::names::serde::de::Error>::custom)
            }
        }

        impl From<$ty> for String {
            fn from(v: $ty) -> String {
                v.as_str().to_owned()
            }
        }

        impl TryFrom<String> for $ty {
            type Error = $crate::model::UnknownName;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                s.parse()
            }
        }
    };
}

/// serde, for the macro's expansions in crates that do not name it.
#[doc(hidden)]
pub use serde;
