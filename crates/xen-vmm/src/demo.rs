//! The built-in demo guest (assembled at run time with iced-x86).

/// Placeholder until the demo is assembled.
pub fn demo_image() -> Vec<u8> {
    Vec::new()
}
