//! One group of [`super::Packed`]: tensors of one size stacked row by row, with their EMA,
//! anchor, previous gradient and previous weights.
//!
//! Element for element this is [`crate::dema::DemaState`]'s arithmetic: the same differences,
//! roundings and products, each row's α as the f32 factor `mul_scalar` makes of it, and each L1
//! sum over one contiguous row, as the sum of the single tensor runs over its contiguous data.

use burn::prelude::*;
use burn::tensor::{FloatDType, TensorPrimitive};

use crate::dema::bf16::{EmaDtype, round_tensor};
use crate::dema::coefficient::DemaConfig;
use crate::dema::state::{Plan, choose, plan};
use crate::dema::stats::{AlphaSource, DemaStep};

/// Host state of one row (one tensor).
#[derive(Debug, Clone)]
struct Row {
    config: DemaConfig,
    has_ema: bool,
    has_prev_grad: bool,
}

/// Tensors of `numel` elements stacked row by row, with their EMA state.
#[derive(Debug, Clone)]
pub(crate) struct Group<B: Backend> {
    numel: usize,
    half: bool,
    dynamic: bool,
    rows: Vec<Row>,
    ema: Option<Tensor<B, 2>>,
    anchor: Option<Tensor<B, 2>>,
    prev_grad: Option<Tensor<B, 2>>,
    prev_theta: Option<Tensor<B, 2>>,
}

/// A step of a [`Group`] with its L1 sums still on the device (see [`Group::prepare`]).
#[derive(Debug)]
pub(crate) struct GroupStep<B: Backend> {
    theta: Tensor<B, 2>,
    grad: Tensor<B, 2>,
    has_grad: Vec<bool>,
    plans: Vec<Plan>,
    /// Column of each kind of sum in `norms` (`[rows, columns]`, row-major).
    columns: Columns,
    norms: Tensor<B, 1>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Columns {
    count: usize,
    first: Option<usize>,
    drift: Option<usize>,
    grad: Option<usize>,
    change: Option<usize>,
    step: Option<usize>,
}

/// A tensor of a float primitive.
fn float<B: Backend>(primitive: B::FloatTensorPrimitive) -> Tensor<B, 2> {
    Tensor::from_primitive(TensorPrimitive::Float(primitive))
}

/// `Σ |a − b|` (`Σ |a|` without `b`) of each row, `[rows, 1]`: one pass per row where the
/// backend has one (`FloatTensorOps::float_sum_abs_diff_dim`), with the composite's f32
/// operations; in bf16 the difference is rounded before its absolute value.
fn row_l1<B: Backend>(a: &Tensor<B, 2>, b: Option<&Tensor<B, 2>>, half: bool) -> Tensor<B, 2> {
    let a = a.clone();
    let sums = match (b.cloned(), half) {
        (None, _) => B::float_sum_abs_dim(a.into_primitive().tensor(), 1),
        (Some(b), false) => {
            let (a, b) = (a.into_primitive().tensor(), b.into_primitive().tensor());
            B::float_sum_abs_diff_dim(a, b, 1)
        }
        (Some(b), true) => B::float_sum_abs_dim(round_tensor(a - b).into_primitive().tensor(), 1),
    };
    float(sums)
}

impl<B: Backend> GroupStep<B> {
    /// The L1 sums to read back, row after row.
    pub(crate) fn norms(&self) -> &Tensor<B, 1> {
        &self.norms
    }
}

impl<B: Backend> Group<B> {
    /// A group without EMA yet; one config per row (the same variant and dtype for all).
    pub(crate) fn new(numel: usize, configs: Vec<DemaConfig>) -> Self {
        let half = configs[0].dtype == EmaDtype::Bf16;
        let dynamic = configs[0].is_dynamic();
        let rows = configs
            .into_iter()
            .map(|config| Row {
                config,
                has_ema: false,
                has_prev_grad: false,
            })
            .collect();
        Self {
            numel,
            half,
            dynamic,
            rows,
            ema: None,
            anchor: None,
            prev_grad: None,
            prev_theta: None,
        }
    }

    /// Number of rows.
    pub(crate) fn len(&self) -> usize {
        self.rows.len()
    }

    fn row_of(&self, tensor: Option<&Tensor<B, 2>>, row: usize) -> Option<Tensor<B, 1>> {
        let tensor = tensor.filter(|_| self.rows[row].has_ema)?;
        Some(tensor.clone().narrow(0, row, 1).reshape([self.numel]))
    }

