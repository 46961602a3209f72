// Helpers of the row-wise kernels (embeddings, layer norm, pooling): one workgroup of 128
// invocations per 384-wide row, 3 columns per invocation (column c = lid + 128 i).

// Threads of the row-wise kernels (layer norm, embeddings, pooling): 3 columns each.
const ROW_THREADS: u32 = 128u;
const PER_THREAD: u32 = 3u;

var<workgroup> red: array<f32, 128>;

// Sum of `v` over the 128 invocations of the workgroup (tree reduction in shared memory).
// Must be called from uniform control flow by every invocation.
fn wg_sum(v: f32, lid: u32) -> f32 {
    red[lid] = v;
    workgroupBarrier();
    for (var s = 64u; s > 0u; s = s >> 1u) {
        if (lid < s) {
            red[lid] = red[lid] + red[lid + s];
        }
        workgroupBarrier();
    }
    let r = red[0];
    workgroupBarrier();
    return r;
}

// Layer norm of one 384-wide row held as 3 values per thread (Ba et al. 2016, "Layer
// Normalization"; BERT uses eps = 1e-12, config.json `layer_norm_eps`). Two-pass mean and
// variance for accuracy; biased variance, as torch.nn.LayerNorm.
fn layer_norm3(v: array<f32, 3>, lid: u32) -> array<f32, 3> {
    let mean = wg_sum(v[0] + v[1] + v[2], lid) / f32(HIDDEN);
    let d0 = v[0] - mean;
    let d1 = v[1] - mean;
    let d2 = v[2] - mean;
    let variance = wg_sum(d0 * d0 + d1 * d1 + d2 * d2, lid) / f32(HIDDEN);
    let inv = inverseSqrt(variance + 1e-12);
    return array<f32, 3>(d0 * inv, d1 * inv, d2 * inv);
}
