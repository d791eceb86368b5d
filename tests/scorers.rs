//! Golden cases of the CoIN scorers (METHOD.md 7.1), worked out by hand from the official rules.

use lcia::eval::scorers::{
    self,
    ScorerMode::{Fixed, Official},
};

fn ten(parts: &[(&str, usize)]) -> Vec<String> {
    parts
        .iter()
        .flat_map(|(a, n)| std::iter::repeat_n(a.to_string(), *n))
        .collect()
}

#[test]
fn science_qa_cases() {
    // (prediction, answer index, choices, official, fixed)
    let cases = [
        ("A", 0, 4, true, true),
        ("B", 0, 4, false, false),
        ("C. water", 2, 4, true, true),
        ("The answer is B.", 1, 4, true, true),
        ("I think it's B", 1, 4, false, false), // first one-letter word is "I"
        ("b", 1, 4, true, true),
        ("E", 4, 2, true, false), // a letter beyond the choices
        ("", 0, 4, false, false),
        ("A.B", 0, 4, true, true),
        ("Option C", 2, 3, true, true),
        ("none", 0, 4, false, false),
    ];
    for (pred, answer, n, official, fixed) in cases {
        assert_eq!(
            scorers::science_qa(pred, answer, n, Official),
            official,
            "{pred:?}"
        );
        assert_eq!(
            scorers::science_qa(pred, answer, n, Fixed),
            fixed,
            "{pred:?}"
        );
    }
}

#[test]
fn text_vqa_cases() {
    let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
    let cases: [(&str, Vec<String>, f64); 11] = [
        ("yes", ten(&[("yes", 10)]), 1.0),
        ("Yes.", ten(&[("yes", 10)]), 1.0),
        ("no", ten(&[("yes", 10)]), 0.0),
        ("red", ten(&[("red", 3), ("blue", 7)]), 0.9), // 3 x 2/3 + 7 x 1
        ("cat", ten(&[("cat", 1), ("dog", 9)]), 0.3),  // 1 x 0 + 9 x 1/3
        ("two", ten(&[("2", 10)]), 1.0),
        ("the coca-cola", ten(&[("coca cola", 10)]), 1.0),
        ("1,000", ten(&[("1000", 10)]), 1.0),
        ("dont know", ten(&[("don't know", 10)]), 1.0),
        ("", ten(&[("yes", 10)]), 0.0),
        ("dog", ten(&[("a dog", 2), ("dog", 8)]), 1.0),
    ];
    for (pred, answers, expected) in cases {
        let got = scorers::text_vqa(pred, &answers);
        assert!(close(got, expected), "{pred:?}: {got} vs {expected}");
    }
}

#[test]
fn imagenet_cases() {
    let cases = [
        ("golden retriever", "golden retriever", true, true),
        ("a golden retriever dog", "golden retriever", true, true),
        ("retriever", "golden retriever", true, true),
        ("Golden Retriever", "golden retriever", false, false),
        ("", "tabby cat", true, false), // the empty-prediction quirk
        ("cat", "tabby cat", true, true),
        ("dog", "tabby cat", false, false),
        ("  ", "x", false, false),
        ("tabby", "tabby cat", true, true),
        ("tabby cats", "tabby cat", true, true),
    ];
    for (pred, label, official, fixed) in cases {
        assert_eq!(
            scorers::imagenet(pred, label, Official),
            official,
            "{pred:?}"
        );
        assert_eq!(scorers::imagenet(pred, label, Fixed), fixed, "{pred:?}");
    }
}

#[test]
fn gqa_vizwiz_and_ocr_vqa_cases() {
    let gqa = [
        ("Yes.", "yes", true),
        ("yes", "yes", true),
        ("Yes", "no", false),
        ("Left.", "left", true),
        ("left side", "left", false),
        ("Red..", "red", true),
        ("", "", true),
        ("The cup", "cup", false),
        ("CUP", "cup", true),
        ("cup.", "Cup", false),
    ];
    for (pred, answer, expected) in gqa {
        assert_eq!(scorers::gqa(pred, answer), expected, "gqa {pred:?}");
    }
    let vizwiz = [
        ("unanswerable", "Unanswerable", true),
        ("Yes", "yes", true),
        ("yes.", "yes", false),
        ("red", "blue", false),
        ("", "", true),
        ("Coca Cola", "coca cola", true),
        ("coca-cola", "coca cola", false),
        ("Nike", "NIKE", true),
        (" yes", "yes", false),
        ("12", "12", true),
    ];
    for (pred, answer, expected) in vizwiz {
        assert_eq!(scorers::vizwiz(pred, answer), expected, "vizwiz {pred:?}");
    }
    let ocr = [
        ("Mark Twain", "mark twain", true, true),
        ("Unanswerable", "Unanswerable", false, true), // skipped by the official script
        ("unanswerable", "unanswerable", true, true),  // the skip is case-sensitive
        ("Yes", "No", false, false),
        ("Is Unanswerable", "x", false, false),
        ("Travel", "travel", true, true),
        ("", "", true, true),
        ("Mark  Twain", "mark twain", false, false),
        ("1984", "1984", true, true),
        ("The Hobbit", "Hobbit", false, false),
    ];
    for (pred, answer, official, fixed) in ocr {
        assert_eq!(
            scorers::ocr_vqa(pred, answer, Official),
            official,
            "ocr {pred:?}"
        );
        assert_eq!(scorers::ocr_vqa(pred, answer, Fixed), fixed, "ocr {pred:?}");
    }
}