    /// The EMA of one row, flattened.
    pub(crate) fn ema(&self, row: usize) -> Option<Tensor<B, 1>> {
        self.row_of(self.ema.as_ref(), row)
    }

    /// The anchor (weights after the row's first step) of one row, flattened.
    pub(crate) fn anchor(&self, row: usize) -> Option<Tensor<B, 1>> {
        self.row_of(self.anchor.as_ref(), row)
    }

    /// The rows `keep` (in that order) as a group of their own, state included.
    pub(crate) fn select(&self, keep: &[usize]) -> Self {
        let device = self
            .ema
            .as_ref()
            .or(self.prev_theta.as_ref())
            .map(|t| t.device());
        let pick = |t: &Option<Tensor<B, 2>>| {
            let (t, device) = (t.as_ref()?, device.as_ref()?);
            let ids: Vec<i64> = keep.iter().map(|&r| r as i64).collect();
            let ids = TensorData::new(ids, [keep.len()]);
            Some(
                t.clone()
                    .select(0, Tensor::<B, 1, Int>::from_data(ids, device)),
            )
        };
        Self {
            rows: keep.iter().map(|&r| self.rows[r].clone()).collect(),
            ema: pick(&self.ema),
            anchor: pick(&self.anchor),
            prev_grad: pick(&self.prev_grad),
            prev_theta: pick(&self.prev_theta),
            ..self.clone()
        }
    }

    /// Queues the step's L1 sums for the rows' weights and gradients (each flattened to
    /// `numel`; `None`: the tensor got no gradient).
    pub(crate) fn prepare(
        &self,
        thetas: Vec<Tensor<B, 1>>,
        grads: Vec<Option<Tensor<B, 1>>>,
    ) -> GroupStep<B> {
        let round = |t: Tensor<B, 2>| if self.half { round_tensor(t) } else { t };
        let l1 = |a: &Tensor<B, 2>, b: Option<&Tensor<B, 2>>| row_l1(a, b, self.half);
        let device = thetas[0].device();
        let theta = round(Tensor::stack::<2>(thetas, 0).cast(FloatDType::F32));
        let has_grad: Vec<bool> = grads.iter().map(Option::is_some).collect();
        let grad = Tensor::stack::<2>(
            grads
                .into_iter()
                .map(|g| g.unwrap_or_else(|| Tensor::zeros([self.numel], &device)))
                .collect(),
            0,
        );
        let grad = round(grad.cast(FloatDType::F32));
        let plans: Vec<Plan> = self
            .rows
            .iter()
            .zip(&has_grad)
            .map(|(row, &has_grad)| {
                let has_prev_grad = row.has_prev_grad && self.prev_grad.is_some();
                let has_prev_theta = self.prev_theta.is_some();
                plan(
                    &row.config,
                    row.has_ema,
                    has_grad,
                    has_prev_grad,
                    has_prev_theta,
                )
            })
            .collect();
        let mut columns = Columns::default();
        let mut parts = Vec::new();
        let mut push = |t: Tensor<B, 2>| {
            parts.push(t);
            columns.count += 1;
            Some(columns.count - 1)
        };
        if plans.contains(&Plan::First) {
            columns.first = push(l1(&theta, None));
        }
        if let Some(ema) = &self.ema {
            columns.drift = push(l1(&theta, Some(ema)));
        }
        if let (true, Some(prev)) = (plans.contains(&Plan::Dynamic), &self.prev_grad) {
            columns.grad = push(l1(&grad, None));
            columns.change = push(l1(&grad, Some(prev)));
            if let Some(prev) = &self.prev_theta {
                columns.step = push(l1(&theta, Some(prev)));
            }
        }
        let norms = Tensor::cat(parts, 1).reshape([self.rows.len() * columns.count]);
        GroupStep {
            theta,
            grad,
            has_grad,
            plans,
            columns,
            norms,
        }
    }

