//! The resident model and the per-batch forward pass: pipelines, weight buffers,
//! activation buffers, bind groups, and the command recording of one batch.

use wgpu::util::DeviceExt;

use super::weights::HostWeights;
use super::{EmbedError, MatmulTiling, HEADS, HIDDEN, INTERMEDIATE};

const COMMON: &str = include_str!("shaders/common.wgsl");
const ROWS: &str = include_str!("shaders/rows.wgsl");
const EMBEDDINGS: &str = include_str!("shaders/embeddings.wgsl");
const LAYERNORM: &str = include_str!("shaders/layernorm.wgsl");
const MATMUL: &str = include_str!("shaders/matmul.wgsl");
const ATTENTION: &str = include_str!("shaders/attention.wgsl");
const POOL: &str = include_str!("shaders/pool.wgsl");

/// Output tile edges of the two matmul variants (rows = columns per workgroup), see
/// matmul.wgsl.
const SMALL_TILE: u32 = 64;
const LARGE_TILE: u32 = 128;
/// Both variants' K steps divide this.
const MATMUL_TK: usize = 16;
/// With [`MatmulTiling::Auto`] on a GPU, the 128×128 variant is used once it yields at
/// least this many workgroups (about two per compute unit of a large GPU); below, the
/// 64×64 variant gives 4× more workgroups for the same work. A heuristic: not yet measured
/// on GPU hardware. CPU adapters always take 128×128 (measured 1.5–1.8× faster on
/// lavapipe at 128 and 4096 rows).
const LARGE_TILE_MIN_WORKGROUPS: u32 = 256;
/// Query rows per attention workgroup, see attention.wgsl.
const ATTN_ROWS: u32 = 128;

/// Epilogue selector of matmul.wgsl (`EPILOGUE` override).
#[derive(Clone, Copy)]
enum Epilogue {
    Bias = 0,
    BiasGelu = 1,
    BiasResidual = 2,
}

/// The two tile variants of a matmul specialised for one (N, K, epilogue); both share
/// one explicit bind-group layout, so the same bind group serves either.
struct Matmul {
    small: wgpu::ComputePipeline,
    large: wgpu::ComputePipeline,
    n: u32,
}

impl Matmul {
    /// Pipeline and workgroup grid for `rows` output rows under `tiling`.
    fn pick(
        &self,
        rows: u32,
        tiling: MatmulTiling,
        cpu: bool,
    ) -> (&wgpu::ComputePipeline, u32, u32) {
        let large_groups = (self.n / LARGE_TILE) * rows.div_ceil(LARGE_TILE);
        let large = match tiling {
            MatmulTiling::Tile64 => false,
            MatmulTiling::Tile128 => true,
            MatmulTiling::Auto => cpu || large_groups >= LARGE_TILE_MIN_WORKGROUPS,
        };
        if large {
            (&self.large, self.n / LARGE_TILE, rows.div_ceil(LARGE_TILE))
        } else {
            (&self.small, self.n / SMALL_TILE, rows.div_ceil(SMALL_TILE))
        }
    }
}

struct Pipelines {
    embeddings: wgpu::ComputePipeline,
    layernorm: wgpu::ComputePipeline,
    attention: wgpu::ComputePipeline,
    pool: wgpu::ComputePipeline,
    /// Explicit layout shared by every matmul pipeline.
    matmul_layout: wgpu::BindGroupLayout,
    /// [T,384]·[384,1152] + b
    qkv: Matmul,
    /// [T,384]·[384,384] + b + residual
    attn_out: Matmul,
    /// gelu([T,384]·[384,1536] + b)
    ffn_in: Matmul,
    /// [T,1536]·[1536,384] + b + residual
    ffn_out: Matmul,
}

fn module(device: &wgpu::Device, label: &str, parts: &[&str]) -> wgpu::ShaderModule {
    device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(label),
        source: wgpu::ShaderSource::Wgsl(parts.concat().into()),
    })
}

fn pipeline(
    device: &wgpu::Device,
    label: &str,
    layout: Option<&wgpu::PipelineLayout>,
    module: &wgpu::ShaderModule,
    entry_point: &str,
    constants: &[(&str, f64)],
) -> wgpu::ComputePipeline {
    device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(label),
        layout,
        module,
        entry_point: Some(entry_point),
        compilation_options: wgpu::PipelineCompilationOptions {
            constants,
            // Every kernel writes its workgroup memory before reading it.
            zero_initialize_workgroup_memory: false,
        },
        cache: None,
    })
}

