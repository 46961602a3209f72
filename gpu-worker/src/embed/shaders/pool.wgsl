// Mean pooling over the attention mask followed by L2 normalisation
// (sentence-transformers all-MiniLM-L6-v2: Pooling with pooling_mode_mean_tokens, then
// Normalize = torch.nn.functional.normalize with eps 1e-12). One workgroup per sequence;
// the mask of sequence b is "position < lens[b]" because padding is always at the end.

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> x: array<f32>;       // [T, 384]
@group(0) @binding(2) var<storage, read> lens: array<u32>;    // [B]
@group(0) @binding(3) var<storage, read_write> out: array<f32>; // [B, 384]

@compute @workgroup_size(128)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let b = wg.x;
    let n = lens[b];
    let base = b * dims.seq;
    var s = array<f32, 3>(0.0, 0.0, 0.0);
    for (var t = 0u; t < n; t++) {
        for (var i = 0u; i < PER_THREAD; i++) {
            s[i] += x[(base + t) * HIDDEN + lid + i * ROW_THREADS];
        }
    }
    let inv_n = 1.0 / max(f32(n), 1e-9);
    for (var i = 0u; i < PER_THREAD; i++) {
        s[i] *= inv_n;
    }
    let norm = sqrt(wg_sum(s[0] * s[0] + s[1] * s[1] + s[2] * s[2], lid));
    let inv = 1.0 / max(norm, 1e-12);
    for (var i = 0u; i < PER_THREAD; i++) {
        out[b * HIDDEN + lid + i * ROW_THREADS] = s[i] * inv;
    }
}
