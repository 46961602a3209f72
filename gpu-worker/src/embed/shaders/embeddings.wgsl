// BERT input embeddings (Devlin et al. 2018, section 3: token + segment + position
// embeddings) fused with the embedding layer norm. One workgroup per token row.
// Token type is always 0 (single-segment input, as sentence-transformers encodes).

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read> word: array<f32>;      // [30522, 384]
@group(0) @binding(3) var<storage, read> position: array<f32>;  // [512, 384]
@group(0) @binding(4) var<storage, read> token_type: array<f32>; // [2, 384], row 0 used
@group(0) @binding(5) var<storage, read> gamma: array<f32>;     // [384]
@group(0) @binding(6) var<storage, read> beta: array<f32>;      // [384]
@group(0) @binding(7) var<storage, read_write> out: array<f32>; // [T, 384]

@compute @workgroup_size(128)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let t = wg.x;
    let id = ids[t];
    let p = t % dims.seq;
    var v: array<f32, 3>;
    for (var i = 0u; i < PER_THREAD; i++) {
        let c = lid + i * ROW_THREADS;
        v[i] = word[id * HIDDEN + c] + position[p * HIDDEN + c] + token_type[c];
    }
    let n = layer_norm3(v, lid);
    for (var i = 0u; i < PER_THREAD; i++) {
        let c = lid + i * ROW_THREADS;
        out[t * HIDDEN + c] = n[i] * gamma[c] + beta[c];
    }
}