impl Pipelines {
    fn new(device: &wgpu::Device) -> Self {
        let emb = module(device, "embeddings", &[COMMON, ROWS, EMBEDDINGS]);
        let ln = module(device, "layernorm", &[COMMON, ROWS, LAYERNORM]);
        let attn = module(device, "attention", &[COMMON, ATTENTION]);
        let pool = module(device, "pool", &[COMMON, ROWS, POOL]);
        let mm = module(device, "matmul", &[COMMON, MATMUL]);
        let entry = |binding: u32, ty: wgpu::BufferBindingType| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty,
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        };
        let read = wgpu::BufferBindingType::Storage { read_only: true };
        let matmul_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("matmul"),
            entries: &[
                entry(0, wgpu::BufferBindingType::Uniform),
                entry(1, read),
                entry(2, read),
                entry(3, read),
                entry(4, read),
                entry(5, wgpu::BufferBindingType::Storage { read_only: false }),
            ],
        });
        let mm_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("matmul"),
            bind_group_layouts: &[Some(&matmul_layout)],
            immediate_size: 0,
        });
        let matmul = |label: &str, n: usize, k: usize, epi: Epilogue| {
            assert!(
                n.is_multiple_of(LARGE_TILE as usize) && k.is_multiple_of(MATMUL_TK),
                "matmul shape {n}x{k} not tileable"
            );
            let constants = [
                ("N", n as f64),
                ("K", k as f64),
                ("EPILOGUE", epi as u32 as f64),
            ];
            Matmul {
                small: pipeline(device, label, Some(&mm_layout), &mm, "main_64", &constants),
                large: pipeline(device, label, Some(&mm_layout), &mm, "main_128", &constants),
                n: n as u32,
            }
        };
        Pipelines {
            embeddings: pipeline(device, "embeddings", None, &emb, "main", &[]),
            layernorm: pipeline(device, "layernorm", None, &ln, "main", &[]),
            attention: pipeline(device, "attention", None, &attn, "main", &[]),
            pool: pipeline(device, "pool", None, &pool, "main", &[]),
            qkv: matmul("matmul_qkv", 3 * HIDDEN, HIDDEN, Epilogue::Bias),
            attn_out: matmul("matmul_attn_out", HIDDEN, HIDDEN, Epilogue::BiasResidual),
            ffn_in: matmul("matmul_ffn_in", INTERMEDIATE, HIDDEN, Epilogue::BiasGelu),
            ffn_out: matmul(
                "matmul_ffn_out",
                HIDDEN,
                INTERMEDIATE,
                Epilogue::BiasResidual,
            ),
            matmul_layout,
        }
    }
}

/// Bind groups of one encoder layer, in dispatch order.
struct LayerGroups {
    qkv: wgpu::BindGroup,
    attn_out: wgpu::BindGroup,
    ln1: wgpu::BindGroup,
    ffn_in: wgpu::BindGroup,
    ffn_out: wgpu::BindGroup,
    ln2: wgpu::BindGroup,
}

/// Everything resident on the device: weights, activations sized for `max_tokens` rows
/// and `max_seqs` sequences, and the bind groups tying them to the pipelines (created once,
/// since no buffer is ever reallocated).
pub(crate) struct Engine {
    device: wgpu::Device,
    queue: wgpu::Queue,
    pipelines: Pipelines,
    /// Capacity in token rows (T = B·L) of the activation buffers.
    pub max_tokens: usize,
    /// Capacity in sequences (B) of the id/length and pooled-output buffers.
    pub max_seqs: usize,
    pub vocab: usize,
    /// Matmul tile choice ([`MatmulTiling`]).
    tiling: MatmulTiling,
    /// Whether the adapter is a CPU implementation (for [`MatmulTiling::Auto`]).
    cpu: bool,
    dims: wgpu::Buffer,
    ids: wgpu::Buffer,
    lens: wgpu::Buffer,
    pooled: wgpu::Buffer,
    readback: wgpu::Buffer,
    emb_group: wgpu::BindGroup,
    attn_group: wgpu::BindGroup,
    pool_group: wgpu::BindGroup,
    layers: Vec<LayerGroups>,
    /// Kept alive for the bind groups; also used by [`Engine::profile_matmul`].
    _weights: Vec<wgpu::Buffer>,
    _activations: Vec<wgpu::Buffer>,
}

fn storage(device: &wgpu::Device, label: &str, floats: usize) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: (floats.max(4) * 4) as u64,
        usage: wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_DST
            | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    })
}

