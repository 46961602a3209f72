// TEMPORARY experiment harness (to be deleted): times an attention WGSL kernel.
// usage: attn_lab FILE.wgsl B L ROWS_PER_WG
use std::future::Future;
use wgpu::util::DeviceExt;
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let src = std::fs::read_to_string(&a[1]).unwrap();
    let (b, l, rows): (usize, usize, u32) = (a[2].parse().unwrap(), a[3].parse().unwrap(), a[4].parse().unwrap());
    let inst = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let w = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(&w);
    let ad = { let mut f = std::pin::pin!(inst.request_adapter(&wgpu::RequestAdapterOptions::default())); loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { break v.unwrap(); } } };
    let (d, q) = { let mut f = std::pin::pin!(ad.request_device(&Default::default())); loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { break v.unwrap(); } } };
    let t = b * l;
    let qkv: Vec<f32> = (0..t * 1152).map(|i| ((i * 7919 % 1000) as f32 / 500.0) - 1.0).collect();
    let lens: Vec<u32> = (0..b).map(|i| (l - (i % 3) * (l / 4)) as u32).collect();
    let st = wgpu::BufferUsages::STORAGE;
    let mk = |data: &[u8], u| d.create_buffer_init(&wgpu::util::BufferInitDescriptor { label: None, contents: data, usage: u });
    let dims = mk(bytemuck::cast_slice(&[t as u32, b as u32, l as u32, 0]), wgpu::BufferUsages::UNIFORM);
    let qb = mk(bytemuck::cast_slice(&qkv), st);
    let lb = mk(bytemuck::cast_slice(&lens), st);
    let cb = mk(bytemuck::cast_slice(&vec![0f32; t * 384]), st);
    let module = d.create_shader_module(wgpu::ShaderModuleDescriptor { label: None, source: wgpu::ShaderSource::Wgsl(src.into()) });
    let p = d.create_compute_pipeline(&wgpu::ComputePipelineDescriptor { label: None, layout: None, module: &module, entry_point: Some("main"), compilation_options: Default::default(), cache: None });
    let bufs = [&dims, &qb, &lb, &cb];
    let entries: Vec<_> = bufs.iter().enumerate().map(|(i, b)| wgpu::BindGroupEntry { binding: i as u32, resource: b.as_entire_binding() }).collect();
    let bg = d.create_bind_group(&wgpu::BindGroupDescriptor { label: None, layout: &p.get_bind_group_layout(0), entries: &entries });
    let run = |iters: u32| {
        let mut e = d.create_command_encoder(&Default::default());
        { let mut pass = e.begin_compute_pass(&Default::default()); pass.set_pipeline(&p); pass.set_bind_group(0, &bg, &[]);
          for _ in 0..iters { pass.dispatch_workgroups((l as u32).div_ceil(rows), 12, b as u32); } }
        q.submit([e.finish()]);
        d.poll(wgpu::PollType::wait_indefinitely()).unwrap();
    };
    run(1);
    let s = std::time::Instant::now();
    run(3);
    println!("{}: B={b} L={l}: {:.1} ms per dispatch", a[1], s.elapsed().as_secs_f64() / 3.0 * 1e3);
}
