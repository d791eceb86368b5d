//! The synthetic benchmark: deterministic, and grouped as designed.

use lcia::experiments::demo::data::{SyntheticConfig, TASKS, generate};
use lcia::routing::codebook::unique_instructions;
use lcia::routing::{Decision, InstructionCodebook, Split, TAU_ORIGIN, TaskKind, TfIdf};

use crate::pipeline::temp_dir;

const SMALL: SyntheticConfig = SyntheticConfig {
    seed: 11,
    image_size: 32,
    captions: 6,
    train_per_task: 5,
    test_per_task: 3,
};

#[test]
fn same_seed_same_files_other_seed_other_images() {
    let (a, b, c) = (
        temp_dir("synth-a"),
        temp_dir("synth-b"),
        temp_dir("synth-c"),
    );
    let first = generate(&a, &SMALL).unwrap();
    generate(&b, &SMALL).unwrap();
    generate(&c, &SyntheticConfig { seed: 12, ..SMALL }).unwrap();
    assert_eq!(first.tasks.len(), 5);
    for rel in [
        "stage1/train.json",
        "shape/test.json",
        "images/count-train-4.png",
    ] {
        let read = |d: &std::path::Path| std::fs::read(d.join(rel)).unwrap();
        assert_eq!(read(&a), read(&b), "{rel}");
    }
    assert_ne!(
        std::fs::read(a.join("images/caption-0.png")).unwrap(),
        std::fs::read(c.join("images/caption-0.png")).unwrap()
    );
    let (records, report) =
        lcia::data::load_train_records(&first.tasks[3].1, Some(&first.image_root), true).unwrap();
    assert_eq!((records.len(), report.skipped.len()), (5, 0));
    let answers: Vec<&str> = records
        .iter()
        .map(|r| r.conversations[1].value.as_str())
        .collect();
    assert!(
        answers.iter().all(|a| ["1", "2", "3"].contains(a)),
        "{answers:?}"
    );
    for d in [a, b, c] {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
fn shared_instruction_retrains_and_the_others_expand() {
    let mut codebook = InstructionCodebook::new();
    let groups: Vec<Decision> = TASKS
        .iter()
        .map(|t| {
            let prompt = format!("<image>\n{}\n{}", t.question, t.instruction);
            let ins =
                unique_instructions([prompt.as_str()], TaskKind::Default, Split::Train).unwrap();
            codebook.assign(&TfIdf, &ins, TAU_ORIGIN)
        })
        .collect();
    let kinds: Vec<(bool, usize)> = groups
        .iter()
        .map(|d| (matches!(d, Decision::Retrain { .. }), d.group()))
        .collect();
    // colour: new 0; position: new 1; shape: retrain 0; count: new 2; size: retrain 0
    assert_eq!(
        kinds,
        [(false, 0), (false, 1), (true, 0), (false, 2), (true, 0)]
    );
}