fn upload(device: &wgpu::Device, label: &str, data: &[f32]) -> wgpu::Buffer {
    device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some(label),
        contents: bytemuck::cast_slice(data),
        usage: wgpu::BufferUsages::STORAGE,
    })
}

fn group_with(
    device: &wgpu::Device,
    layout: &wgpu::BindGroupLayout,
    buffers: &[&wgpu::Buffer],
) -> wgpu::BindGroup {
    let entries: Vec<wgpu::BindGroupEntry> = buffers
        .iter()
        .enumerate()
        .map(|(i, b)| wgpu::BindGroupEntry {
            binding: i as u32,
            resource: b.as_entire_binding(),
        })
        .collect();
    device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: None,
        layout,
        entries: &entries,
    })
}

fn group(
    device: &wgpu::Device,
    pipeline: &wgpu::ComputePipeline,
    buffers: &[&wgpu::Buffer],
) -> wgpu::BindGroup {
    group_with(device, &pipeline.get_bind_group_layout(0), buffers)
}

/// Uniform block shared by every kernel (`Dims` in common.wgsl).
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Dims {
    tokens: u32,
    batch: u32,
    seq: u32,
    _pad: u32,
}

impl Engine {
    /// Builds pipelines, uploads `w`, and allocates activations for `max_tokens` rows.
    /// Validation errors (e.g. a shader the driver rejects) are returned as
    /// [`EmbedError::Gpu`].
    pub fn new(
        device: wgpu::Device,
        queue: wgpu::Queue,
        w: &HostWeights,
        max_tokens: usize,
        max_seqs: usize,
        tiling: MatmulTiling,
        cpu: bool,
    ) -> Result<Self, EmbedError> {
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let oom = device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let pipelines = Pipelines::new(&device);
        let d = &device;

        let dims = d.create_buffer(&wgpu::BufferDescriptor {
            label: Some("dims"),
            size: std::mem::size_of::<Dims>() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let ids = storage(d, "ids", max_tokens);
        let lens = storage(d, "lens", max_seqs);
        let x = storage(d, "hidden", max_tokens * HIDDEN);
        let x1 = storage(d, "hidden_attn", max_tokens * HIDDEN);
        let qkv = storage(d, "qkv", max_tokens * 3 * HIDDEN);
        let ctx = storage(d, "context", max_tokens * HIDDEN);
        let inter = storage(d, "intermediate", max_tokens * INTERMEDIATE);
        let pooled = storage(d, "pooled", max_seqs * HIDDEN);
        // Bound in the residual slot of matmuls without a residual epilogue (read only when EPILOGUE is 2).
        let no_residual = storage(d, "no_residual", 4);
        let readback = d.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: (max_seqs * HIDDEN * 4) as u64,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });

        let word = upload(d, "word_embeddings", &w.word);
        let position = upload(d, "position_embeddings", &w.position);
        let token_type = upload(d, "token_type_embeddings", &w.token_type);
        let emb_g = upload(d, "emb_ln_g", &w.emb_ln_g);
        let emb_b = upload(d, "emb_ln_b", &w.emb_ln_b);
        let p = &pipelines;
        let emb_group = group(
            d,
            &p.embeddings,
            &[
                &dims,
                &ids,
                &word,
                &position,
                &token_type,
                &emb_g,
                &emb_b,
                &x,
            ],
        );
        let attn_group = group(d, &p.attention, &[&dims, &qkv, &lens, &ctx]);
        let pool_group = group(d, &p.pool, &[&dims, &x, &lens, &pooled]);
        let mut weights = vec![word, position, token_type, emb_g, emb_b];
        let mut layers = Vec::with_capacity(w.layers.len());
        for (i, l) in w.layers.iter().enumerate() {
            let up = |name: &str, data: &[f32]| upload(d, &format!("layer{i}.{name}"), data);
            let (w_qkv, b_qkv) = (up("w_qkv", &l.w_qkv), up("b_qkv", &l.b_qkv));
            let (w_o, b_o) = (up("w_o", &l.w_o), up("b_o", &l.b_o));
            let (ln1_g, ln1_b) = (up("ln1_g", &l.ln1_g), up("ln1_b", &l.ln1_b));
            let (w_i, b_i) = (up("w_i", &l.w_i), up("b_i", &l.b_i));
            let (w_out, b_out) = (up("w_out", &l.w_out), up("b_out", &l.b_out));
            let (ln2_g, ln2_b) = (up("ln2_g", &l.ln2_g), up("ln2_b", &l.ln2_b));
            layers.push(LayerGroups {
                qkv: group_with(
                    d,
                    &p.matmul_layout,
                    &[&dims, &x, &w_qkv, &b_qkv, &no_residual, &qkv],
                ),
                attn_out: group_with(d, &p.matmul_layout, &[&dims, &ctx, &w_o, &b_o, &x, &x1]),
                ln1: group(d, &p.layernorm, &[&dims, &x1, &ln1_g, &ln1_b]),
                ffn_in: group_with(
                    d,
                    &p.matmul_layout,
                    &[&dims, &x1, &w_i, &b_i, &no_residual, &inter],
                ),
                ffn_out: group_with(
                    d,
                    &p.matmul_layout,
                    &[&dims, &inter, &w_out, &b_out, &x1, &x],
                ),
                ln2: group(d, &p.layernorm, &[&dims, &x, &ln2_g, &ln2_b]),
            });
            weights.extend([
                w_qkv, b_qkv, w_o, b_o, ln1_g, ln1_b, w_i, b_i, w_out, b_out, ln2_g, ln2_b,
            ]);
        }
        let activations = vec![x, x1, qkv, ctx, inter, no_residual];
        let oom_error = block_on_scope(oom);
        let validation_error = block_on_scope(scope);
        if let Some(e) = oom_error.or(validation_error) {
            return Err(EmbedError::Gpu(format!(
                "creating pipelines and buffers: {e}"
            )));
        }
        Ok(Engine {
            device,
            queue,
            pipelines,
            max_tokens,
            max_seqs,
            vocab: w.vocab,
            tiling,
            cpu,
            dims,
            ids,
            lens,
            pooled,
            readback,
            emb_group,
            attn_group,
            pool_group,
            layers,
            _weights: weights,
            _activations: activations,
        })
    }

