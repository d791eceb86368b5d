//! One task's training: the step (forward, masked loss, backward, the two-rate AdamW update,
//! the balanced EMA) shared by the trainer and the benchmarks, gradients, the schedule, and
//! what each step reports.

pub mod grads;
pub mod parallel;
pub mod record;
pub mod schedule;
pub mod step;
pub mod sync;
pub mod trainer;

pub use parallel::{NodePlacement, describe_layout, train_replicas, train_task_parallel};
pub use record::{StepRecord, TrainReport, step_message};
pub use step::{LossTerm, MicroBatch, StepOutcome, StepPhases, StepRates, StepState, train_step};
pub use sync::{CollectivePeer, GradientSync};
pub use trainer::{TaskData, TrainConfig, train_task, train_task_with};
