//! Compressed bodies are compared decoded (docs/verdicts.md, "What is compared"): `gzip`
//! (`x-gzip`), `deflate` (zlib, or raw deflate as some servers send it) and `br`, each under
//! the comparison's `max_body_bytes` as a cap on the decoded size. A body with another encoding,
//! several encodings, one that does not decode, or one that decodes past the cap is compared as
//! it came.

use std::borrow::Cow;
use std::io::Read;

use http::header::CONTENT_ENCODING;
use http::HeaderMap;

/// The body as its `Content-Encoding` says to read it, or as it came (see the module's notes).
pub(crate) fn decoded<'a>(headers: &HeaderMap, body: &'a [u8], cap: usize) -> Cow<'a, [u8]> {
    let Some(encoding) = headers.get(CONTENT_ENCODING).and_then(|v| v.to_str().ok()) else {
        return Cow::Borrowed(body);
    };
    let decoded = match encoding.trim().to_ascii_lowercase().as_str() {
        "gzip" | "x-gzip" => read(flate2::read::MultiGzDecoder::new(body), cap),
        "deflate" => read(flate2::read::ZlibDecoder::new(body), cap)
            .or_else(|| read(flate2::read::DeflateDecoder::new(body), cap)),
        "br" => read(brotli_decompressor::Decompressor::new(body, 4096), cap),
        _ => None,
    };
    decoded.map_or(Cow::Borrowed(body), Cow::Owned)
}

/// Everything `reader` gives, or `None` when it fails or gives more than `cap` bytes.
fn read(reader: impl Read, cap: usize) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let limit = u64::try_from(cap).unwrap_or(u64::MAX).saturating_add(1);
    reader.take(limit).read_to_end(&mut out).ok()?;
    (out.len() <= cap).then_some(out)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn with(encoding: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_ENCODING, encoding.parse().unwrap());
        h
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn gzip_and_deflate_are_decoded_within_the_cap() {
        let body = br#"{"a":1}"#.repeat(100);
        let gz = gzip(&body);
        assert_eq!(&*decoded(&with("gzip"), &gz, 1 << 20), &body[..]);
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&body).unwrap();
        let z = z.finish().unwrap();
        assert_eq!(&*decoded(&with("deflate"), &z, 1 << 20), &body[..]);
        // Past the cap, or not what it says: as it came.
        assert_eq!(&*decoded(&with("gzip"), &gz, body.len() - 1), &gz[..]);
        assert_eq!(&*decoded(&with("gzip"), b"plain", 100), b"plain");
        assert_eq!(&*decoded(&with("zstd"), b"x", 100), b"x");
        assert_eq!(&*decoded(&HeaderMap::new(), b"x", 100), b"x");
    }

    #[test]
    fn a_decompression_bomb_stops_at_the_cap() {
        let bomb = gzip(&vec![0u8; 50 << 20]);
        assert!(bomb.len() < 100 << 10);
        let out = decoded(&with("gzip"), &bomb, 1 << 20);
        assert_eq!(out.len(), bomb.len(), "left as it came");
    }

    #[test]
    fn brotli_is_decoded() {
        let body = b"hello, hello, hello".repeat(20);
        let mut br = Vec::new();
        brotli::CompressorWriter::new(&mut br, 4096, 9, 22)
            .write_all(&body)
            .unwrap();
        assert_eq!(&*decoded(&with("br"), &br, 1 << 20), &body[..]);
    }
}
