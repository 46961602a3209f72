// Tiled matrix multiply with fused epilogue:  out[M, N] = epi(A[M, K] · W[K, N] + bias[N])
// where epi is identity, exact GELU, or "+ residual[M, N]". M = dims.tokens (runtime);
// N, K and the epilogue are pipeline-override constants. W is the transpose of the
// PyTorch Linear weight ([out, in] → [in, out]), transposed once at load time.
//
// The classic shared-memory scheme (e.g. Volkov & Demmel 2008; CUTLASS): each workgroup
// computes one output tile, walking K in steps; every step stages a tile of A and a tile
// of W in workgroup memory, then each invocation accumulates a register block with vec4
// FMAs. Two variants, chosen per dispatch by the host:
//   main_64:  64×64 tile, K step 16, 16×16 invocations with 4×4 outputs each;
//   main_128: 128×128 tile, K step 8, 16×16 invocations with 8×8 outputs each — twice the
//             FMAs per workgroup-memory load; measured 1.8× faster on lavapipe, where every
//             such load is scalarised per lane.
// Requires N % 128 == 0 (main_128) or N % 64 == 0 (main_64), K % 16 == 0 (checked on the
// host); M is bounds-checked.

override N: u32;
override K: u32;
// 0: bias; 1: bias then GELU (erf form); 2: bias then + residual.
override EPILOGUE: u32;

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;        // [M, K/4]
@group(0) @binding(2) var<storage, read> w: array<vec4<f32>>;        // [K, N/4]
@group(0) @binding(3) var<storage, read> bias: array<vec4<f32>>;     // [N/4]
@group(0) @binding(4) var<storage, read> residual: array<vec4<f32>>; // [M, N/4] (EPILOGUE 2)
@group(0) @binding(5) var<storage, read_write> out: array<vec4<f32>>; // [M, N/4]

const TM: u32 = 64u;
const TN: u32 = 64u;
const TK: u32 = 16u;

// A tile, k-major: a_tile[k * 16 + r] holds rows 4r..4r+3 of column k.
var<workgroup> a_tile: array<vec4<f32>, 256>;
// W tile: w_tile[k * 16 + c] holds columns 4c..4c+3 of row k.
var<workgroup> w_tile: array<vec4<f32>, 256>;

// erf(x) by Abramowitz & Stegun 7.1.26 (|error| <= 1.5e-7), odd extension for x < 0.
fn erf_approx(x: f32) -> f32 {
    let ax = abs(x);
    let t = 1.0 / (1.0 + 0.3275911 * ax);
    let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
    let y = 1.0 - poly * exp(-ax * ax);
    return select(y, -y, x < 0.0);
}

// GELU, exact form x·Φ(x) = 0.5·x·(1 + erf(x/√2)) (Hendrycks & Gimpel 2016; BERT's
// hidden_act "gelu" in Hugging Face transformers).
fn gelu(x: vec4<f32>) -> vec4<f32> {
    let s = 0.7071067811865476;
    return 0.5 * x * (1.0 + vec4<f32>(erf_approx(x.x * s), erf_approx(x.y * s), erf_approx(x.z * s), erf_approx(x.w * s)));
}

// Bias, then the selected epilogue, for output row `row`, columns 4·col4 .. 4·col4+3.
fn epilogue(acc: vec4<f32>, row: u32, col4: u32) -> vec4<f32> {
    var v = acc + bias[col4];
    if (EPILOGUE == 1u) {
        v = gelu(v);
    } else if (EPILOGUE == 2u) {
        v = v + residual[row * (N / 4u) + col4];
    }
    return v;
}