#[test]
fn vqa_v2_cases() {
    let none: Vec<String> = Vec::new();
    let twos = ten(&[("2", 10)]);
    let mix = ten(&[("3", 3), ("2", 7)]);
    let dogs = ten(&[("dog", 10)]);
    let cases: [(&str, &str, &Vec<String>, f64, f64); 10] = [
        ("Yes", "yes", &none, 1.0, 1.0),
        ("2", "two", &none, 0.0, 0.0), // no normalisation in the exact match
        ("no", "yes", &none, 0.0, 0.0),
        ("two", "2", &twos, 0.0, 1.0),
        ("2", "2", &mix, 1.0, 1.0),
        ("3", "2", &mix, 0.0, 0.9),          // 3 x 2/3 + 7 x 1
        ("the dog", "dog", &none, 0.0, 0.0), // without the ten answers: exact match in both
        ("a dog", "dog", &dogs, 0.0, 1.0),
        ("Two.", "2", &twos, 0.0, 1.0),
        ("yes.", "yes", &none, 0.0, 0.0),
    ];
    for (pred, answer, all, official, fixed) in cases {
        assert_eq!(
            scorers::vqa_v2(pred, answer, all, Official),
            official,
            "{pred:?}"
        );
        let got = scorers::vqa_v2(pred, answer, all, Fixed);
        assert!((got - fixed).abs() < 1e-12, "{pred:?}: {got} vs {fixed}");
    }
}

#[test]
fn grounding_cases() {
    let r = [0.1, 0.2, 0.5, 0.6];
    let unit = [0.0, 0.0, 1.0, 1.0];
    let cases = [
        ("[0.1, 0.2, 0.5, 0.6]", r, false, true), // y2 "0.6" is cut to "0." = 0
        ("[0.10, 0.20, 0.50, 0.60]", r, true, true),
        ("[0.12, 0.22, 0.52, 0.69]", r, true, true), // IoU 0.862 (y2 cut to 0.6) / 0.709
        ("0.1, 0.2, 0.5, 0.6", r, false, true),
        ("[0.5, 0.6, 0.9, 0.95]", r, false, false),
        ("the box is [0.1,0.2,0.5,0.6]", r, false, false),
        ("[0.1, 0.2, 0.5]", r, false, false),
        ("[0.00, 0.00, 1.00, 1.00]", unit, true, true),
        ("[0.00, 0.00, 0.50, 1.00]", unit, false, false), // IoU exactly 0.5 is not > 0.5
        ("[0.20, 0.30, 0.60, 0.70]", r, false, false),    // IoU 0.391
        ("", r, false, false),
    ];
    for (pred, reference, official, fixed) in cases {
        assert_eq!(
            scorers::grounding(pred, reference, Official),
            official,
            "{pred:?}"
        );
        assert_eq!(
            scorers::grounding(pred, reference, Fixed),
            fixed,
            "{pred:?}"
        );
    }
    assert!((scorers::iou([0.0, 0.0, 2.0, 2.0], [1.0, 1.0, 3.0, 3.0]) - 1.0 / 7.0).abs() < 1e-12);
    assert_eq!(
        scorers::parse_box("[0.12, 0.22, 0.52, 0.78]", Official),
        Some([0.12, 0.22, 0.52, 0.7])
    );
}

#[test]
fn score_instance_reads_each_task_s_answer_fields() {
    use lcia::eval::{ScorerKind, score_instance};
    let record = |json: serde_json::Value| -> lcia::data::TestRecord {
        serde_json::from_value(json).unwrap()
    };
    let sqa = record(serde_json::json!({"question_id": 1, "text": "q", "answer": "C"}));
    assert_eq!(
        score_instance(ScorerKind::ScienceQA, Official, "C", &sqa),
        Ok(1.0)
    );
    let sqa_index = record(
        serde_json::json!({"question_id": 2, "text": "q", "answer": 1, "choices": ["a", "b"]}),
    );
    assert_eq!(
        score_instance(ScorerKind::ScienceQA, Fixed, "B", &sqa_index),
        Ok(1.0)
    );
    let textvqa = record(
        serde_json::json!({"question_id": 3, "text": "q", "answers": ["red", "red", "red", "blue"]}),
    );
    // leave-one-out over 4 answers: three subsets with 2 reds (2/3), one with 3 reds (1)
    let soft = score_instance(ScorerKind::TextVQA, Official, "red", &textvqa).unwrap();
    assert!((soft - 0.75).abs() < 1e-12, "{soft}");
    let grounding = record(
        serde_json::json!({"question_id": 4, "text": "q", "answer_bbox": "[0.1, 0.1, 0.5, 0.78]"}),
    );
    // Official drops the last digit of y2 (0.7 instead of 0.78): still IoU > 0.5
    assert_eq!(
        score_instance(
            ScorerKind::Grounding,
            Official,
            "[0.10, 0.10, 0.50, 0.78]",
            &grounding
        ),
        Ok(1.0)
    );
    assert_eq!(
        score_instance(
            ScorerKind::Grounding,
            Fixed,
            "[0.6, 0.6, 0.9, 0.9]",
            &grounding
        ),
        Ok(0.0)
    );
    let exact = record(serde_json::json!({"question_id": 5, "text": "q", "answer": "Red"}));
    assert_eq!(
        score_instance(ScorerKind::Exact, Official, " red.", &exact),
        Ok(1.0)
    );
    assert_eq!(
        score_instance(ScorerKind::GQA, Official, "1.", &sqa_index),
        Ok(1.0),
        "a numeric answer is compared as text"
    );
    let missing = record(serde_json::json!({"question_id": "q9", "text": "q"}));
    let err = score_instance(ScorerKind::VizWiz, Official, "x", &missing).unwrap_err();
    assert!(err.contains("q9") && err.contains("'answer'"), "{err}");
}
