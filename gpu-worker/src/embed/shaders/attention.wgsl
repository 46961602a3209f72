// Masked multi-head self-attention (Vaswani et al. 2017, "Attention Is All You Need",
// eq. 1): ctx = softmax(Q Kᵀ / √d + mask) V per head, with d = 32 (384 / 12 heads).
// The padding mask is "key position < lens[b]" (padding sits at the end of each sequence);
// masked keys are skipped, which equals BERT's additive large-negative mask for any row
// with at least one valid key ([CLS] is always valid).
//
// Single pass with an online softmax (Milakov & Gimelshein 2018; FlashAttention, Dao et
// al. 2022): each invocation owns two query rows (qi and qi + 64 of a 128-row tile) and
// keeps, per row, a running max, a running sum and a 32-wide accumulator; the workgroup
// stages 64 keys and values at a time in workgroup memory, and every staged key/value is
// read once for both rows (half the workgroup-memory traffic of one row per invocation).
// Dispatch: (ceil(L / 128), 12 heads, B sequences).

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> qkv: array<vec4<f32>>;      // [T, 1152/4]
@group(0) @binding(2) var<storage, read> lens: array<u32>;           // [B]
@group(0) @binding(3) var<storage, read_write> ctx: array<vec4<f32>>; // [T, 384/4]

const HEAD_DIM4: u32 = 8u;      // 32 / 4
const QKV4: u32 = 288u;         // 1152 / 4
const HIDDEN4: u32 = 96u;       // 384 / 4
const KEYS: u32 = 64u;          // keys staged per step = workgroup size
const ROWS: u32 = 128u;         // query rows per workgroup

var<workgroup> k_tile: array<vec4<f32>, 512>; // [64 keys][8]
var<workgroup> v_tile: array<vec4<f32>, 512>;

// Running softmax state of one query row.
struct Row {
    q: array<vec4<f32>, 8>,
    acc: array<vec4<f32>, 8>,
    m: f32,
    l: f32,
}

fn load_row(row: u32, valid: bool, h: u32) -> Row {
    // 1/√32 folded into q (BERT: attention_scores / sqrt(attention_head_size)).
    let scale = 0.17677669529663687;
    var r: Row;
    for (var d = 0u; d < HEAD_DIM4; d++) {
        if (valid) {
            r.q[d] = qkv[row * QKV4 + h * HEAD_DIM4 + d] * scale;
        } else {
            r.q[d] = vec4<f32>(0.0);
        }
        r.acc[d] = vec4<f32>(0.0);
    }
    r.m = -3.0e38;
    r.l = 0.0;
    return r;
}

fn store_row(r: Row, row: u32, h: u32) {
    let inv = 1.0 / r.l;
    for (var d = 0u; d < HEAD_DIM4; d++) {
        ctx[row * HIDDEN4 + h * HEAD_DIM4 + d] = r.acc[d] * inv;
    }
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let h = wg.y;
    let b = wg.z;
    let seq = dims.seq;
    let n_keys = lens[b];
    let row0 = b * seq;
    let qa = wg.x * ROWS + lid;
    let qb = qa + KEYS;
    // Uniform: whether the second half of the tile holds any row at all.
    let second = wg.x * ROWS + KEYS < seq;
    var ra = load_row(row0 + qa, qa < seq, h);
    var rb = load_row(row0 + qb, qb < seq, h);

    for (var j0 = 0u; j0 < n_keys; j0 += KEYS) {
        // Stage keys j0..j0+63: each invocation loads one key's 8 vec4 of K and of V.
        let kj = j0 + lid;
        for (var d = 0u; d < HEAD_DIM4; d++) {
            var kv = vec4<f32>(0.0);
            var vv = vec4<f32>(0.0);
            if (kj < n_keys) {
                let base = (row0 + kj) * QKV4 + h * HEAD_DIM4 + d;
                kv = qkv[base + HIDDEN4];
                vv = qkv[base + 2u * HIDDEN4];
            }
            k_tile[lid * HEAD_DIM4 + d] = kv;
            v_tile[lid * HEAD_DIM4 + d] = vv;
        }
        workgroupBarrier();

        let count = min(KEYS, n_keys - j0);
        if (second) {
            for (var j = 0u; j < count; j++) {
                var sa = vec4<f32>(0.0);
                var sb = vec4<f32>(0.0);
                for (var d = 0u; d < HEAD_DIM4; d++) {
                    let k = k_tile[j * HEAD_DIM4 + d];
                    sa = fma(ra.q[d], k, sa);
                    sb = fma(rb.q[d], k, sb);
                }
                let s_a = sa.x + sa.y + sa.z + sa.w;
                let s_b = sb.x + sb.y + sb.z + sb.w;
                let ma = max(ra.m, s_a);
                let mb = max(rb.m, s_b);
                let ca = exp(ra.m - ma);
                let cb = exp(rb.m - mb);
                let pa = exp(s_a - ma);
                let pb = exp(s_b - mb);
                ra.l = ra.l * ca + pa;
                rb.l = rb.l * cb + pb;
                ra.m = ma;
                rb.m = mb;
                for (var d = 0u; d < HEAD_DIM4; d++) {
                    let v = v_tile[j * HEAD_DIM4 + d];
                    ra.acc[d] = fma(vec4<f32>(pa), v, ra.acc[d] * ca);
                    rb.acc[d] = fma(vec4<f32>(pb), v, rb.acc[d] * cb);
                }
            }
        } else {
            for (var j = 0u; j < count; j++) {
                var sa = vec4<f32>(0.0);
                for (var d = 0u; d < HEAD_DIM4; d++) {
                    sa = fma(ra.q[d], k_tile[j * HEAD_DIM4 + d], sa);
                }
                let s_a = sa.x + sa.y + sa.z + sa.w;
                let ma = max(ra.m, s_a);
                let ca = exp(ra.m - ma);
                let pa = exp(s_a - ma);
                ra.l = ra.l * ca + pa;
                ra.m = ma;
                for (var d = 0u; d < HEAD_DIM4; d++) {
                    ra.acc[d] = fma(vec4<f32>(pa), v_tile[j * HEAD_DIM4 + d], ra.acc[d] * ca);
                }
            }
        }
        workgroupBarrier();
    }

    if (qa < seq) {
        store_row(ra, row0 + qa, h);
    }
    if (qb < seq) {
        store_row(rb, row0 + qb, h);
    }
}