    /// Chooses each row's α from the values of [`GroupStep::norms`], updates the EMA and the
    /// previous gradient and weights, and returns the rows' steps in order.
    pub(crate) fn resolve(&mut self, pending: GroupStep<B>, values: &[f64]) -> Vec<DemaStep> {
        let GroupStep {
            theta,
            grad,
            has_grad,
            plans,
            columns,
            ..
        } = pending;
        let steps: Vec<DemaStep> = (0..self.rows.len())
            .map(|r| {
                let at = |c: Option<usize>| c.map(|c| values[r * columns.count + c]);
                let norms: Vec<f64> = match plans[r] {
                    Plan::First => at(columns.first).into_iter().collect(),
                    Plan::Dynamic => [columns.drift, columns.grad, columns.change, columns.step]
                        .into_iter()
                        .filter_map(at)
                        .collect(),
                    _ => at(columns.drift).into_iter().collect(),
                };
                choose(&self.rows[r].config, plans[r], &norms)
            })
            .collect();
        self.fold(&steps, theta.clone());
        if self.dynamic {
            self.prev_grad = Some(grad);
            self.prev_theta = Some(theta);
            for (row, has_grad) in self.rows.iter_mut().zip(has_grad) {
                row.has_prev_grad = has_grad;
            }
        }
        steps
    }

    /// `ema·(1 − α) + θ·α` row by row, as `DemaState` does it per tensor: each factor as the
    /// f32 `mul_scalar` uses; in bf16 each product and the sum rounded.
    fn mix(&self, ema: Tensor<B, 2>, theta: Tensor<B, 2>, alphas: &[f64]) -> Tensor<B, 2> {
        let device = theta.device();
        let column = |values: Vec<f32>| {
            Tensor::<B, 2>::from_data(TensorData::new(values, [alphas.len(), 1]), &device)
        };
        let keep = column(alphas.iter().map(|&a| (1.0 - a) as f32).collect());
        let take = column(alphas.iter().map(|&a| a as f32).collect());
        match self.half {
            true => round_tensor(round_tensor(ema * keep) + round_tensor(theta * take)),
            false => float(B::float_mix(
                ema.into_primitive().tensor(),
                keep.into_primitive().tensor(),
                theta.into_primitive().tensor(),
                take.into_primitive().tensor(),
            )),
        }
    }

    /// The new EMA (and, on a row's first step, its anchor).
    fn fold(&mut self, steps: &[DemaStep], theta: Tensor<B, 2>) {
        let alphas: Vec<f64> = steps.iter().map(|s| s.alpha).collect();
        let skipped = |r: usize| steps[r].source == AlphaSource::SkippedNonFinite;
        let all_had = self.rows.iter().all(|row| row.has_ema);
        let none_skipped = !(0..steps.len()).any(skipped);
        match self.ema.take() {
            // Every row's first step: the EMA starts as θ (in bf16 through the fallback mix,
            // as the official code's first step does).
            None if none_skipped => {
                self.anchor = Some(theta.clone());
                self.ema = Some(match self.half {
                    true => self.mix(theta.clone(), theta, &alphas),
                    false => theta,
                });
                self.rows.iter_mut().for_each(|row| row.has_ema = true);
            }
            Some(ema) if all_had && none_skipped => self.ema = Some(self.mix(ema, theta, &alphas)),
            ema => self.fold_rows(steps, theta, ema),
        }
    }

    /// [`Self::fold`] one row at a time, for groups where rows differ (a row without EMA yet,
    /// or a step skipped for non-finite weights).
    fn fold_rows(&mut self, steps: &[DemaStep], theta: Tensor<B, 2>, ema: Option<Tensor<B, 2>>) {
        let row = |t: &Tensor<B, 2>, r: usize| t.clone().narrow(0, r, 1);
        let (mut emas, mut anchors) = (Vec::new(), Vec::new());
        for (r, step) in steps.iter().enumerate() {
            let theta_r = row(&theta, r);
            let had = self.rows[r].has_ema;
            let old = ema.as_ref().filter(|_| had).map(|e| row(e, r));
            let anchor = self.anchor.as_ref().filter(|_| had).map(|a| row(a, r));
            let (ema_r, anchor_r) = match (step.source, old) {
                (AlphaSource::SkippedNonFinite, old) => (old, anchor),
                (_, Some(old)) => (Some(self.mix(old, theta_r, &[step.alpha])), anchor),
                (_, None) if self.half => {
                    let first = self.mix(theta_r.clone(), theta_r.clone(), &[step.alpha]);
                    (Some(first), Some(theta_r))
                }
                (_, None) => (Some(theta_r.clone()), Some(theta_r)),
            };
            self.rows[r].has_ema = ema_r.is_some();
            // A row without EMA keeps a placeholder (its weights); `has_ema` hides it.
            emas.push(ema_r.unwrap_or_else(|| row(&theta, r)));
            anchors.push(anchor_r.unwrap_or_else(|| row(&theta, r)));
        }
        self.ema = Some(Tensor::cat(emas, 0));
        self.anchor = Some(Tensor::cat(anchors, 0));
    }
}
