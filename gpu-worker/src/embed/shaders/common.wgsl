// Shared declarations, prepended to every kernel of the all-MiniLM-L6-v2 forward pass.
//
// Layout conventions (row-major f32 everywhere):
//   tokens T = batch B * padded length L; token t belongs to sequence t / L at position t % L.
//   hidden states [T, 384]; fused QKV projections [T, 1152] (Q | K | V, head h at columns
//   h*32 .. h*32+32 inside each third); FFN intermediate [T, 1536].

struct Dims {
    // T = B * L, the number of (padded) token rows.
    tokens: u32,
    // B, the number of sequences in the batch.
    batch: u32,
    // L, the padded sequence length (longest sequence of the batch).
    seq: u32,
    _pad: u32,
}

// Hidden width of all-MiniLM-L6-v2 (config.json `hidden_size`).
const HIDDEN: u32 = 384u;