    /// Runs the whole model on one padded batch and returns the B pooled, L2-normalised
    /// embeddings (B = `seqs.len()`, each `HIDDEN` floats).
    ///
    /// `seqs` are token-id sequences (1..=256 ids each, ids < vocab), padded here to the
    /// longest; requires `seqs.len() <= max_seqs` and `seqs.len() * longest <= max_tokens`.
    /// All dispatches of all layers go into one command encoder and one submission.
    pub fn run_batch(&self, seqs: &[&[u32]]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let b = seqs.len();
        let l = seqs.iter().map(|s| s.len()).max().unwrap_or(0);
        assert!(
            b > 0 && l > 0 && b <= self.max_seqs && b * l <= self.max_tokens,
            "batch {b}x{l} exceeds the workspace"
        );
        let t = b * l;
        let mut ids = vec![0u32; t];
        let mut lens = Vec::with_capacity(b);
        for (i, s) in seqs.iter().enumerate() {
            ids[i * l..i * l + s.len()].copy_from_slice(s);
            lens.push(s.len() as u32);
        }
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let dims = Dims {
            tokens: t as u32,
            batch: b as u32,
            seq: l as u32,
            _pad: 0,
        };
        self.queue
            .write_buffer(&self.dims, 0, bytemuck::bytes_of(&dims));
        self.queue
            .write_buffer(&self.ids, 0, bytemuck::cast_slice(&ids));
        self.queue
            .write_buffer(&self.lens, 0, bytemuck::cast_slice(&lens));

        let mut enc = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("embed_batch"),
            });
        {
            let p = &self.pipelines;
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("minilm"),
                timestamp_writes: None,
            });
            let rows = t as u32;
            let (tiling, cpu) = (self.tiling, self.cpu);
            let matmul = |pass: &mut wgpu::ComputePass, m: &Matmul, g: &wgpu::BindGroup| {
                let (pipeline, gx, gy) = m.pick(rows, tiling, cpu);
                pass.set_pipeline(pipeline);
                pass.set_bind_group(0, g, &[]);
                pass.dispatch_workgroups(gx, gy, 1);
            };
            pass.set_pipeline(&p.embeddings);
            pass.set_bind_group(0, &self.emb_group, &[]);
            pass.dispatch_workgroups(rows, 1, 1);
            for g in &self.layers {
                matmul(&mut pass, &p.qkv, &g.qkv);
                pass.set_pipeline(&p.attention);
                pass.set_bind_group(0, &self.attn_group, &[]);
                pass.dispatch_workgroups((l as u32).div_ceil(ATTN_ROWS), HEADS as u32, b as u32);
                matmul(&mut pass, &p.attn_out, &g.attn_out);
                pass.set_pipeline(&p.layernorm);
                pass.set_bind_group(0, &g.ln1, &[]);
                pass.dispatch_workgroups(rows, 1, 1);
                matmul(&mut pass, &p.ffn_in, &g.ffn_in);
                matmul(&mut pass, &p.ffn_out, &g.ffn_out);
                pass.set_pipeline(&p.layernorm);
                pass.set_bind_group(0, &g.ln2, &[]);
                pass.dispatch_workgroups(rows, 1, 1);
            }
            pass.set_pipeline(&p.pool);
            pass.set_bind_group(0, &self.pool_group, &[]);
            pass.dispatch_workgroups(b as u32, 1, 1);
        }
        let bytes = (b * HIDDEN * 4) as u64;
        enc.copy_buffer_to_buffer(&self.pooled, 0, &self.readback, 0, bytes);
        self.queue.submit([enc.finish()]);
        if let Some(e) = block_on_scope(scope) {
            return Err(EmbedError::Gpu(format!("recording the forward pass: {e}")));
        }
        let flat = self.read_back(bytes)?;
        Ok(flat.chunks_exact(HIDDEN).map(|c| c.to_vec()).collect())
    }

    /// Maps the first `bytes` of the readback buffer after the queue drains.
    fn read_back(&self, bytes: u64) -> Result<Vec<f32>, EmbedError> {
        let slice = self.readback.slice(..bytes);
        let (tx, rx) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| EmbedError::Gpu(format!("waiting for the device: {e}")))?;
        rx.recv()
            .map_err(|_| EmbedError::Gpu("readback callback dropped".into()))?
            .map_err(|e| EmbedError::Gpu(format!("mapping the readback buffer: {e}")))?;
        let out = {
            let view = slice.get_mapped_range();
            let view =
                view.map_err(|e| EmbedError::Gpu(format!("reading the readback buffer: {e:?}")))?;
            bytemuck::pod_collect_to_vec::<u8, f32>(&view)
        };
        self.readback.unmap();
        Ok(out)
    }

    /// Times the FFN up-projection kernel alone ([rows, 384]·[384, 1536] + bias, GELU) with
    /// the given tile variant on the resident buffers of layer 0: `iterations` dispatches in one submission, measured
    /// by wall clock from submit to completion (so it includes submission overhead).
    /// Returns (seconds per dispatch, GFLOP/s counting 2·rows·384·1536 FLOP per dispatch).
    pub fn profile_matmul(
        &self,
        rows: usize,
        iterations: u32,
        tiling: MatmulTiling,
    ) -> Result<(f64, f64), EmbedError> {
        assert!(rows > 0 && rows <= self.max_tokens && iterations > 0);
        let dims = Dims {
            tokens: rows as u32,
            batch: 1,
            seq: rows as u32,
            _pad: 0,
        };
        self.queue
            .write_buffer(&self.dims, 0, bytemuck::bytes_of(&dims));
        let record = |n: u32| {
            let mut enc = self
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("profile_matmul"),
                });
            {
                let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: None,
                    timestamp_writes: None,
                });
                let (pipeline, gx, gy) = self.pipelines.ffn_in.pick(rows as u32, tiling, self.cpu);
                pass.set_pipeline(pipeline);
                pass.set_bind_group(0, &self.layers[0].ffn_in, &[]);
                for _ in 0..n {
                    pass.dispatch_workgroups(gx, gy, 1);
                }
            }
            enc.finish()
        };
        let wait = || {
            self.device
                .poll(wgpu::PollType::wait_indefinitely())
                .map(|_| ())
                .map_err(|e| EmbedError::Gpu(format!("waiting for the device: {e}")))
        };
        // Warm-up (pipeline compilation on first use, caches).
        self.queue.submit([record(1)]);
        wait()?;
        let cmd = record(iterations);
        let start = std::time::Instant::now();
        self.queue.submit([cmd]);
        wait()?;
        let secs = start.elapsed().as_secs_f64() / iterations as f64;
        let flops = 2.0 * rows as f64 * HIDDEN as f64 * INTERMEDIATE as f64;
        Ok((secs, flops / secs / 1e9))
    }
}

/// Pops an error scope, returning its error if any.
fn block_on_scope(scope: wgpu::ErrorScopeGuard) -> Option<wgpu::Error> {
    super::gpu::block_on(scope.pop())
}