@compute @workgroup_size(16, 16)
fn main_64(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_id) lid3: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let m_rows = dims.tokens;
    let tx = lid3.x; // column group: columns 4tx..4tx+3 of the tile
    let ty = lid3.y; // row group: rows 4ty..4ty+3 of the tile
    let n0 = wg.x * TN;
    let m0 = wg.y * TM;
    let k4 = K / 4u;
    let n4 = N / 4u;

    // Loader roles: A tile = 64 rows × 4 vec4 along K; W tile = 16 rows × 16 vec4 along N.
    let a_row = lid / 4u;
    let a_kq = lid % 4u;
    let w_k = lid / 16u;
    let w_c = lid % 16u;
    let a_global_row = m0 + a_row;

    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);

    for (var k0 = 0u; k0 < K; k0 += TK) {
        var av = vec4<f32>(0.0);
        if (a_global_row < m_rows) {
            av = a[a_global_row * k4 + k0 / 4u + a_kq];
        }
        // Scatter the 4 consecutive k values of row a_row into the k-major tile.
        let r4 = a_row / 4u;
        let rc = a_row % 4u;
        let kb = a_kq * 4u;
        a_tile[(kb + 0u) * 16u + r4][rc] = av.x;
        a_tile[(kb + 1u) * 16u + r4][rc] = av.y;
        a_tile[(kb + 2u) * 16u + r4][rc] = av.z;
        a_tile[(kb + 3u) * 16u + r4][rc] = av.w;
        w_tile[w_k * 16u + w_c] = w[(k0 + w_k) * n4 + n0 / 4u + w_c];
        workgroupBarrier();

        for (var k = 0u; k < TK; k++) {
            let ar = a_tile[k * 16u + ty];
            let wr = w_tile[k * 16u + tx];
            acc0 = fma(vec4<f32>(ar.x), wr, acc0);
            acc1 = fma(vec4<f32>(ar.y), wr, acc1);
            acc2 = fma(vec4<f32>(ar.z), wr, acc2);
            acc3 = fma(vec4<f32>(ar.w), wr, acc3);
        }
        workgroupBarrier();
    }

    let col4 = n0 / 4u + tx;
    var accs = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
    for (var i = 0u; i < 4u; i++) {
        let row = m0 + ty * 4u + i;
        if (row < m_rows) {
            out[row * n4 + col4] = epilogue(accs[i], row, col4);
        }
    }
}

// 128×128 variant. A tile row-major with vec4 along k: a_big[r * 2 + q] = A[m0 + r,
// k0 + 4q .. k0 + 4q + 3]; W tile: w_big[k * 32 + c] = W[k0 + k, n0 + 4c .. n0 + 4c + 3].
var<workgroup> a_big: array<vec4<f32>, 256>;
var<workgroup> w_big: array<vec4<f32>, 256>;

@compute @workgroup_size(16, 16)
fn main_128(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_id) lid3: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let m_rows = dims.tokens;
    let tx = lid3.x; // columns 8tx .. 8tx+7 of the tile
    let ty = lid3.y; // rows 8ty .. 8ty+7 of the tile
    let n0 = wg.x * 128u;
    let m0 = wg.y * 128u;
    let k4 = K / 4u;
    let n4 = N / 4u;
    // Loader roles: one vec4 of A (row lid/2, k quad lid%2) and one of W (k lid/32, quad lid%32).
    let a_row = m0 + lid / 2u;
    let a_q = lid % 2u;
    let w_k = lid / 32u;
    let w_c = n0 / 4u + lid % 32u;

    // acc[2i + j]: row 8ty + i, columns 8tx + 4j .. 8tx + 4j + 3.
    var acc: array<vec4<f32>, 16>;
    for (var i = 0u; i < 16u; i++) {
        acc[i] = vec4<f32>(0.0);
    }
    for (var k0 = 0u; k0 < K; k0 += 8u) {
        var av = vec4<f32>(0.0);
        if (a_row < m_rows) {
            av = a[a_row * k4 + k0 / 4u + a_q];
        }
        a_big[lid] = av;
        w_big[lid] = w[(k0 + w_k) * n4 + w_c];
        workgroupBarrier();
        for (var q = 0u; q < 2u; q++) {
            let wb = q * 128u + tx * 2u;
            let w00 = w_big[wb];
            let w01 = w_big[wb + 1u];
            let w10 = w_big[wb + 32u];
            let w11 = w_big[wb + 33u];
            let w20 = w_big[wb + 64u];
            let w21 = w_big[wb + 65u];
            let w30 = w_big[wb + 96u];
            let w31 = w_big[wb + 97u];
            for (var i = 0u; i < 8u; i++) {
                let x = a_big[(ty * 8u + i) * 2u + q];
                acc[2u * i] = fma(vec4(x.x), w00, fma(vec4(x.y), w10, fma(vec4(x.z), w20, fma(vec4(x.w), w30, acc[2u * i]))));
                acc[2u * i + 1u] = fma(vec4(x.x), w01, fma(vec4(x.y), w11, fma(vec4(x.z), w21, fma(vec4(x.w), w31, acc[2u * i + 1u]))));
            }
        }
        workgroupBarrier();
    }
    let col4 = n0 / 4u + tx * 2u;
    for (var i = 0u; i < 8u; i++) {
        let row = m0 + ty * 8u + i;
        if (row < m_rows) {
            out[row * n4 + col4] = epilogue(acc[2u * i], row, col4);
            out[row * n4 + col4 + 1u] = epilogue(acc[2u * i + 1u], row, col4 + 1u);
        }
    }
}
