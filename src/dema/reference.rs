//! The LLaVA-1.5-7B reference of the size-normalised coefficient (an extension, not LCIA;
//! DEMA-SCALE §3.3): each trainable tensor's element count N₇ and peak learning rate lr₇ in
//! LLaVA-1.5-7B with LoRA r 128 (hidden 4096, MLP 11008, CLIP-L features 1024, LoRA lr 2e-4,
//! projector lr 2e-5), and the factor `k = N·lr_peak / (N₇·lr₇)` that puts a smaller model's
//! coefficient at the 7B operating point.

/// LoRA rank of the reference run.
pub const REFERENCE_RANK: usize = 128;
/// Hidden size of LLaVA-1.5-7B's language model.
pub const REFERENCE_HIDDEN: usize = 4096;
/// MLP width of LLaVA-1.5-7B's language model.
pub const REFERENCE_MLP: usize = 11008;
/// Vision feature width entering the projector (CLIP ViT-L/14).
pub const REFERENCE_VISION: usize = 1024;
/// Peak learning rate of the adapters in the official scripts.
pub const REFERENCE_LR_LORA: f64 = 2e-4;
/// Peak learning rate of the projector in the official scripts.
pub const REFERENCE_LR_PROJECTOR: f64 = 2e-5;

/// Whether a parameter path belongs to the projector (`multi_modal_projector.…`).
pub fn is_projector(name: &str) -> bool {
    name.starts_with("multi_modal_projector")
}

/// `(N₇, lr₇)` of the tensor at module path `name` in the 7B reference. Tensors the reference
/// does not name (other adapters) take a q-projection LoRA factor (N₇ = 4096·128, lr₇ = 2e-4).
pub fn reference_of(name: &str) -> (f64, f64) {
    let (h, m, r, v) = (
        REFERENCE_HIDDEN,
        REFERENCE_MLP,
        REFERENCE_RANK,
        REFERENCE_VISION,
    );
    if is_projector(name) {
        let n = match (name.contains("linear_1"), name.ends_with("bias")) {
            (_, true) => h,
            (true, false) => v * h,
            (false, false) => h * h,
        };
        return (n as f64, REFERENCE_LR_PROJECTOR);
    }
    let a = name.ends_with("lora_a");
    let wide = (name.contains("gate_proj") || name.contains("up_proj")) && !a
        || name.contains("down_proj") && a;
    let n = if wide { m * r } else { h * r };
    (n as f64, REFERENCE_LR_LORA)
}

/// `k = N·lr_peak / (N₇·lr₇)` of a tensor with `numel` elements trained at peak rate `lr_peak`.
/// It is 1 for every tensor of the 7B reference run itself.
pub fn size_factor(name: &str, numel: usize, lr_peak: f64) -> f64 {
    let (n7, lr7) = reference_of(name);
    numel as f64 * lr_peak / (n7 * lr7)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_run_has_factor_one_on_every_tensor() {
        let lora = "language_model.model.layers.0";
        let cases = [
            (
                format!("{lora}.self_attn.q_proj.lora.lora_a"),
                128 * 4096,
                2e-4,
            ),
            (
                format!("{lora}.self_attn.v_proj.lora.lora_b"),
                4096 * 128,
                2e-4,
            ),
            (format!("{lora}.mlp.up_proj.lora.lora_b"), 11008 * 128, 2e-4),
            (
                format!("{lora}.mlp.gate_proj.lora.lora_a"),
                128 * 4096,
                2e-4,
            ),
            (
                format!("{lora}.mlp.down_proj.lora.lora_a"),
                128 * 11008,
                2e-4,
            ),
            (
                format!("{lora}.mlp.down_proj.lora.lora_b"),
                4096 * 128,
                2e-4,
            ),
            (
                "multi_modal_projector.linear_1.weight".into(),
                1024 * 4096,
                2e-5,
            ),
            (
                "multi_modal_projector.linear_2.weight".into(),
                4096 * 4096,
                2e-5,
            ),
            ("multi_modal_projector.linear_2.bias".into(), 4096, 2e-5),
        ];
        for (name, numel, lr) in cases {
            assert!(
                (size_factor(&name, numel, lr) - 1.0).abs() < 1e-12,
                "{name}"
            );
        }
        // The demo's r 8 q adapter (8·128 elements at 3e-3) is ≈ 0.03 of the 7B N·lr.
        let demo = size_factor(&format!("{lora}.self_attn.q_proj.lora.lora_a"), 1024, 3e-3);
        assert!((demo - 1024.0 * 3e-3 / (524_288.0 * 2e-4)).abs() < 1e-15);
    }
}
