//! The accuracy matrix of a continual run and its metrics (METHOD.md §7.2).

use serde::{Deserialize, Serialize};

/// `A[j][i]`: accuracy (in %) on task `i` after training task `j`; only `i <= j` is measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AccuracyMatrix {
    /// Task names in training order.
    pub tasks: Vec<String>,
    /// One row per finished stage; row `j` holds `j + 1` accuracies.
    pub rows: Vec<Vec<f64>>,
}

/// The continual-learning summary of a matrix.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ContinualMetrics {
    /// Mean final accuracy over all tasks: `(1/T) Σ_i A[T-1][i]`.
    pub avg_acc: f64,
    /// Mean drop from the best earlier accuracy: `(1/(T-1)) Σ_{i<T-1} max_{i≤j<T-1} A[j][i] − A[T-1][i]`.
    pub forgetting: f64,
    /// Mean accuracy right after learning each task (plasticity): `(1/T) Σ_i A[i][i]`.
    pub new_acc: f64,
    /// Backward transfer: `(1/(T-1)) Σ_{i<T-1} A[T-1][i] − A[i][i]`.
    pub bwt: f64,
    /// Mean over stages of the stage's mean accuracy on the tasks seen so far.
    pub maa: f64,
}

impl AccuracyMatrix {
    /// An empty matrix for the task sequence.
    pub fn new(tasks: Vec<String>) -> Self {
        Self {
            tasks,
            rows: Vec::new(),
        }
    }

    /// Adds the row of the next stage; it must hold one accuracy per task seen so far.
    pub fn push_row(&mut self, row: Vec<f64>) -> Result<(), String> {
        let stage = self.rows.len();
        if row.len() != stage + 1 || stage >= self.tasks.len() {
            return Err(format!(
                "stage {stage} needs {} accuracies (tasks seen so far), got {}",
                stage + 1,
                row.len()
            ));
        }
        self.rows.push(row);
        Ok(())
    }

    /// The metrics over the finished stages (`None` before the first).
    ///
    /// ```
    /// use lcia::eval::matrix::AccuracyMatrix;
    /// let mut m = AccuracyMatrix::new(vec!["a".into(), "b".into(), "c".into()]);
    /// m.push_row(vec![80.0]).unwrap();
    /// m.push_row(vec![70.0, 60.0]).unwrap();
    /// m.push_row(vec![65.0, 50.0, 90.0]).unwrap();
    /// let k = m.metrics().unwrap();
    /// let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
    /// assert!(close(k.avg_acc, (65.0 + 50.0 + 90.0) / 3.0));           // 68.333
    /// assert!(close(k.forgetting, ((80.0 - 65.0) + (60.0 - 50.0)) / 2.0)); // 12.5
    /// assert!(close(k.new_acc, (80.0 + 60.0 + 90.0) / 3.0));            // 76.667
    /// assert!(close(k.bwt, ((65.0 - 80.0) + (50.0 - 60.0)) / 2.0));     // -12.5
    /// assert!(close(k.maa, (80.0 + 65.0 + 205.0 / 3.0) / 3.0));         // 71.111
    /// ```
    pub fn metrics(&self) -> Option<ContinualMetrics> {
        let t = self.rows.len();
        let last = self.rows.last()?;
        let mean = |v: &mut dyn Iterator<Item = f64>, n: usize| {
            if n == 0 {
                0.0
            } else {
                v.sum::<f64>() / n as f64
            }
        };
        let earlier = t - 1;
        let forgetting = mean(
            &mut (0..earlier).map(|i| {
                let best = (i..earlier)
                    .map(|j| self.rows[j][i])
                    .fold(f64::MIN, f64::max);
                best - last[i]
            }),
            earlier,
        );
        Some(ContinualMetrics {
            avg_acc: mean(&mut last.iter().copied(), t),
            forgetting,
            new_acc: mean(&mut (0..t).map(|i| self.rows[i][i]), t),
            bwt: mean(
                &mut (0..earlier).map(|i| last[i] - self.rows[i][i]),
                earlier,
            ),
            maa: mean(
                &mut self
                    .rows
                    .iter()
                    .map(|r| r.iter().sum::<f64>() / r.len() as f64),
                t,
            ),
        })
    }

    /// The matrix as CSV: a header of task names, one line per stage, empty cells above the
    /// diagonal.
    pub fn to_csv(&self) -> String {
        let mut out = format!("after,{}\n", self.tasks.join(","));
        for (j, row) in self.rows.iter().enumerate() {
            let cells: Vec<String> = (0..self.tasks.len())
                .map(|i| row.get(i).map_or(String::new(), |a| format!("{a:.2}")))
                .collect();
            out.push_str(&format!("{},{}\n", self.tasks[j], cells.join(",")));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_must_grow_by_one_and_one_stage_has_no_forgetting() {
        let mut m = AccuracyMatrix::new(vec!["a".into(), "b".into()]);
        assert!(m.metrics().is_none());
        assert!(m.push_row(vec![1.0, 2.0]).is_err());
        m.push_row(vec![50.0]).unwrap();
        let k = m.metrics().unwrap();
        assert_eq!(
            (k.avg_acc, k.forgetting, k.bwt, k.new_acc),
            (50.0, 0.0, 0.0, 50.0)
        );
        m.push_row(vec![40.0, 30.0]).unwrap();
        assert!(m.push_row(vec![1.0, 2.0, 3.0]).is_err());
        assert_eq!(m.to_csv(), "after,a,b\na,50.00,\nb,40.00,30.00\n");
    }
}
