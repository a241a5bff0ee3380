//! QR codes as inline SVG.

use qrcode::QrCode;
use qrcode::render::svg;

/// The SVG of a QR code for `data`, ready to inline in HTML.
pub(crate) fn svg(data: &str) -> String {
    match QrCode::new(data.as_bytes()) {
        Ok(code) => {
            let s = code
                .render::<svg::Color<'_>>()
                .min_dimensions(180, 180)
                .quiet_zone(true)
                .build();
            // Inline SVG takes no XML declaration.
            match s.find("<svg") {
                Some(i) => s[i..].to_owned(),
                None => s,
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot draw a QR code");
            String::new()
        }
    }
}
