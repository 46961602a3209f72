//! Writes the multi-page PDF fixture of the knowledge-base tests,
//! `tests/fixtures/greenhouse-guide.pdf`, with `lopdf` (the PDF library `pdf-extract`
//! reads with). Three pages, each on its own topic, set in the standard Helvetica font so
//! the file needs no embedded font. Regenerate with:
//!
//! ```text
//! cargo run -p autonoma --example pdf_fixture
//! ```

use lopdf::content::{Content, Operation};
use lopdf::{dictionary, Document, Object, Stream};

/// The pages: a title line, then paragraphs (one line each).
const PAGES: [&[&str]; 3] = [
    &[
        "Greenhouse Field Guide - Chapter 1: Watering",
        "Tomatoes are watered every morning at six with two litres per plant.",
        "Seedlings get a fine mist twice a day until their second leaves appear.",
        "Never water at noon: the drops burn the leaves in direct sun.",
        "The rain barrel by the north door supplies all watering cans.",
    ],
    &[
        "Greenhouse Field Guide - Chapter 2: Pest control",
        "Aphids are removed with a spray of soapy water on the underside of leaves.",
        "Ladybugs are released every Thursday to eat the remaining aphids.",
        "Slugs are collected by hand after dusk and moved to the compost heap.",
        "Sticky yellow cards catch whiteflies; replace them every two weeks.",
    ],
    &[
        "Greenhouse Field Guide - Chapter 3: Harvest",
        "Cucumbers are picked when they reach twenty centimetres in length.",
        "Basil is cut above a pair of leaves so the plant branches again.",
        "Ripe tomatoes come off with a gentle twist, never a pull.",
        "Everything harvested is weighed and written in the ledger by the sink.",
    ],
];

fn main() {
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font",
        "Subtype" => "Type1",
        "BaseFont" => "Helvetica",
        "Encoding" => "WinAnsiEncoding",
    });
    let resources_id = doc.add_object(dictionary! { "Font" => dictionary! { "F1" => font_id } });
    let mut kids = Vec::new();
    for lines in PAGES {
        let mut ops = vec![
            Operation::new("BT", vec![]),
            Operation::new("Tf", vec!["F1".into(), 16.into()]),
            Operation::new("TL", vec![24.into()]),
            Operation::new("Td", vec![56.into(), 760.into()]),
        ];
        for (i, line) in lines.iter().enumerate() {
            if i == 1 {
                ops.push(Operation::new("Tf", vec!["F1".into(), 11.into()]));
            }
            ops.push(Operation::new("Tj", vec![Object::string_literal(*line)]));
            ops.push(Operation::new("T*", vec![]));
        }
        ops.push(Operation::new("ET", vec![]));
        let content = Content { operations: ops };
        let content_id = doc.add_object(Stream::new(
            dictionary! {},
            content.encode().expect("content encodes"),
        ));
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "Contents" => content_id,
        });
        kids.push(page_id.into());
    }
    let count = kids.len() as i64;
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages",
            "Kids" => kids,
            "Count" => count,
            "Resources" => resources_id,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        }),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);
    doc.compress();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .join("tests/fixtures/greenhouse-guide.pdf");
    doc.save(&path).expect("write the fixture");
    println!("wrote {}", path.display());
}
