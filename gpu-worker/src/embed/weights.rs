//! Reading all-MiniLM-L6-v2 from `config.json` + `model.safetensors` into host memory, in
//! the layouts the WGSL kernels expect.

use std::path::Path;

use safetensors::{Dtype, SafeTensors};

use super::{EmbedError, HEADS, HIDDEN, INTERMEDIATE, MAX_POSITIONS};

/// One encoder layer, already rearranged for the kernels (all row-major f32).
pub(crate) struct HostLayer {
    /// Q, K and V projections side by side, transposed: [384, 1152].
    pub w_qkv: Vec<f32>,
    /// [1152]
    pub b_qkv: Vec<f32>,
    /// Attention output projection, transposed: [384, 384].
    pub w_o: Vec<f32>,
    pub b_o: Vec<f32>,
    pub ln1_g: Vec<f32>,
    pub ln1_b: Vec<f32>,
    /// FFN up-projection, transposed: [384, 1536].
    pub w_i: Vec<f32>,
    pub b_i: Vec<f32>,
    /// FFN down-projection, transposed: [1536, 384].
    pub w_out: Vec<f32>,
    pub b_out: Vec<f32>,
    pub ln2_g: Vec<f32>,
    pub ln2_b: Vec<f32>,
}

/// The whole model on the host.
pub(crate) struct HostWeights {
    /// [vocab, 384]
    pub word: Vec<f32>,
    /// [512, 384]
    pub position: Vec<f32>,
    /// [2, 384]
    pub token_type: Vec<f32>,
    pub emb_ln_g: Vec<f32>,
    pub emb_ln_b: Vec<f32>,
    pub layers: Vec<HostLayer>,
    pub vocab: usize,
}

fn model_err(path: &Path, message: impl Into<String>) -> EmbedError {
    EmbedError::Model {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Checks that `config.json` describes the architecture the kernels are written for and
/// returns the number of layers. The kernels hard-code hidden 384, 12 heads of 32,
/// intermediate 1536, exact GELU and layer-norm eps 1e-12 (all-MiniLM-L6-v2's config).
fn check_config(dir: &Path) -> Result<usize, EmbedError> {
    let path = dir.join("config.json");
    let text =
        std::fs::read_to_string(&path).map_err(|e| model_err(&path, format!("reading: {e}")))?;
    let cfg: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| model_err(&path, format!("parsing: {e}")))?;
    let num = |key: &str| cfg.get(key).and_then(|v| v.as_f64());
    let expect = |key: &str, want: f64| -> Result<(), EmbedError> {
        match num(key) {
            Some(v) if (v - want).abs() <= want.abs() * 1e-6 => Ok(()),
            other => Err(model_err(
                &path,
                format!("{key} is {other:?}, the WGSL kernels require {want}"),
            )),
        }
    };
    expect("hidden_size", HIDDEN as f64)?;
    expect("num_attention_heads", HEADS as f64)?;
    expect("intermediate_size", INTERMEDIATE as f64)?;
    expect("layer_norm_eps", 1e-12)?;
    if let Some(n) = num("max_position_embeddings") {
        if (n as usize) < MAX_POSITIONS {
            return Err(model_err(
                &path,
                format!("max_position_embeddings {n} < {MAX_POSITIONS}"),
            ));
        }
    }
    match cfg.get("hidden_act").and_then(|v| v.as_str()) {
        Some("gelu") => {}
        other => {
            return Err(model_err(
                &path,
                format!("hidden_act is {other:?}, the WGSL kernels implement \"gelu\" (erf form)"),
            ))
        }
    }
    let layers = num("num_hidden_layers")
        .ok_or_else(|| model_err(&path, "num_hidden_layers missing"))? as usize;
    if layers == 0 {
        return Err(model_err(&path, "num_hidden_layers is 0"));
    }
    Ok(layers)
}

struct Reader<'a> {
    st: SafeTensors<'a>,
    path: &'a Path,
}

