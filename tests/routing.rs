//! Instruction similarity and grouping against scikit-learn and the CoIN prompts.

use lcia::routing::tfidf;

fn asset(rel: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("assets")
        .join(rel)
}

#[test]
fn tfidf_similarity_equals_scikit_learn_to_1e9() {
    let golden: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(asset("golden/tfidf_pairs.json")).unwrap())
            .unwrap();
    let pairs = golden["pairs"].as_array().unwrap();
    assert!(pairs.len() >= 20);
    for p in pairs {
        let (a, b) = (p["a"].as_str().unwrap(), p["b"].as_str().unwrap());
        let got = tfidf::similarity(a, b);
        if p["error"].as_bool().unwrap() {
            assert_eq!(got, None, "{a:?} / {b:?}: scikit-learn raised");
            assert_eq!(tfidf::similarity_or_zero(a, b), 0.0);
        } else {
            let expected = p["similarity"].as_f64().unwrap();
            let got = got.unwrap_or_else(|| panic!("{a:?} / {b:?}: no vocabulary"));
            assert!(
                (got - expected).abs() < 1e-9,
                "{a:?} / {b:?}: {got} vs {expected}"
            );
        }
    }
}
