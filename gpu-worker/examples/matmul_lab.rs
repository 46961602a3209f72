// TEMPORARY experiment harness (to be deleted): times a matmul WGSL kernel from a file.
// usage: matmul_lab FILE.wgsl M N K WG_COLS WG_ROWS   (dispatch = (N/WG_COLS, ceil(M/WG_ROWS)))
use wgpu::util::DeviceExt;
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let src = std::fs::read_to_string(&a[1]).unwrap();
    let (m, n, k): (usize, usize, usize) = (a[2].parse().unwrap(), a[3].parse().unwrap(), a[4].parse().unwrap());
    let (wc, wr): (u32, u32) = (a[5].parse().unwrap(), a[6].parse().unwrap());
    let inst = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let ad = pollster_block(inst.request_adapter(&wgpu::RequestAdapterOptions::default())).unwrap();
    let mut lim = wgpu::Limits::default();
    lim.max_storage_buffer_binding_size = ad.limits().max_storage_buffer_binding_size;
    lim.max_buffer_size = ad.limits().max_buffer_size;
    let (d, q) = pollster_block(ad.request_device(&wgpu::DeviceDescriptor { required_limits: lim, ..Default::default() })).unwrap();
    let av: Vec<f32> = (0..m * k).map(|i| ((i * 7919 % 1000) as f32 / 1000.0) - 0.5).collect();
    let wv: Vec<f32> = (0..k * n).map(|i| ((i * 104729 % 1000) as f32 / 1000.0) - 0.5).collect();
    let bv: Vec<f32> = (0..n).map(|i| i as f32 * 0.001).collect();
    let mk = |data: &[f32], u| d.create_buffer_init(&wgpu::util::BufferInitDescriptor { label: None, contents: bytemuck::cast_slice(data), usage: u });
    let st = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC;
    let dims = mk(bytemuck::cast_slice(&[m as u32, 1, m as u32, 0]), wgpu::BufferUsages::UNIFORM);
    let ab = mk(&av, st);
    let wb = mk(&wv, if src.contains("var<uniform> w") { wgpu::BufferUsages::UNIFORM } else { st });
    println!("ubo limit device {} adapter {}", d.limits().max_uniform_buffer_binding_size, ad.limits().max_uniform_buffer_binding_size);
    let bb = mk(&bv, st);
    let rb = mk(&[0.0; 4], st);
    let ob = mk(&vec![0.0; m * n], st);
    let rd = d.create_buffer(&wgpu::BufferDescriptor { label: None, size: (m * n * 4) as u64, usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST, mapped_at_creation: false });
    let module = d.create_shader_module(wgpu::ShaderModuleDescriptor { label: None, source: wgpu::ShaderSource::Wgsl(src.into()) });
    let p = d.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: None, layout: None, module: &module, entry_point: Some("main"),
        compilation_options: wgpu::PipelineCompilationOptions { constants: &[("N", n as f64), ("K", k as f64), ("EPILOGUE", 0.0)], zero_initialize_workgroup_memory: false },
        cache: None,
    });
    let bufs = [&dims, &ab, &wb, &bb, &rb, &ob];
    let entries: Vec<_> = bufs.iter().enumerate().map(|(i, b)| wgpu::BindGroupEntry { binding: i as u32, resource: b.as_entire_binding() }).collect();
    let bg = d.create_bind_group(&wgpu::BindGroupDescriptor { label: None, layout: &p.get_bind_group_layout(0), entries: &entries });
    let run = |iters: u32| {
        let mut e = d.create_command_encoder(&Default::default());
        {
            let mut pass = e.begin_compute_pass(&Default::default());
            pass.set_pipeline(&p);
            pass.set_bind_group(0, &bg, &[]);
            for _ in 0..iters { pass.dispatch_workgroups(n as u32 / wc, (m as u32).div_ceil(wr), 1); }
        }
        q.submit([e.finish()]);
        d.poll(wgpu::PollType::wait_indefinitely()).unwrap();
    };
    run(1);
    let iters = 3;
    let t = std::time::Instant::now();
    run(iters);
    let s = t.elapsed().as_secs_f64() / iters as f64;
    let mut e = d.create_command_encoder(&Default::default());
    e.copy_buffer_to_buffer(&ob, 0, &rd, 0, (m * n * 4) as u64);
    q.submit([e.finish()]);
    rd.slice(..).map_async(wgpu::MapMode::Read, |_| {});
    d.poll(wgpu::PollType::wait_indefinitely()).unwrap();
    let out: Vec<f32> = bytemuck::pod_collect_to_vec(&rd.slice(..).get_mapped_range().unwrap());
    let mut maxerr = 0f32;
    for &(i, j) in &[(0usize, 0usize), (m - 1, n - 1), (m / 2, n / 3), (1, n - 1), (m - 1, 5)] {
        let mut acc = bv[j];
        for kk in 0..k { acc += av[i * k + kk] * wv[kk * n + j]; }
        maxerr = maxerr.max((acc - out[i * n + j]).abs());
    }
    println!("{}: {m}x{n}x{k}: {:.1} ms, {:.2} GFLOP/s, max err {maxerr:e}", a[1], s * 1e3, 2.0 * (m * n * k) as f64 / s / 1e9);
}
fn pollster_block<F: std::future::Future>(f: F) -> F::Output {
    let w = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(&w);
    let mut f = std::pin::pin!(f);
    loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; } }
}
