// In-place layer norm of each 384-wide row of `x` (the residual sum was already added by
// the preceding matmul's epilogue). One workgroup per token row.

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;  // [T, 384]
@group(0) @binding(2) var<storage, read> gamma: array<f32>;    // [384]
@group(0) @binding(3) var<storage, read> beta: array<f32>;     // [384]

@compute @workgroup_size(128)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let t = wg.x;
    // Uniform per workgroup, so the barriers below stay in uniform control flow.
    if (t >= dims.tokens) {
        return;
    }
    var v: array<f32, 3>;
    for (var i = 0u; i < PER_THREAD; i++) {
        v[i] = x[t * HIDDEN + lid + i * ROW_THREADS];
    }
    let n = layer_norm3(v, lid);
    for (var i = 0u; i < PER_THREAD; i++) {
        let c = lid + i * ROW_THREADS;
        x[t * HIDDEN + c] = n[i] * gamma[c] + beta[c];
    }
}