impl Reader<'_> {
    /// Tensor `name` (or `bert.{name}`) as f32, checked against `shape`.
    fn get(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>, EmbedError> {
        let view = self
            .st
            .tensor(name)
            .or_else(|_| self.st.tensor(&format!("bert.{name}")))
            .map_err(|_| model_err(self.path, format!("tensor {name} missing")))?;
        if view.shape() != shape {
            return Err(model_err(
                self.path,
                format!(
                    "tensor {name} has shape {:?}, expected {shape:?}",
                    view.shape()
                ),
            ));
        }
        if view.dtype() != Dtype::F32 {
            return Err(model_err(
                self.path,
                format!(
                    "tensor {name} is {:?}; only F32 checkpoints are supported",
                    view.dtype()
                ),
            ));
        }
        let data = view.data();
        Ok(data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }

    /// A PyTorch `Linear` weight [out, in] returned transposed as [in, out].
    fn linear_t(&self, name: &str, out: usize, inp: usize) -> Result<Vec<f32>, EmbedError> {
        let w = self.get(name, &[out, inp])?;
        let mut t = vec![0f32; out * inp];
        for o in 0..out {
            for i in 0..inp {
                t[i * out + o] = w[o * inp + i];
            }
        }
        Ok(t)
    }
}

/// Loads and rearranges every tensor of the model in `dir`.
pub(crate) fn load(dir: &Path) -> Result<HostWeights, EmbedError> {
    let layers = check_config(dir)?;
    let path = dir.join("model.safetensors");
    let bytes = std::fs::read(&path).map_err(|e| model_err(&path, format!("reading: {e}")))?;
    let st =
        SafeTensors::deserialize(&bytes).map_err(|e| model_err(&path, format!("parsing: {e}")))?;
    let r = Reader { st, path: &path };
    let vocab = {
        let view = r
            .st
            .tensor("embeddings.word_embeddings.weight")
            .or_else(|_| r.st.tensor("bert.embeddings.word_embeddings.weight"))
            .map_err(|_| model_err(&path, "tensor embeddings.word_embeddings.weight missing"))?;
        view.shape().first().copied().unwrap_or(0)
    };
    let h = HIDDEN;
    let word = r.get("embeddings.word_embeddings.weight", &[vocab, h])?;
    let position_full = r.get_position()?;
    let position = position_full[..MAX_POSITIONS * h].to_vec();
    let token_type = r.get_token_type()?;
    let emb_ln_g = r.get("embeddings.LayerNorm.weight", &[h])?;
    let emb_ln_b = r.get("embeddings.LayerNorm.bias", &[h])?;
    let mut out_layers = Vec::with_capacity(layers);
    for l in 0..layers {
        let p = format!("encoder.layer.{l}");
        let q = r.linear_t(&format!("{p}.attention.self.query.weight"), h, h)?;
        let k = r.linear_t(&format!("{p}.attention.self.key.weight"), h, h)?;
        let v = r.linear_t(&format!("{p}.attention.self.value.weight"), h, h)?;
        let mut w_qkv = vec![0f32; h * 3 * h];
        for i in 0..h {
            w_qkv[i * 3 * h..i * 3 * h + h].copy_from_slice(&q[i * h..(i + 1) * h]);
            w_qkv[i * 3 * h + h..i * 3 * h + 2 * h].copy_from_slice(&k[i * h..(i + 1) * h]);
            w_qkv[i * 3 * h + 2 * h..(i + 1) * 3 * h].copy_from_slice(&v[i * h..(i + 1) * h]);
        }
        let mut b_qkv = r.get(&format!("{p}.attention.self.query.bias"), &[h])?;
        b_qkv.extend(r.get(&format!("{p}.attention.self.key.bias"), &[h])?);
        b_qkv.extend(r.get(&format!("{p}.attention.self.value.bias"), &[h])?);
        out_layers.push(HostLayer {
            w_qkv,
            b_qkv,
            w_o: r.linear_t(&format!("{p}.attention.output.dense.weight"), h, h)?,
            b_o: r.get(&format!("{p}.attention.output.dense.bias"), &[h])?,
            ln1_g: r.get(&format!("{p}.attention.output.LayerNorm.weight"), &[h])?,
            ln1_b: r.get(&format!("{p}.attention.output.LayerNorm.bias"), &[h])?,
            w_i: r.linear_t(&format!("{p}.intermediate.dense.weight"), INTERMEDIATE, h)?,
            b_i: r.get(&format!("{p}.intermediate.dense.bias"), &[INTERMEDIATE])?,
            w_out: r.linear_t(&format!("{p}.output.dense.weight"), h, INTERMEDIATE)?,
            b_out: r.get(&format!("{p}.output.dense.bias"), &[h])?,
            ln2_g: r.get(&format!("{p}.output.LayerNorm.weight"), &[h])?,
            ln2_b: r.get(&format!("{p}.output.LayerNorm.bias"), &[h])?,
        });
    }
    Ok(HostWeights {
        word,
        position,
        token_type,
        emb_ln_g,
        emb_ln_b,
        layers: out_layers,
        vocab,
    })
}

impl Reader<'_> {
    fn rows_of(&self, name: &str) -> Result<usize, EmbedError> {
        let view = self
            .st
            .tensor(name)
            .or_else(|_| self.st.tensor(&format!("bert.{name}")))
            .map_err(|_| model_err(self.path, format!("tensor {name} missing")))?;
        Ok(view.shape().first().copied().unwrap_or(0))
    }

    fn get_position(&self) -> Result<Vec<f32>, EmbedError> {
        let name = "embeddings.position_embeddings.weight";
        let rows = self.rows_of(name)?;
        if rows < MAX_POSITIONS {
            return Err(model_err(
                self.path,
                format!("{name} has {rows} rows, need {MAX_POSITIONS}"),
            ));
        }
        self.get(name, &[rows, HIDDEN])
    }

    fn get_token_type(&self) -> Result<Vec<f32>, EmbedError> {
        let name = "embeddings.token_type_embeddings.weight";
        let rows = self.rows_of(name)?;
        if rows == 0 {
            return Err(model_err(self.path, format!("{name} is empty")));
        }
        Ok(self.get(name, &[rows, HIDDEN])?[..HIDDEN].to_vec())
    }
}
