//! Adapter selection and device creation.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use super::{AdapterSummary, EmbedError};

/// Runs a future to completion on the current thread. wgpu's native futures
/// (adapter/device requests, error scopes) complete without an executor, so parking the
/// thread until woken is enough; this avoids a dependency on an async runtime here.
pub(crate) fn block_on<F: Future>(fut: F) -> F::Output {
    struct ThreadWaker(std::thread::Thread);
    impl Wake for ThreadWaker {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    loop {
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(v) => return v,
            Poll::Pending => std::thread::park(),
        }
    }
}

/// Preference order of adapter kinds: a discrete GPU first, then integrated, virtual, and
/// last a CPU implementation such as Mesa's lavapipe.
fn rank(t: wgpu::DeviceType) -> u8 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 4,
        wgpu::DeviceType::IntegratedGpu => 3,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Cpu => 1,
        wgpu::DeviceType::Other => 0,
    }
}

pub(crate) fn summary(info: &wgpu::AdapterInfo) -> AdapterSummary {
    AdapterSummary {
        name: info.name.clone(),
        backend: format!("{:?}", info.backend),
        device_type: format!("{:?}", info.device_type),
        driver: format!("{} {}", info.driver, info.driver_info)
            .trim()
            .to_string(),
    }
}

/// Enumerates adapters on every native backend (honouring `WGPU_BACKEND`), keeps those
/// that run compute shaders, whose name contains `name_filter` (case-insensitive, when
/// given) and, with `gpu_only`, that are not CPU implementations; picks the best by
/// [`rank`].
pub(crate) fn pick_adapter(
    name_filter: Option<&str>,
    gpu_only: bool,
) -> Result<(wgpu::Adapter, Vec<AdapterSummary>), EmbedError> {
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapters = block_on(instance.enumerate_adapters(wgpu::Backends::all()));
    let seen: Vec<AdapterSummary> = adapters.iter().map(|a| summary(&a.get_info())).collect();
    let filter = name_filter.map(|f| f.to_lowercase());
    let best = adapters
        .into_iter()
        .filter(|a| {
            a.get_downlevel_capabilities()
                .flags
                .contains(wgpu::DownlevelFlags::COMPUTE_SHADERS)
        })
        .filter(|a| {
            filter
                .as_ref()
                .is_none_or(|f| a.get_info().name.to_lowercase().contains(f))
        })
        .filter(|a| !gpu_only || a.get_info().device_type != wgpu::DeviceType::Cpu)
        .max_by_key(|a| rank(a.get_info().device_type));
    match best {
        Some(a) => Ok((a, seen)),
        None => Err(EmbedError::NoAdapter {
            detail: if seen.is_empty() {
                "wgpu found no adapter at all; install a GPU driver with Vulkan/Metal/DX12 support, or Mesa's \
                 lavapipe CPU implementation (Debian: apt-get install mesa-vulkan-drivers libvulkan1)"
                    .to_string()
            } else {
                format!(
                    "none of the adapters found is usable (compute shaders required{}{}): {}",
                    name_filter
                        .map(|f| format!(", name containing {f:?}"))
                        .unwrap_or_default(),
                    if gpu_only {
                        ", not a CPU implementation"
                    } else {
                        ""
                    },
                    seen.iter()
                        .map(|s| s.to_string())
                        .collect::<Vec<_>>()
                        .join("; ")
                )
            },
        }),
    }
}

/// Opens a device on `adapter` with WebGPU's default limits, raised to the adapter's
/// storage-buffer limits (the FFN activations of a large batch exceed 128 MiB).
pub(crate) fn open_device(
    adapter: &wgpu::Adapter,
) -> Result<(wgpu::Device, wgpu::Queue), EmbedError> {
    let supported = adapter.limits();
    let limits = wgpu::Limits {
        max_storage_buffer_binding_size: supported.max_storage_buffer_binding_size,
        max_buffer_size: supported.max_buffer_size,
        ..wgpu::Limits::default()
    };
    let desc = wgpu::DeviceDescriptor {
        label: Some("autonoma-embed"),
        required_features: wgpu::Features::empty(),
        required_limits: limits,
        memory_hints: wgpu::MemoryHints::Performance,
        ..Default::default()
    };
    let (device, queue) =
        block_on(adapter.request_device(&desc)).map_err(|e| EmbedError::Device(e.to_string()))?;
    device.on_uncaptured_error(Arc::new(
        |e: wgpu::Error| tracing::error!(error = %e, "uncaptured wgpu error"),
    ));
    Ok((device, queue))
}
